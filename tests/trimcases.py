"""Small stand-in layers for the trim tests: real zips of real distributions (RECORD,
METADATA), shaped like the three goal cases — botocore's service models (data read one
service at a time), a package with a native extension that needs a vendored library
(``DT_NEEDED`` into ``<pkg>.libs/``, as auditwheel lays out pyarrow and numpy), and a web
framework of many sub-packages of which a handler imports a few."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import zipfile
from pathlib import Path

from elfsamples import compile_shared_object

from lambdalayer.interpreters import find_interpreter

SITE = "python/lib/python3.12/site-packages/"


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def distribution(name: str, files: dict[str, bytes]) -> dict[str, bytes]:
    """``files`` with the ``.dist-info`` of distribution ``name`` 1.0 listing them."""
    info = f"{name}-1.0.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n".encode()
    everything = {**files, f"{info}/METADATA": metadata}
    lines = [_record_line(path, data) for path, data in sorted(everything.items())]
    everything[f"{info}/RECORD"] = ("\n".join([*lines, f"{info}/RECORD,,"]) + "\n").encode()
    return everything


def write_layer(path: Path, files: dict[str, bytes], prefix: str = SITE) -> Path:
    """A layer zip of ``files`` below ``prefix``, with Unix modes."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(files.items()):
            info = zipfile.ZipInfo(prefix + name)
            info.external_attr = 0o644 << 16
            info.create_system = 3
            archive.writestr(info, data)
    return path


def models_distribution(services: int = 6, size: int = 60_000) -> dict[str, bytes]:
    """A botocore stand-in: a client module and one JSON model per service."""
    files = {
        "fakecore/__init__.py": b"import os\nDATA = os.path.join(os.path.dirname(__file__), 'data')\n",
        "fakecore/client.py": (
            b"import json, os\nfrom fakecore import DATA\n"
            b"def model(service):\n"
            b"    with open(os.path.join(DATA, service, 'service-2.json')) as stream:\n"
            b"        return json.load(stream)['name']\n"
        ),
        "fakecore/extra/__init__.py": b"",
        "fakecore/extra/waiters.py": b"WAIT = 'waited'\n" + b"# filler\n" * 2000,
    }
    for number in range(services):
        name = f"svc{number}"
        body = f'{{"name": "{name}", "shapes": "{"x" * size}"}}'.encode()
        files[f"fakecore/data/{name}/service-2.json"] = body
    return distribution("fakecore", files)


MODELS_HANDLER = """\
import fakecore.client

def handler(event, context):
    if event.get("wait"):
        from fakecore.extra import waiters
        return {"waited": waiters.WAIT}
    return {"service": fakecore.client.model(event["service"])}
"""


def native_distribution(place: Path) -> dict[str, bytes]:
    """A pyarrow stand-in: an extension module that needs ``libcore.so`` from ``natpkg.libs/``
    (``DT_NEEDED``, found through ``$ORIGIN``), one unused extension and unused data."""
    place.mkdir(parents=True, exist_ok=True)
    library = compile_shared_object("int core_value(void) { return 42; }\n", place / "libcore.so")
    source = place / "ext.c"
    source.write_text(
        "#include <Python.h>\nint core_value(void);\n"
        "static PyObject *value(PyObject *s, PyObject *a) { return PyLong_FromLong(core_value()); }\n"
        'static PyMethodDef m[] = {{"value", value, METH_NOARGS, 0}, {0}};\n'
        'static struct PyModuleDef d = {PyModuleDef_HEAD_INIT, "_ext", 0, -1, m};\n'
        "PyMODINIT_FUNC PyInit__ext(void) { return PyModule_Create(&d); }\n"
    )
    interpreter = find_interpreter("3.12")
    assert interpreter is not None
    include = subprocess.run(
        [str(interpreter.path), "-c", "import sysconfig; print(sysconfig.get_paths()['include'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    extension = place / "_ext.so"
    subprocess.run(
        [
            "gcc",
            "-shared",
            "-fPIC",
            "-O1",
            f"-I{include}",
            "-o",
            str(extension),
            str(source),
            f"-L{place}",
            "-lcore",
            "-Wl,-rpath,$ORIGIN/../natpkg.libs",
        ],
        check=True,
    )
    unused = compile_shared_object("int unused(void) { return 1; }\n", place / "unused.so")
    return distribution(
        "natpkg",
        {
            "natpkg/__init__.py": b"from natpkg._ext import value\n",
            "natpkg/_ext.cpython-312-x86_64-linux-gnu.so": extension.read_bytes(),
            "natpkg/_unused.cpython-312-x86_64-linux-gnu.so": unused,
            "natpkg.libs/libcore.so": library,
            "natpkg/io/__init__.py": b"",
            "natpkg/io/sql.py": b"SQL = 1\n" + b"# filler\n" * 4000,
            "natpkg/tests/test_big.py": b"# filler\n" * 8000,
        },
    )


NATIVE_HANDLER = """\
import json, os, natpkg

def handler(event, context):
    with open(os.path.join(os.environ["LAMBDA_TASK_ROOT"], "table.json")) as stream:
        rows = json.load(stream)
    return {"rows": len(rows), "value": natpkg.value()}
"""


def framework_distribution(routers: int = 12) -> dict[str, bytes]:
    """A FastAPI stand-in: many sub-packages; an app imports the core and one router."""
    files = {
        "webfw/__init__.py": b"from webfw.core import App\n",
        "webfw/core.py": b"class App:\n    def answer(self, path):\n        return {'path': path}\n",
    }
    for number in range(routers):
        files[f"webfw/router{number}/__init__.py"] = b"R = %d\n" % number + b"# filler\n" * 1500
    return distribution("webfw", files)


FRAMEWORK_HANDLER = """\
import webfw
import webfw.router0
APP = webfw.App()

def handler(event, context):
    if event.get("admin"):
        import webfw.router5
        return {"router": webfw.router5.R}
    return APP.answer(event["rawPath"])
"""


_COMPILE = """\
import importlib.util, json, py_compile, sys
for source, target in json.load(open(sys.argv[1])):
    py_compile.compile(source, target, dfile=source, doraise=True,
                       invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
print(sys.implementation.cache_tag)
"""


def with_bytecode(files: dict[str, bytes], place: Path, python: str) -> dict[str, bytes]:
    """``files`` with each ``.py`` compiled by ``python`` to its ``__pycache__`` beside it
    (PEP 552 unchecked-hash, as ``lambdalayer build`` compiles), sorted by name."""
    sources = place / "src"
    jobs = []
    for name, data in files.items():
        if name.endswith(".py"):
            path = sources / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            jobs.append((name, [str(path), str(place / "pyc" / name)]))
    (place / "jobs.json").write_text(json.dumps([job for _, job in jobs]))
    tag = subprocess.run(
        [python, "-I", "-c", _COMPILE, str(place / "jobs.json")],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    compiled = dict(files)
    for name, _ in jobs:
        directory, _, stem = name.rpartition("/")
        cached = f"{directory}/__pycache__/{stem[:-3]}.{tag}.pyc".lstrip("/")
        compiled[cached] = (place / "pyc" / name).read_bytes()
    return dict(sorted(compiled.items()))
