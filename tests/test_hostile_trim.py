"""Generated hostile cases of trim's new input surfaces (hypothesis, fixed seed).

The manifest (``lambdalayer.trim.toml``, written by a person or a tool, read by ``trim
--reviewed`` and ``build --trim``): any text is a :class:`Manifest` whose every keep line is
a safe relative path, or one :class:`InputError`; on the command line one ``error:`` line,
nothing written, before any sandbox starts. What the manifest writes reads back the same
(any event name, any safe path). strace's output (names are the function's own): any line
is understood or skipped, never an exception, and a path taken is absolute and normal. A
layer's RECORD (the layer's own bytes) naming paths outside it moves nothing outside.
"""

from __future__ import annotations

import posixpath
import sys

import pytest
from hostilecases import assert_promise, case_environment, generated, run_case, snapshot
from hypothesis import given
from hypothesis import strategies as st
from trimcases import distribution, framework_distribution, with_bytecode, write_layer

from lambdalayer.errors import InputError
from lambdalayer.placement import Placement, read_zip
from lambdalayer.targets import Layout
from lambdalayer.trace.strace import parse_line
from lambdalayer.trim.apply import ArtefactFile, describe_files, plan_trim, trimmed_placement
from lambdalayer.trim.manifest import (
    Kept,
    Level,
    Manifest,
    matcher,
    matches,
    parse_manifest,
    render_manifest,
)
from lambdalayer.zipnames import unsafe_reason

pytestmark = pytest.mark.hostile

NASTY = st.sampled_from(
    [
        "../x",
        "/etc/passwd",
        "a/../../b",
        "a\x00b",
        "a\\b",
        "",
        "C:/x",
        "a//b",
        "\x1b[2J",
        "x" * 5000,
    ]
)
PATHS = st.one_of(NASTY, st.text(min_size=0, max_size=40))
TEXT_VALUES = st.one_of(
    PATHS.map(lambda text: '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'),
    st.sampled_from(["1", "[]", "{}", "true", "'data'", "'modules'", "[1, 2]", "{keep = 1}"]),
)


@st.composite
def manifest_texts(draw: st.DrawFn) -> str:
    formats = st.sampled_from(["1", "2", '"1"', "[]"])
    levels = st.sampled_from(['"data"', '"modules"', '"bytecode-only"', '"all"', "3"])
    events = st.sampled_from(["[]", '["init"]', "[1]", '"x"'])
    lines = [
        "format = " + draw(formats),
        "level = " + draw(levels),
        "events = " + draw(events),
    ]
    for number in range(draw(st.integers(0, 3))):
        lines.append(f'[distribution."d{number}"]')
        values = draw(st.lists(TEXT_VALUES, max_size=4))
        lines.append(
            f"keep = [{', '.join(values)}]"
            if draw(st.booleans())
            else f"keep = {values[0] if values else '1'}"
        )
        if draw(st.booleans()):
            lines.append(f"other = {draw(TEXT_VALUES)}")
    text = "\n".join(lines) + "\n"
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + draw(st.text(max_size=10)) + text[cut:]
    return text


@generated(200)
@given(text=manifest_texts())
def test_any_manifest_text_is_a_safe_manifest_or_one_input_error(text: str) -> None:
    try:
        manifest = parse_manifest(text)
    except InputError as error:
        assert "\n" not in error.message
        return
    for pattern in manifest.patterns():
        assert unsafe_reason(pattern.replace("*", "x").replace("?", "x")) is None


SAFE_PATHS = st.lists(
    st.text(
        st.characters(categories=["L", "N"], include_characters="_-."), min_size=1, max_size=12
    ).filter(lambda part: part not in {".", ".."}),
    min_size=1,
    max_size=4,
).map("/".join)


