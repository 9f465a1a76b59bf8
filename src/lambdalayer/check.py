"""Prove a layer zip will load on its runtime before it is uploaded.

Works on any layer zip (ours or anyone's): ELF machine and GLIBC versions of every binary,
CPython ABI of every extension module, the layout Lambda loads, the size quotas (with the
other layers and function package given), conflicts between layers, and — where a CPython
of the runtime's X.Y runs on this machine's CPU — the imports themselves.

>>> report = check(Path("layer.zip"), get_target("python3.11"))  # doctest: +SKIP
>>> report.ok
"""

from __future__ import annotations

import re
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from packaging.tags import parse_tag
from packaging.utils import canonicalize_name

from lambdalayer.distinfo import parse_metadata, parse_record_paths, parse_wheel_tags
from lambdalayer.elf import ELF_MAGIC, foreign_binary_kind, read_elf
from lambdalayer.errors import InputError
from lambdalayer.findings import CheckReport, Finding, Severity
from lambdalayer.importcheck import ImportResult, run_imports, top_level_modules
from lambdalayer.interpreters import Interpreter, find_interpreter
from lambdalayer.libraries import PlacedElf, needed_library_findings
from lambdalayer.targets import Target
from lambdalayer.zipnames import is_safe, unsafe_reason

HOST_LIBRARIES = (
    "on this machine's libraries, not Lambda's: a library this machine has and Lambda lacks is"
    " caught only by the static check above, or by --image"
)
DIRECT_UPLOAD_LIMIT = 50 * 1024 * 1024  # bytes zipped; larger layers go through S3
UNZIPPED_LIMIT = 262_144_000  # function + all layers, unzipped
_SITE = re.compile(r"^python/lib/python(\d+\.\d+)/site-packages/")
_CPYTHON_EXT = re.compile(r"\.cpython-3(\d+)[a-z]*-([a-z0-9_]+)-linux-(gnu|musl)\.so$")
_FOREIGN_EXT = re.compile(r"(\.cpython-3\d+[a-z]*-darwin\.so|\.pyd|\.dylib|\.dll)$")
_BINARY_NAME = re.compile(r"(\.so(\.[0-9.]+)?|\.dylib|\.dll|\.pyd|\.exe)$")


@dataclass
class _Layer:
    """The parts of a zip the checks look at."""

    path: Path
    infos: list[zipfile.ZipInfo]
    distributions: dict[str, str] = field(default_factory=dict)  # name → version
    owners: dict[str, str] = field(default_factory=dict)  # member → distribution
    wheel_tags: dict[str, list[str]] = field(default_factory=dict)
    unsafe: list[str] = field(default_factory=list)  # member names never extracted
    top_level_owners: dict[str, str] = field(default_factory=dict)  # module or dir → distribution

    @property
    def is_layer(self) -> bool:
        return any(info.filename.startswith("python/") for info in self.infos)

    def site_prefixes(self, target: Target, *, function: bool = False) -> list[str]:
        """Where importable modules sit: the zip's root for a function, python/... for a layer."""
        if function:
            return [""]
        prefixes = sorted(
            {match.group(0) for info in self.infos if (match := _SITE.match(info.filename))}
        )
        return [*prefixes, "python/"]

    def owner(self, member: str) -> str | None:
        """The distribution a member belongs to: its RECORD, else the one owning its top-level module.

        Bytecode the build compiled (``__pycache__/six.cpython-312.pyc``) and files a wheel's
        RECORD leaves out are attributed to the distribution of their top-level name.
        """
        exact = self.owners.get(member)
        if exact is not None:
            return exact
        match = _SITE.match(member)
        relative = member[match.end() :] if match else member.removeprefix("python/")
        head, _, rest = relative.partition("/")
        if head == "__pycache__":
            head = rest.split(".", 1)[0]
        return self.top_level_owners.get(head.removesuffix(".py"))


def _read_layer(path: Path) -> _Layer:
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as error:
        raise InputError(f"{path} is not a readable zip: {error}") from error
    with archive:
        infos = [info for info in archive.infolist() if not info.is_dir()]
        layer = _Layer(path, [info for info in infos if is_safe(info.filename)])
        layer.unsafe = [name for name in archive.namelist() if not is_safe(name)]
        for info in layer.infos:
            name = info.filename
            if not name.endswith((".dist-info/METADATA", ".dist-info/RECORD", ".dist-info/WHEEL")):
                continue
            dist_dir = name.rsplit("/", 1)[0]
            base = dist_dir.rsplit("/", 1)[0] + "/" if "/" in dist_dir else ""
            data = archive.read(info)
            if name.endswith("METADATA"):
                metadata = parse_metadata(data)
                if metadata is not None:
                    layer.distributions[metadata.name] = metadata.version
                    layer.owners[dist_dir] = metadata.name
            elif name.endswith("WHEEL"):
                layer.wheel_tags[dist_dir] = parse_wheel_tags(data)
            else:
                owner = str(canonicalize_name(dist_dir.rsplit("/", 1)[-1].split("-")[0]))
                for record_path in parse_record_paths(data):
                    layer.owners[base + record_path] = owner
                    head = record_path.split("/", 1)[0]
                    if not head.startswith(("..", "__pycache__")):
                        layer.top_level_owners.setdefault(head.removesuffix(".py"), owner)
    return layer


