"""Write the library set of a Lambda runtime image: src/lambdalayer/data/runtime_libraries/*.toml.

The static check (``lambdalayer check``) resolves every ``DT_NEEDED`` of a layer's ELF
files against these sets. Two ways to make one:

From the real image (the best evidence; needs a machine that reaches public.ecr.aws,
which the machines this project is developed on do not, so it has not been run here):

    lambdalayer image pull python3.12 --arch arm64
    python scripts/capture_runtime_libraries.py rootfs ~/.cache/lambdalayer/images/<digest>/rootfs \\
        --name al2023-aarch64 --os "Amazon Linux 2023" --machine aarch64 \\
        --source "public.ecr.aws/lambda/python:3.12 arm64, manifest sha256:..."

It walks the system library directories of the root (``lib64``, ``usr/lib64``, ``lib``,
``usr/lib``, ``var/lang/lib``), reads each shared object's ``DT_SONAME``, and records per
soname the highest symbol version of each family (``GLIBC``, ``GLIBCXX``, ``OPENSSL``, ...)
derived from the files' own versions by stated rules (``_DERIVED``), plus those given.

From a listing of one directory (``--directory lib64``: the AL2023 and AL2 arm64 sets,
from ``shared/evidence/lambda-*-lib64.txt``), or from a file listing (what the Amazon
Linux 2 x86_64 set was made from: a dump of the real
Lambda filesystem, ``shared/evidence/lambda-al2-x86_64-fs.txt``), where only names are
known and the version maxima come from the package versions the listing shows:

    python scripts/capture_runtime_libraries.py listing ../shared/evidence/lambda-al2-x86_64-fs.txt \\
        --name al2-x86_64 --os "Amazon Linux 2" --machine x86_64 --source "..." \\
        --version libc.so.6=GLIBC:2.26 --version 'libstdc++.so.6=GLIBCXX:3.4.24,CXXABI:1.3.11'
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from lambdalayer.elf import read_elf

DATA = Path(__file__).resolve().parents[1] / "src" / "lambdalayer" / "data" / "runtime_libraries"
LIBRARY_DIRS = ("lib64", "usr/lib64", "lib", "usr/lib", "var/lang/lib")
_SONAME_FILE = re.compile(r"^(ld-linux[\w.-]*\.so\.\d+|lib[\w+.-]*?\.so\.\d+)$")
_GLIBC_FAMILY = (
    "libc.so.6",
    "libm.so.6",
    "libpthread.so.0",
    "libdl.so.2",
    "librt.so.1",
    "libutil.so.1",
    "libresolv.so.2",
    "libanl.so.1",
    "libnsl.so.1",
    "libmvec.so.1",
)
_VERSION = re.compile(r"^([A-Z][A-Z_]*?)_(\d+(?:\.\d+)*)$")


def from_rootfs(root: Path) -> tuple[dict[str, dict[str, str]], list[str]]:
    """soname → {} for the shared objects under ``root``, and every file name seen (the
    symbol versions are derived from those names, :func:`derived_versions`)."""
    found: dict[str, dict[str, str]] = {}
    names: list[str] = []
    for directory in LIBRARY_DIRS:
        base = root / directory
        if not base.is_dir():
            continue
        for path in sorted(base.iterdir()):
            if not path.is_file() or ".so" not in path.name:
                continue
            names.append(path.name)
            try:
                info = read_elf(path.read_bytes())
            except (ValueError, OSError):
                continue
            found.setdefault(info.soname or path.name, {})
    return found, names


def from_listing(
    listing: Path, versions: dict[str, dict[str, str]], directory_of_names: str | None = None
) -> dict[str, dict[str, str]]:
    """soname → versions for a file listing: names in the library directories, maxima as given.

    ``directory_of_names``: the listing holds bare file names of that one directory (what
    ``find /lib64/ -maxdepth 1`` printed), not paths from the root.
    """
    found: dict[str, dict[str, str]] = {}
    for line in listing.read_text().splitlines():
        directory, _, name = line.strip().rpartition("/")
        if directory_of_names is not None and not directory:
            directory = directory_of_names
        if directory in LIBRARY_DIRS and _SONAME_FILE.match(name):
            found[name] = versions.get(name, {})
    return found


# A library's symbol-version nodes derived from its own file's version, by rules that hold
# for these projects' releases: libstdc++.so.6.0.N defines GLIBCXX_3.4.N (gcc's
# libstdc++ ABI table: 6.0.29 is gcc 11 with GLIBCXX_3.4.29, 6.0.33 gcc 14 with 3.4.33);
# OpenSSL 3's libssl and libcrypto define OPENSSL_3.M.0 for every minor release M up to
# their own (OPENSSL_3.0.0 … OPENSSL_3.2.0 in 3.2.2), so no node above the file's version;
# zlib 1.2.N defines ZLIB_1.2.x nodes up to its own version (1.2.11: ZLIB_1.2.9 at most).
_DERIVED = (
    (re.compile(r"^(libstdc\+\+\.so\.6)\.0\.(\d+)$"), "GLIBCXX", lambda v: f"3.4.{v}"),
    (re.compile(r"^(libssl\.so\.3)\.(\d+\.\d+)$"), "OPENSSL", lambda v: f"3.{v}"),
    (re.compile(r"^(libcrypto\.so\.3)\.(\d+\.\d+)$"), "OPENSSL", lambda v: f"3.{v}"),
    (re.compile(r"^(libz\.so\.1)\.(\d+\.\d+)$"), "ZLIB", lambda v: f"1.{v}"),
)


def derived_versions(names: list[str]) -> dict[str, dict[str, str]]:
    """soname → {family: highest version} derived from versioned file names (a listing's
    ``libssl.so.3.2.2`` → ``libssl.so.3``: ``OPENSSL`` up to 3.2.2), by :data:`_DERIVED`."""
    derived: dict[str, dict[str, str]] = {}
    for line in names:
        name = line.strip().rpartition("/")[2]
        for pattern, family, version in _DERIVED:
            match = pattern.match(name)
            if match:
                derived.setdefault(match.group(1), {})[family] = version(match.group(2))
    return derived


def with_glibc_versions(found: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """The libraries of glibc define the same GLIBC_x.y versions as libc.so.6 (up to its own)."""
    libc = found.get("libc.so.6", {})
    for soname in _GLIBC_FAMILY:
        if soname in found and not found[soname] and "GLIBC" in libc:
            found[soname] = {"GLIBC": libc["GLIBC"]}
    return found


def _parse_versions(items: list[str]) -> dict[str, dict[str, str]]:
    parsed: dict[str, dict[str, str]] = {}
    for item in items:
        soname, _, families = item.partition("=")
        parsed[soname] = dict(pair.split(":", 1) for pair in families.split(",") if pair)
    return parsed


def render(
    name: str,
    os_name: str,
    machine: str,
    source: str,
    libraries: dict[str, dict[str, str]],
    complete: bool = True,
) -> str:
    """The TOML file: one line per soname, sorted; versions as inline tables."""
    lines = [
        f"# The shared libraries of Lambda's {os_name} ({machine}): generated by",
        "# scripts/capture_runtime_libraries.py; do not edit by hand.",
        f"os = {json.dumps(os_name)}",
        f"machine = {json.dumps(machine)}",
        *(["complete = true"] if complete else []),
        f"source = {json.dumps(source)}",
        "",
        "[libraries]",
    ]
    for soname, families in sorted(libraries.items()):
        table = ", ".join(
            f"{family} = {json.dumps(version)}" for family, version in families.items()
        )
        lines.append(
            f"{json.dumps(soname)} = {{ {table} }}" if table else f"{json.dumps(soname)} = {{}}"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    """Parse the arguments and write one data file."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", choices=["rootfs", "listing"])
    parser.add_argument("path", type=Path)
    parser.add_argument("--name", required=True, help="file stem, e.g. al2023-aarch64")
    parser.add_argument("--os", required=True)
    parser.add_argument("--machine", required=True, choices=["x86_64", "aarch64"])
    parser.add_argument("--source", required=True, help="where the evidence came from")
    parser.add_argument("--version", action="append", default=[], metavar="SONAME=FAMILY:V,...")
    parser.add_argument(
        "--directory",
        metavar="DIR",
        choices=LIBRARY_DIRS,
        help="listing mode: the listing names files of this one directory (e.g. lib64)",
    )
    parser.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="SONAME",
        help="a library known present by other evidence (named in --source)",
    )
    parser.add_argument(
        "--partial",
        action="store_true",
        help="the listing may miss libraries of the loader's directories (a library not"
        " listed is then unknown, never absent)",
    )
    args = parser.parse_args()
    versions = _parse_versions(args.version)
    names = args.path.read_text().splitlines() if args.mode == "listing" else []
    if args.mode == "rootfs":
        libraries, names = from_rootfs(args.path)
    derived = derived_versions(names)
    for soname, families in versions.items():  # what is given wins over what is derived
        derived[soname] = {**derived.get(soname, {}), **families}
    if args.mode == "rootfs":
        libraries = {soname: derived.get(soname, {}) for soname in libraries}
    else:
        libraries = from_listing(args.path, derived, args.directory)
    for soname in args.also:
        libraries.setdefault(soname, versions.get(soname, {}))
    libraries = with_glibc_versions(libraries)
    DATA.mkdir(parents=True, exist_ok=True)
    out = DATA / f"{args.name}.toml"
    out.write_text(
        render(args.name, args.os, args.machine, args.source, libraries, complete=not args.partial)
    )
    print(f"wrote {out} ({len(libraries)} libraries)")


if __name__ == "__main__":
    main()