@generated(150)
@given(
    patterns=st.lists(SAFE_PATHS, min_size=1, max_size=5),
    events=st.lists(st.text(max_size=30), min_size=1, max_size=4),
    level=st.sampled_from(list(Level)),
)
def test_what_the_manifest_writes_reads_back_the_same(patterns, events, level) -> None:  # type: ignore[no-untyped-def]
    kept = tuple(
        Kept(pattern, events[number % len(events)]) for number, pattern in enumerate(patterns)
    )
    manifest = Manifest(level, tuple(events), (('dist\n"x"', kept),))
    again = parse_manifest(render_manifest(manifest))
    assert again.patterns() == manifest.patterns()
    assert again.events == manifest.events and again.level is level
    assert render_manifest(again) == render_manifest(
        Manifest(level, tuple(events), (('dist\n"x"', tuple(Kept(p) for p in patterns)),))
    )


REAL_LINE = '26605 1796625907.345177 openat(AT_FDCWD</var/task>, "app.py", O_RDONLY|O_CLOEXEC) = 3</var/task/app.py>'


@generated(300)
@given(
    line=st.one_of(
        st.text(max_size=200),
        st.tuples(st.integers(0, len(REAL_LINE)), st.text(max_size=20)).map(
            lambda cut: REAL_LINE[: cut[0]] + cut[1] + REAL_LINE[cut[0] :]
        ),
        st.text(max_size=60).map(lambda name: f'1 2.5 openat(AT_FDCWD</>, "x", 0) = 3<{name}>'),
    )
)
def test_any_strace_line_is_understood_or_skipped(line: str) -> None:
    found = parse_line(line)
    if found is not None:
        assert found.path.startswith("/") and "\x00" not in found.path
        assert posixpath.normpath(found.path) == found.path


@generated(40)
@given(recorded=st.lists(PATHS, max_size=6))
def test_a_record_naming_paths_outside_keeps_them_outside(tmp_path_factory, recorded) -> None:  # type: ignore[no-untyped-def]
    place = tmp_path_factory.mktemp("record")
    files = distribution("evil", {"evil/__init__.py": b""})
    info = "evil-1.0.dist-info/RECORD"
    files[info] = (
        files[info] + "".join(f'"{path}",,\n' for path in recorded if '"' not in path).encode()
    )
    layer = write_layer(place / "layer.zip", files)
    described = describe_files(read_zip(layer, Layout.SITE_PACKAGES))
    plan = plan_trim(described, Manifest(Level.MODULES, (), ()))
    assert {item.file.arcname for item in (*plan.kept, *plan.trimmed)} == {
        f"python/lib/python3.12/site-packages/{name}" for name in files
    }


_COMPILED: list[tuple[ArtefactFile, ...]] = []
TAG = sys.implementation.cache_tag
BYTECODE_LINES = st.sampled_from(
    [
        f"webfw/__pycache__/core.{TAG}.pyc",
        f"webfw/__pycache__/__init__.{TAG}.pyc",
        f"webfw/router0/__pycache__/__init__.{TAG}.pyc",
        f"webfw/router1/__pycache__/__init__.{TAG}.pyc",
        "webfw/__pycache__/core.cpython-99.pyc",
        "webfw/__pycache__/gone.cpython-312.pyc",
        "webfw/core.py",
        "webfw/router1/__init__.py",
        "webfw/router0/**",
        "webfw/*.py",
        "webfw/__pycache__/**",
        "app/__pycache__/own.cpython-312.pyc",
        "__pycache__/x.cpython-312.pyc",
    ]
)