def _check_names(layer: _Layer, findings: list[Finding]) -> None:
    for name in layer.unsafe:
        findings.append(Finding(
            Severity.ERROR, "path", f"member name {unsafe_reason(name)}: unzipped, it lands outside"
            " where it says (or is dropped); nothing was extracted for it",
            name, None, "rebuild the zip with relative member names (lambdalayer build writes only those)",
        ))  # fmt: skip


def _read_elves(layer: _Layer, mount: str, *, checked: bool) -> list[PlacedElf]:
    """Every readable ELF file of a zip, placed where Lambda extracts it (``/opt``, ``/var/task``)."""
    placed = []
    with zipfile.ZipFile(layer.path) as archive:
        for info in layer.infos:
            with archive.open(info) as stream:
                if stream.read(4) != ELF_MAGIC:
                    continue
            try:
                elf = read_elf(archive.read(info))
            except ValueError:
                continue
            placed.append(PlacedElf(f"{mount}/{info.filename}", info.filename,
                                    layer.owner(info.filename), elf, checked))  # fmt: skip
    return placed


def _check_binaries(
    layer: _Layer, target: Target, findings: list[Finding], placed: Sequence[PlacedElf]
) -> None:
    floor = target.glibc_floor
    elves = {elf.member: elf.info for elf in placed if elf.checked}
    with zipfile.ZipFile(layer.path) as archive:
        for info in layer.infos:
            name = info.filename
            package = layer.owner(name)
            elf = elves.get(name)
            if elf is None:
                with archive.open(info) as stream:
                    head = stream.read(4)
                kind = foreign_binary_kind(head)
                if kind and _BINARY_NAME.search(name):
                    findings.append(Finding(
                        Severity.ERROR, "binary", f"{kind} binary: it cannot run on Linux",
                        name, package, "build the layer for Linux (lambdalayer build), not on this machine's OS",
                    ))  # fmt: skip
                elif head == ELF_MAGIC:
                    findings.append(
                        Finding(Severity.WARNING, "binary", "unreadable ELF file", name, package)
                    )
                continue
            if elf.machine != target.machine:
                findings.append(Finding(
                    Severity.ERROR, "elf-machine", f"ELF for {elf.machine}, the target CPU is {target.machine}",
                    name, package, f"rebuild the layer with --arch {target.arch}",
                ))  # fmt: skip
            if elf.glibc_needed and elf.glibc_needed > floor:
                needed = ".".join(map(str, elf.glibc_needed))
                findings.append(Finding(
                    Severity.ERROR, "glibc",
                    f"needs GLIBC_{needed}, {target.runtime.name} has glibc {floor[0]}.{floor[1]} ({target.runtime.os})",
                    name, package,
                    f"use a wheel tagged manylinux_{floor[0]}_{floor[1]} or older (lambdalayer build picks one),"
                    " or a newer runtime",
                ))  # fmt: skip


def _check_abi(layer: _Layer, target: Target, findings: list[Finding]) -> None:
    wanted_minor = target.runtime.python[1]
    for info in layer.infos:
        name = info.filename
        if match := _CPYTHON_EXT.search(name):
            minor, machine, libc = int(match.group(1)), match.group(2), match.group(3)
            problems = []
            if minor != wanted_minor:
                problems.append(
                    f"built for CPython 3.{minor}, the runtime is {target.runtime.python_version}"
                )
            if machine != target.machine:
                problems.append(f"built for {machine}, the target CPU is {target.machine}")
            if libc == "musl":
                problems.append("built for musl libc; Lambda uses glibc")
            for problem in problems:
                findings.append(Finding(
                    Severity.ERROR, "abi", problem, name, layer.owner(name),
                    f"rebuild for {target.runtime.name} ({target.arch}): lambdalayer build --runtime {target.runtime.name}",
                ))  # fmt: skip
        elif _FOREIGN_EXT.search(name):
            findings.append(Finding(
                Severity.ERROR, "abi", "extension module for macOS or Windows", name, layer.owner(name),
                "build the layer for Linux (lambdalayer build)",
            ))  # fmt: skip
    for dist_dir, tags in layer.wheel_tags.items():
        parsed = {tag for text in tags for tag in parse_tag(text)}
        if parsed and not parsed & set(target.tag_rank):
            findings.append(Finding(
                Severity.ERROR, "abi", f"installed from a wheel tagged {', '.join(tags)}, which does not fit {target.name}",
                f"{dist_dir}/WHEEL", layer.owners.get(dist_dir), f"rebuild for {target.name}",
            ))  # fmt: skip


