"""Write src/lambdalayer/data/module_providers.toml: which distributions provide an import name.

A layer's import that fails with ``No module named 'yaml'`` needs PyYAML, not a project
called ``yaml``; ``ruamel.yaml`` comes from the distribution ruamel.yaml, ``cv2`` from
opencv-python. The table is read from real wheels, never typed in: every ``*.whl`` under the
directories given (this project's development machine has a local mirror of about 850 of
the most-used projects, and a corpus run's cache holds every wheel it built with), each
file name of its zip (what RECORD lists) giving the import names it installs:

- a top-level module (``six.py``, ``_cffi_backend.cpython-312-x86_64-linux-gnu.so``) is one;
- a top-level directory with an ``__init__.py`` is one, unless that ``__init__`` only
  declares a namespace (``pkg_resources.declare_namespace``, ``pkgutil.extend_path``);
- a namespace directory (no ``__init__.py``, or a declaring one) is not: the names under it
  are, at the first level that is a package or module (``google.protobuf``, ``ruamel.yaml``);
- the distribution's name is its METADATA ``Name``; ``tests``, ``docs`` and the like, which
  wheels ship by mistake, are left out.

Providers of one name are ordered by the download rank of ``--ranking`` (the tool
library's pypi.tsv: name, version, month, rank), the most-downloaded first, then by name;
``--first MODULE=DIST`` puts one first for a stated reason (cv2: opencv-python needs
``libGL.so.1``, which no Lambda runtime has; opencv-python-headless does not).

    python scripts/module_providers.py /opt/pypi/files /opt/pypi-more/files \\
        /tmp/longtail/cache/wheels --ranking /work/.library/env/packages/pypi.tsv \\
        --first cv2=opencv-python-headless
"""

from __future__ import annotations

import argparse
import json
import re
import zipfile
from collections import defaultdict
from email.parser import HeaderParser
from pathlib import Path

from packaging.utils import canonicalize_name

from lambdalayer.check.providers import STRAY_TOP_LEVEL

OUT = Path(__file__).resolve().parents[1] / "src" / "lambdalayer" / "data" / "module_providers.toml"
_NAMESPACE = re.compile(rb"declare_namespace|extend_path")
_MODULE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\.[^/]*)?\.(py|so|pyd)$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _installed_path(name: str) -> str | None:
    """Where a wheel member is installed relative to site-packages, or None (metadata, scripts)."""
    first, _, rest = name.partition("/")
    if first.endswith(".dist-info"):
        return None
    if first.endswith(".data"):
        kind, _, inner = rest.partition("/")
        return inner if kind in ("purelib", "platlib") else None
    return name


def import_names(archive: zipfile.ZipFile) -> set[str]:
    """The import names a wheel installs (see the module docstring)."""
    files = [path for name in archive.namelist() if (path := _installed_path(name))]
    members = {_installed_path(name): name for name in archive.namelist()}

    known: dict[str, bool] = {}

    def is_package(directory: str) -> bool:
        if directory not in known:
            member = members.get(f"{directory}/__init__.py")
            known[directory] = member is not None and not _NAMESPACE.search(
                archive.read(member)[:4096]
            )
        return known[directory]

    names: set[str] = set()
    for path in files:
        parts = path.split("/")
        if not all(_IDENTIFIER.match(part) for part in parts[:-1]):
            continue
        for depth in range(1, len(parts)):
            if is_package("/".join(parts[:depth])):
                names.add(".".join(parts[:depth]))
                break
        else:
            found = _MODULE.match(parts[-1])
            if found and found.group(1) != "__init__":
                names.add(".".join([*parts[:-1], found.group(1)]))
    return {name for name in names if name.split(".")[0] not in STRAY_TOP_LEVEL}


def _metadata_name(archive: zipfile.ZipFile) -> str | None:
    member = next(
        (n for n in archive.namelist() if re.match(r"^[^/]+\.dist-info/METADATA$", n)), None
    )
    if member is None:
        return None
    headers = HeaderParser().parsestr(archive.read(member).decode("utf-8", "replace"))
    return headers.get("Name")


def _ranks(path: Path | None) -> dict[str, int]:
    ranks: dict[str, int] = {}
    if path is None:
        return ranks
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            fields = line.rstrip("\n").split("\t")
            if len(fields) >= 4 and fields[3].isdigit():
                ranks[canonicalize_name(fields[0])] = int(fields[3])
    return ranks


def main() -> int:
    """Read the wheels, write the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("directories", type=Path, nargs="+", help="searched for *.whl")
    parser.add_argument("--ranking", type=Path, help="pypi.tsv: name, version, month, rank")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--first", action="append", default=[], metavar="MODULE=DIST")
    args = parser.parse_args()
    providers: dict[str, set[str]] = defaultdict(set)
    wheels = sorted({p for d in args.directories for p in d.rglob("*.whl")}, key=lambda p: p.name)
    projects: set[str] = set()
    for wheel in wheels:
        try:
            with zipfile.ZipFile(wheel) as archive:
                name = _metadata_name(archive)
                if name is None:
                    continue
                projects.add(canonicalize_name(name))
                for module in import_names(archive):
                    providers[module].add(name)
        except (zipfile.BadZipFile, OSError):
            continue
    ranks = _ranks(args.ranking)

    first = {
        module: canonicalize_name(dist)
        for module, _, dist in (f.partition("=") for f in args.first)
    }

    def order(module: str, name: str) -> tuple[bool, int, str]:
        key = canonicalize_name(name)
        return (first.get(module) != key, ranks.get(key, 10**9), key)

    lines = [
        "# Which distributions provide an import name (the most-downloaded first). Generated by",
        "# scripts/module_providers.py from real wheels (the file names of each zip, as RECORD",
        f"# lists them): {len(wheels)} wheels of {len(projects)} projects; do not edit by hand.",
        "",
        "[providers]",
    ]
    for module in sorted(providers):
        names = sorted(
            {canonicalize_name(n): n for n in providers[module]}.values(),
            key=lambda n: order(module, n),
        )
        lines.append(f"{json.dumps(module)} = [{', '.join(json.dumps(n) for n in names)}]")
    args.out.write_text("\n".join(lines) + "\n", "utf-8")
    print(f"{len(providers)} import names from {len(wheels)} wheels of {len(projects)} projects")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