@generated(60)
@given(lines=st.lists(st.one_of(BYTECODE_LINES, SAFE_PATHS), max_size=8))
def test_bytecode_only_moves_each_pyc_once_and_loses_no_file_silently(
    tmp_path_factory, lines
) -> None:  # type: ignore[no-untyped-def]
    if not _COMPILED:
        place = tmp_path_factory.mktemp("compiled")
        files = with_bytecode(framework_distribution(routers=2), place, sys.executable)
        files["webfw/router1/__init__.pyc"] = b"a sourceless pyc already there"
        files[f"app/__pycache__/own.{TAG}.pyc"] = b"the function's own, of no distribution"
        files["app/own.py"] = b""
        layer = write_layer(place / "layer.zip", files)
        _COMPILED.append(describe_files(read_zip(layer, Layout.SITE_PACKAGES)))
    described = _COMPILED[0]
    manifest = Manifest(Level.BYTECODE_ONLY, (), (("webfw", tuple(Kept(line) for line in lines)),))
    plan = plan_trim(described, manifest, cache_tag=TAG)
    every = [item.file.arcname for item in (*plan.kept, *plan.trimmed, *plan.without_source)]
    assert sorted(every) == sorted(item.file.arcname for item in described)
    moved = dict(plan.moved)
    kept = {item.file.arcname for item in plan.kept}
    assert set(moved) <= kept
    for old, new in moved.items():  # the named bytecode, to its source's place, that is gone
        assert "/__pycache__/" in old and new.endswith(".pyc") and new not in kept
        assert new[:-1] in {item.file.arcname for item in plan.without_source}
        assert not new.startswith("python/lib/python3.12/site-packages/app/")
    placement = Placement.of(Layout.SITE_PACKAGES, tuple(item.file for item in described), {})
    names = [file.arcname for file in trimmed_placement(placement, plan, manifest).files]
    assert len(names) == len(set(names))


_FOREIGN: list[tuple[ArtefactFile, ...]] = []
FOREIGN_LINES = st.sampled_from(
    [
        f"webfw/__pycache__/core.{TAG}.pyc",
        "webfw/__pycache__/core.cpython-99.pyc",  # another Python's bytecode, shipped
        f"webfw/__pycache__/__init__.{TAG}.opt-2.pyc",  # no docstrings, no asserts
        f"webfw/__pycache__/__init__.{TAG}.pyc",
        f"webfw/router0/__pycache__/__init__.{TAG}.pyc",
        "webfw/router0/__init__.pyc/notes.txt",  # a directory where the .pyc would move
        "webfw/router0/__init__.pyc/**",
    ]
)


@generated(40)
@given(lines=st.lists(FOREIGN_LINES, min_size=1, max_size=5))
def test_bytecode_only_moves_only_the_targets_plain_pyc_and_never_onto_a_directory(
    tmp_path_factory, lines
) -> None:  # type: ignore[no-untyped-def]
    """A layer whose wheels shipped bytecode of another Python or optimised bytecode, or a
    directory named as a moved .pyc would be: only ``<stem>.<target's tag>.pyc`` moves (the
    sourceless loader imports any x.pyc: another Python's is an ImportError, an opt-2 one a
    module without its docstrings and asserts), and never onto a path a kept file is under."""
    if not _FOREIGN:
        place = tmp_path_factory.mktemp("foreign")
        files = with_bytecode(framework_distribution(routers=1), place, sys.executable)
        init = files[f"webfw/__pycache__/__init__.{TAG}.pyc"]
        extra = {
            "webfw/__pycache__/core.cpython-99.pyc": b"bytecode of another Python",
            f"webfw/__pycache__/__init__.{TAG}.opt-2.pyc": init,
            "webfw/router0/__init__.pyc/notes.txt": b"data in a directory named like a .pyc",
        }
        files = distribution("webfw", {
            name: data for name, data in {**files, **extra}.items() if ".dist-info/" not in name
        })  # fmt: skip
        layer = write_layer(place / "layer.zip", files)
        _FOREIGN.append(describe_files(read_zip(layer, Layout.SITE_PACKAGES)))
    described = _FOREIGN[0]
    manifest = Manifest(Level.BYTECODE_ONLY, (), (("webfw", tuple(Kept(line) for line in lines)),))
    plan = plan_trim(described, manifest, cache_tag=TAG)
    for old, _ in plan.moved:
        assert old.endswith(f".{TAG}.pyc") and ".opt-" not in old
    placement = Placement.of(Layout.SITE_PACKAGES, tuple(item.file for item in described), {})
    names = [file.arcname for file in trimmed_placement(placement, plan, manifest).files]
    files_named = set(names)
    for name in names:  # no file is also a directory of another (unzip refuses it)
        parts = name.split("/")
        assert not any("/".join(parts[:depth]) in files_named for depth in range(1, len(parts)))
    sources = {item.rel for item in plan.without_source}
    assert (
        "webfw/core.py" not in sources
        or (
            f"python/lib/python3.12/site-packages/webfw/__pycache__/core.{TAG}.pyc",
            "python/lib/python3.12/site-packages/webfw/core.pyc",
        )
        in plan.moved
    )