def _check_outside_python(layer: _Layer, findings: list[Finding]) -> None:
    """Python packages outside python/ never import from a layer; other files there may be meant."""
    outside = [info.filename for info in layer.infos if not info.filename.startswith("python/")]
    python_outside = sorted(
        {
            name.split("/")[0] + ("/" if "/" in name else "")
            for name in outside
            if (name.endswith((".py", ".pyc", ".so")) and not name.startswith(("lib/", "bin/")))
            or ".dist-info/" in name
        }
    )
    if python_outside:
        findings.append(Finding(
            Severity.ERROR, "layout",
            f"Python packages outside python/ ({', '.join(python_outside[:5])}): a layer is extracted to"
            " /opt, and only /opt/python and its site-packages are on sys.path, so none of them imports",
            python_outside[0], None,
            "put them under python/ (lambdalayer build does), or check it as a function zip with --function",
        ))  # fmt: skip
    other = sorted({name.split("/")[0] + "/" for name in outside} - {"lib/"} - set(python_outside))
    if other:
        findings.append(Finding(
            Severity.WARNING, "layout",
            f"content outside python/ ({', '.join(other[:5])}) is extracted to /opt but not on sys.path",
            other[0], None, "fine for bin/ on purpose; otherwise move it under python/",
        ))  # fmt: skip


def _check_layout(layer: _Layer, target: Target, findings: list[Finding]) -> None:
    wanted = target.runtime.python_version
    with zipfile.ZipFile(layer.path) as archive:
        for version in sorted(
            {m.group(1) for info in layer.infos if (m := _SITE.match(info.filename))}
        ):
            if version != wanted:
                findings.append(Finding(
                    Severity.ERROR, "layout",
                    f"site-packages for Python {version}: not on {target.runtime.name}'s sys.path",
                    f"python/lib/python{version}/site-packages/", None,
                    f"use python/lib/python{wanted}/site-packages/ or python/ (lambdalayer build does)",
                ))  # fmt: skip
        _check_outside_python(layer, findings)
        for info in layer.infos:
            if info.filename.endswith(".pth") and info.filename.count("/") <= 4:
                lines = [
                    line
                    for line in archive.read(info).decode("utf-8", "replace").splitlines()
                    if line.strip()
                ]
                findings.append(Finding(
                    Severity.INFO, "layout", f".pth file, processed at startup; adds: {'; '.join(lines[:3]) or 'nothing'}",
                    info.filename, layer.owner(info.filename),
                ))  # fmt: skip
    has_python = any(info.filename.endswith((".py", ".pyc", ".so")) for info in layer.infos)
    if not has_python:
        findings.append(
            Finding(
                Severity.ERROR,
                "content",
                "the zip has no Python modules",
                None,
                None,
                "check the paths inside the zip",
            )
        )


def _check_sizes(layers: Sequence[_Layer], zipped: int, findings: list[Finding]) -> int:
    main = layers[0]
    total = sum(info.file_size for layer in layers for info in layer.infos)
    if zipped > DIRECT_UPLOAD_LIMIT:
        findings.append(Finding(
            Severity.WARNING, "size", f"{zipped:,} bytes zipped is over the 50 MB direct-upload limit",
            None, None, "publish it through S3 (an S3 bucket and key)",
        ))  # fmt: skip
    if total > UNZIPPED_LIMIT:
        shares: Counter[str] = Counter()
        for info in main.infos:
            shares[main.owner(info.filename) or "(no distribution)"] += info.file_size
        largest = ", ".join(
            f"{name} {size / 1e6:.0f} MB ({size / total:.0%})"
            for name, size in shares.most_common(10)
        )
        findings.append(Finding(
            Severity.ERROR, "size", f"{total:,} bytes unzipped{' with the other zips' if len(layers) > 1 else ''} is over Lambda's {UNZIPPED_LIMIT:,}; largest: {largest}",
            None, None, "leave out what another layer or the runtime already provides, or split the function",
        ))  # fmt: skip
    return total