@generated(20)
@given(
    text=manifest_texts().filter(lambda text: text != 'format = 1\nlevel = "data"\nevents = []\n')
)
def test_trim_reviewed_refuses_a_bad_manifest_in_one_line_writing_nothing(
    tmp_path_factory, text
) -> None:  # type: ignore[no-untyped-def]
    place = tmp_path_factory.mktemp("manifest")
    try:
        parse_manifest(text)
    except InputError:
        pass
    else:
        return  # a good manifest would go on to run the sandbox: not this test's case
    (place / "src").mkdir()
    (place / "src/app.py").write_text("def handler(e, c):\n    return e\n")
    (place / "e.json").write_text("{}")
    (place / "bad.toml").write_text(text)
    command = [
        "trim",
        "app.handler",
        "--function",
        str(place / "src"),
        "--event",
        str(place / "e.json"),
        "--manifest",
        str(place / "bad.toml"),
        "--reviewed",
        "--runtime",
        "python3.12",
        "--cache-dir",
        str(place / "cache"),
        "-o",
        str(place / "out"),
    ]
    before = snapshot(place, skip=(place / "cache", place / "home"))
    case = run_case([command], case_environment(place), place)
    assert snapshot(place, skip=(place / "cache", place / "home")) == before
    assert_promise(case, must_fail=True)
    assert "trim manifest" in case.outcomes[0].error_lines()[0]


_HEAD = 'format = 1\nlevel = "modules"\nevents = []\n'


@pytest.mark.parametrize(
    "text",
    [
        _HEAD + "[distribution.six]\nkeep = [1]\n",
        _HEAD + "[distribution.six]\nkeep = []\nother = 1\n",
        'format = true\nlevel = "modules"\nevents = []\n',
        "format = 1.0\n",
        "x = " + "[" * 100_000 + "]" * 100_000 + "\n",
        _HEAD
        + "[distribution.six]\nkeep = ["
        + ", ".join(f'"p{i}*/**/*x*"' for i in range(3000))
        + "]\n",
    ],
    ids=["not-a-path", "extra-key", "format-true", "format-float", "deep", "many-globs"],
)
def test_every_refused_manifest_is_one_error_with_a_hint(text):
    """A hostile review: several refusals had no hint; format = true passed (True == 1); a
    manifest of half a million globs took minutes of CPU against every file."""
    from lambdalayer.trim.manifest import parse_manifest

    with pytest.raises(InputError) as refused:
        parse_manifest(text)
    assert refused.value.hint and "\n" not in refused.value.message


_GLOB_PARTS = st.sampled_from(["*", "?", "[ab]", "[!a]", "[", "]", "**", "/", "a", "b", ".py", "x"])


@generated(200)
@given(
    patterns=st.lists(
        st.one_of(
            st.lists(_GLOB_PARTS, min_size=1, max_size=6).map("".join),
            st.lists(_GLOB_PARTS, min_size=1, max_size=4).map(lambda parts: "".join(parts) + "/**"),
            st.sampled_from([f"a/__pycache__/b.{TAG}.pyc", "a/b.pyc", "a/b.py"]),
        ),
        max_size=12,
    ),
    units=st.lists(st.lists(_GLOB_PARTS, min_size=1, max_size=6).map("".join), max_size=12),
)
def test_a_manifests_lines_cover_the_same_files_compiled_together(patterns, units) -> None:  # type: ignore[no-untyped-def]
    """A manifest's globs are matched in one compiled expression (2,000 globs one at a time
    took 30 s over 10,000 files): it covers exactly what the lines one by one cover."""
    covers = matcher(patterns)
    for unit in [*units, *(pattern.replace("*", "a") for pattern in patterns)]:
        assert covers(unit) is any(matches(pattern, unit) for pattern in patterns), unit