def _check_conflicts(main: _Layer, other: _Layer, findings: list[Finding]) -> None:
    for name, version in sorted(main.distributions.items()):
        other_version = other.distributions.get(name)
        if other_version is not None and other_version != version:
            findings.append(Finding(
                Severity.ERROR, "conflict", f"{name} {version} here and {name} {other_version} in {other.path.name}",
                None, name, "keep one copy: Lambda silently takes the later layer's files",
            ))  # fmt: skip
    shared = sorted(
        {info.filename for info in main.infos} & {info.filename for info in other.infos}
    )
    if shared:
        findings.append(Finding(
            Severity.WARNING, "conflict", f"{len(shared)} paths also in {other.path.name} (e.g. {', '.join(shared[:3])})",
            shared[0], main.owner(shared[0]), "the later layer's copy wins; leave duplicates out",
        ))  # fmt: skip


def check(
    path: Path,
    target: Target,
    *,
    with_zips: Sequence[Path] = (),
    imports: Sequence[str] | None = None,
    python: Path | None = None,
    run_import_check: bool = True,
    function: bool = False,
    handler: str | None = None,
    skip_imports: str | None = None,
) -> CheckReport:
    """Check a layer zip for ``target``; the other zips are layers or function packages beside it.

    With ``function``, the zip is a function package (extracted to /var/task, its code at
    the root); ``handler`` (``module.function``) must then be in it and import.
    """
    main = _read_layer(path)
    others = [_read_layer(other) for other in with_zips]
    findings: list[Finding] = []
    for layer in (main, *others):
        _check_names(layer, findings)
    placed = _read_elves(main, "/var/task" if function else "/opt", checked=True)
    for other in others:
        placed += _read_elves(other, "/opt" if other.is_layer else "/var/task", checked=False)
    _check_binaries(main, target, findings, placed)
    same_cpu = [elf for elf in placed if elf.info.machine == target.machine]
    findings += needed_library_findings(same_cpu, target)
    _check_abi(main, target, findings)
    if function:
        _check_handler(main, handler, findings)
    else:
        _check_layout(main, target, findings)
    zipped = path.stat().st_size
    total = _check_sizes([main, *others], zipped, findings)
    for other in others:
        if other.is_layer:
            _check_conflicts(main, other, findings)
    results: tuple[ImportResult, ...] = ()
    skipped: str | None = "not asked" if not run_import_check else skip_imports
    if run_import_check and skip_imports is None:
        interpreter = find_interpreter(target.runtime.python_version, explicit=python)
        skipped = _why_no_imports(interpreter, target)
        if skipped is None and interpreter is not None:
            modules = _modules_to_import(main, target, imports, function, handler)
            layers = [other.path for other in others if other.is_layer] + (
                [] if function else [path]
            )
            functions = [other.path for other in others if not other.is_layer] + (
                [path] if function else []
            )
            results = tuple(run_imports(interpreter, target, modules, layers, functions))
            for result in results:
                if not result.ok:
                    findings.append(Finding(
                        Severity.ERROR, "import", f"import {result.module} failed: {result.error}", None, result.module,
                        "see the message; a missing module usually means a missing dependency or a wrong target",
                    ))  # fmt: skip
    findings.sort(key=lambda finding: (-finding.severity, finding.kind, finding.member or ""))
    return CheckReport(
        path,
        target,
        tuple(findings),
        zipped,
        sum(i.file_size for i in main.infos),
        total,
        results,
        skipped,
        HOST_LIBRARIES if results else None,
    )


def _modules_to_import(
    main: _Layer, target: Target, imports: Sequence[str] | None, function: bool, handler: str | None
) -> list[str]:
    if imports:
        return list(imports)
    if function and handler and "." in handler:
        module, _, attribute = handler.rpartition(".")
        return [f"{module}:{attribute}"]
    prefixes = main.site_prefixes(target, function=function)
    return top_level_modules((info.filename for info in main.infos), prefixes)


def _check_handler(main: _Layer, handler: str | None, findings: list[Finding]) -> None:
    """A function package's handler module must be in the zip (its import is tried later)."""
    if handler is None:
        return
    module, _, attribute = handler.rpartition(".")
    if not module or not attribute:
        findings.append(Finding(
            Severity.ERROR, "handler", f"handler {handler!r} is not module.function", None, None,
            "give the handler as Lambda does, e.g. app.main.handler",
        ))  # fmt: skip
        return
    base = module.replace(".", "/")
    names = {info.filename for info in main.infos}
    if not {f"{base}.py", f"{base}.pyc", f"{base}/__init__.py", f"{base}/__init__.pyc"} & names:
        findings.append(Finding(
            Severity.ERROR, "handler", f"handler module {module} is not in the zip", f"{base}.py", None,
            "point --handler at a module of the function's code",
        ))  # fmt: skip


def _why_no_imports(interpreter: Interpreter | None, target: Target) -> str | None:
    version = target.runtime.python_version
    if interpreter is None:
        return f"no CPython {version} found (PATH, pyenv, uv-managed); imports not checked"
    if interpreter.machine != target.machine:
        return f"this machine is {interpreter.machine}, the layer is for {target.machine}; imports not checked"
    return None