# --- level bytecode-only: the header of a .pyc a line written by hand names ---------------

PY312 = "cpython-312"  # the target of these cases: python3.12, magic number 3531
MAGIC_312 = (3531).to_bytes(2, "little") + b"\r\n"
OTHER_CPYTHONS = (3439, 3495, 3571, 3627)  # 3.10, 3.11, 3.13, 3.14 (data/runtimes.toml)
_HOSTILE_LINE = f"webfw/__pycache__/core.{PY312}.pyc"


def _host_bytecode() -> bytes:
    """core.py compiled by this machine's CPython (3.11 here): another Python's real .pyc."""
    import importlib.util
    import marshal

    code = compile("X = 1\n", "webfw/core.py", "exec")
    return importlib.util.MAGIC_NUMBER + (1).to_bytes(4, "little") + bytes(8) + marshal.dumps(code)


@st.composite
def hostile_pycs(draw: st.DrawFn) -> tuple[str, bytes]:
    """(kind, bytes) of a file named ``core.cpython-312.pyc`` that python3.12 cannot import
    without its source: wrong magic, truncated header, empty, another CPython's magic, flags
    CPython refuses, this machine's real bytecode (when it is no CPython 3.12), the header
    with nothing after it, or after it something that is no code object."""
    kinds = [
        "wrong-magic",
        "truncated",
        "empty",
        "other-cpython",
        "flags",
        "header-only",
        "not-code",
    ]
    if sys.version_info[:2] != (3, 12):
        kinds.append("host")
    kind = draw(st.sampled_from(kinds))
    rest = draw(st.binary(max_size=64))
    good = MAGIC_312 + draw(st.sampled_from([0, 1, 3])).to_bytes(4, "little") + bytes(8)
    wrong = draw(st.binary(min_size=4, max_size=4).filter(lambda data: data != MAGIC_312))
    number = draw(st.sampled_from(OTHER_CPYTHONS))
    flags = draw(st.integers(4, 2**32 - 1))
    # marshal's first byte after the header: a code object is b"c", with or without FLAG_REF
    not_code = draw(st.integers(0, 255).filter(lambda byte: byte & 0x7F != ord("c")))
    made = {
        "empty": lambda: b"",
        "truncated": lambda: good[: draw(st.integers(1, 15))],
        "other-cpython": lambda: number.to_bytes(2, "little") + b"\r\n" + bytes(12) + rest,
        "flags": lambda: MAGIC_312 + flags.to_bytes(4, "little") + bytes(8) + rest,
        "host": _host_bytecode,
        "wrong-magic": lambda: wrong + bytes(12) + rest,
        # the header alone, or no code object after it: the loader's marshal.loads fails
        # on Lambda (EOFError, ValueError) — header-only is a .pyc truncated at its body
        "header-only": lambda: good,
        "not-code": lambda: good + bytes([not_code]) + rest,
    }
    return kind, made[kind]()


def _hostile_layer(place, pyc: bytes):  # type: ignore[no-untyped-def]
    files = distribution(
        "webfw",
        {"webfw/__init__.py": b"", "webfw/core.py": b"X = 1\n", _HOSTILE_LINE: pyc},
    )
    return write_layer(place / "layer.zip", files)


_BYTECODE_ONLY = Manifest(Level.BYTECODE_ONLY, (), (("webfw", (Kept(_HOSTILE_LINE),)),))


@generated(120)
@given(case=hostile_pycs())
def test_a_hand_written_bytecode_line_naming_a_pyc_the_target_cannot_import_is_refused(
    tmp_path_factory, case
) -> None:  # type: ignore[no-untyped-def]
    """A reviewer may write a bytecode-only line by hand: the .pyc it names moves into its
    source's place only if its header is python3.12's (magic 3531, flags 0-3), else one
    error naming the file and the runtime, with a hint — never a module that cannot import
    on Lambda (the sourceless loader refuses another magic: ImportError)."""
    kind, pyc = case
    placement = read_zip(_hostile_layer(tmp_path_factory.mktemp("pyc"), pyc), Layout.SITE_PACKAGES)
    plan = plan_trim(describe_files(placement), _BYTECODE_ONLY, cache_tag=PY312)
    assert plan.moved  # the line is well-formed: only the header can refuse it
    with pytest.raises(InputError) as refused:
        trimmed_placement(placement, plan, _BYTECODE_ONLY)
    message = refused.value.message
    assert "\n" not in message and refused.value.hint, (kind, message)
    assert f"site-packages/{_HOSTILE_LINE}" in message and "python3.12" in message, message
    assert "webfw/core.py" in refused.value.hint
    if kind == "other-cpython":
        assert "CPython 3.1" in message and "not python3.12's 3531" in message, message


@pytest.mark.parametrize("flags", [0, 1, 2, 3])
def test_the_targets_own_header_moves_whether_hash_based_or_timestamp(tmp_path, flags):
    """The control: python3.12's magic with any flags CPython takes moves, refused nothing
    (what follows the header is a code object's start: b"c", or b"\xe3" with FLAG_REF)."""
    body = b"code" if flags % 2 else b"\xe3" + b"\x00" * 8
    pyc = MAGIC_312 + flags.to_bytes(4, "little") + bytes(8) + body
    placement = read_zip(_hostile_layer(tmp_path, pyc), Layout.SITE_PACKAGES)
    plan = plan_trim(describe_files(placement), _BYTECODE_ONLY, cache_tag=PY312)
    names = {file.arcname for file in trimmed_placement(placement, plan, _BYTECODE_ONLY).files}
    assert "python/lib/python3.12/site-packages/webfw/core.pyc" in names
    assert "python/lib/python3.12/site-packages/webfw/core.py" not in names


@generated(6)
@given(case=hostile_pycs())
def test_trim_reviewed_refuses_a_foreign_pyc_in_one_line_before_anything_runs(
    tmp_path_factory, case
) -> None:  # type: ignore[no-untyped-def]
    """On the command line: one ``error:`` line with a ``hint:``, exit 1, nothing written
    (no trimmed zip, the manifest unchanged), before any sandbox starts."""
    _, pyc = case
    place = tmp_path_factory.mktemp("reviewed-pyc")
    _hostile_layer(place, pyc)
    (place / "src").mkdir()
    (place / "src/app.py").write_text("def handler(e, c):\n    return e\n")
    (place / "e.json").write_text("{}")
    (place / "m.toml").write_text(render_manifest(_BYTECODE_ONLY))
    command = [
        "trim", "app.handler", "--function", str(place / "src"), "--layer",
        str(place / "layer.zip"), "--event", str(place / "e.json"), "--manifest",
        str(place / "m.toml"), "--reviewed", "--runtime", "python3.12", "--cache-dir",
        str(place / "cache"), "-o", str(place / "out"),
    ]  # fmt: skip
    before = snapshot(place, skip=(place / "cache", place / "home"))
    case_run = run_case([command], case_environment(place), place)
    assert snapshot(place, skip=(place / "cache", place / "home")) == before
    assert_promise(case_run, must_fail=True)
    outcome = case_run.outcomes[0]
    assert "python3.12" in outcome.error_lines()[0], outcome.err
    # which artefact holds it: with several layers the path inside says too little
    assert f"/webfw/__pycache__/core.{PY312}.pyc of {place / 'layer.zip'} on" in outcome.err
    assert "hint: name the module's source" in outcome.err, outcome.err
    assert (  # the build's own flag, never trim's (trim has no --bytecode)
        "or build the artefact again with lambdalayer (--bytecode unchecked-hash, the default:"
        " its .pyc compiled by python3.12's CPython) and trim it again" in outcome.err
    ), outcome.err
    assert "tracing" not in outcome.err.lower(), outcome.err
