"""Prove a layer (or function package, or image) will load on its runtime before it is uploaded.

Works on placed files (:mod:`lambdalayer.placement`) from any producer — a build's
fragments, any zip (ours or anyone's, :func:`check_zip`), an image's files: safe member names, ELF machine and GLIBC
versions of every binary, the libraries each one needs (resolved against Lambda's own,
:mod:`lambdalayer.check.libraries`), CPython ABI of every extension module, the layout Lambda
loads, the size quotas (with the other layers and function package given), conflicts
between layers, and the imports themselves (:mod:`lambdalayer.check.importstage`: inside a
Lambda image when one is given, else with a CPython of the runtime's X.Y found here).

>>> report = check_zip(Path("layer.zip"), CheckRequest(get_target("python3.11")))  # doctest: +SKIP
>>> report.ok
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.tags import parse_tag
from packaging.utils import canonicalize_name

from lambdalayer.check.findings import CheckReport, Finding, Kind, Part, Severity, Unverified
from lambdalayer.check.importstage import ImportOutcome, check_imports
from lambdalayer.check.libraries import PlacedElf, needed_library_findings, stand_in_verdict
from lambdalayer.check.modules import top_level_modules
from lambdalayer.check.providers import (
    STRAY_TOP_LEVEL,
    AskIndex,
    index_candidates,
    to_add,
    what_to_add,
)
from lambdalayer.check.request import CheckRequest
from lambdalayer.check.reuse import reuse_of
from lambdalayer.check.shadows import runtime_shadows
from lambdalayer.check.view import METADATA_LIMIT, SITE, LayerView, placed_elves, view_of
from lambdalayer.elf import ELF_MAGIC, ElfInfo, foreign_binary_kind
from lambdalayer.environment.imports import Deployment
from lambdalayer.errors import InputError, option
from lambdalayer.importresult import ImportResult
from lambdalayer.inputs.ontopof import MANAGED
from lambdalayer.limits import DIRECT_UPLOAD_LIMIT, IMAGE_LIMIT, UNZIPPED_LIMIT, quota_text
from lambdalayer.placement import Placement, read_zip
from lambdalayer.resolve.provided import managed_layer
from lambdalayer.runtimepackages import lang_modules, removed_from_stdlib, stdlib_modules
from lambdalayer.targets import Layout, Target
from lambdalayer.wording import counted
from lambdalayer.zipnames import printable, unsafe_reason

MIB = 1024 * 1024
_CPYTHON_EXT = re.compile(r"\.cpython-3(\d+)[a-z]*-([a-z0-9_]+)-linux-(gnu|musl)\.so\Z")
_FOREIGN_EXT = re.compile(r"(\.cpython-3\d+[a-z]*-darwin\.so|\.pyd)\Z")
_BINARY_NAME = re.compile(r"(\.so(\.[0-9.]+)?|\.dylib|\.dll|\.pyd|\.exe)\Z")
_EXTENSION_NAME = re.compile(r"(\.so(\.[0-9.]+)?|\.pyd)\Z")  # what Python or the loader would load


def _check_names(layer: LayerView, findings: list[Finding]) -> None:
    for name in layer.unsafe:
        findings.append(
            Finding(
                Severity.ERROR,
                Kind.PATH,
                f"member name {unsafe_reason(name)}: unzipped, it lands outside"
                " where it says (or is dropped); nothing was extracted for it",
                printable(name),
                None,
                "rebuild the zip with relative member names (lambdalayer build writes only those)",
            )
        )


def _check_damaged(layer: LayerView, findings: list[Finding]) -> None:
    """The members set apart or found damaged while the other checks read the zip."""
    for name, why in sorted(layer.damaged.items()):
        findings.append(
            Finding(
                Severity.ERROR,
                Kind.ZIP,
                f"the member {why}; it was not read or extracted",
                name,
                None,
                "rebuild the zip with a standard zip writer (lambdalayer build writes stored or"
                " deflated members once each)",
            )
        )


def _check_binaries(
    layer: LayerView, target: Target, findings: list[Finding], placed: Sequence[PlacedElf]
) -> None:
    elves = {elf.member: elf.info for elf in placed if elf.checked}
    with layer.placement.reader() as reader:
        for file in layer.files:
            elf = elves.get(file.arcname)
            if elf is not None:
                owner = layer.owner(file.arcname)
                findings += _elf_findings(file.arcname, owner, elf, target, layer.tags_of(owner))
            elif _BINARY_NAME.search(file.arcname):  # only files named like binaries are read
                head = layer.head(reader, file, 4)
                owner = layer.owner(file.arcname)
                finding = _unreadable_binary(file.arcname, owner, head, layer.pure(owner))
                findings += [finding] if finding else []


def _unreadable_binary(
    name: str, package: str | None, head: bytes | None, pure: bool
) -> Finding | None:
    """A file named like a binary that is no ELF file for Linux: another OS's, or damaged.

    An extension module for another OS is an error (a layer built on the wrong machine),
    unless a ``pure`` wheel (one file for every platform: debugpy) ships it beside Linux's.
    """
    kind = foreign_binary_kind(head[:4]) if head else None
    if kind and _EXTENSION_NAME.search(name) and not pure:  # built for another OS
        return Finding(
            Severity.ERROR,
            Kind.BINARY,
            f"{kind} binary: it cannot run on Linux",
            name,
            package,
            "build the layer for Linux, not on this machine's OS",
        )
    if kind:  # a launcher or library Linux never loads: dead weight, not a failure
        inside = f" inside {package}'s pure wheel (made for every platform)" if pure else ""
        return Finding(
            Severity.WARNING,
            Kind.BINARY,
            f"{kind} file{inside} that nothing on Linux loads: dead weight",
            name,
            package,
            "lambdalayer build leaves these out (the foreign-binaries slim rule)",
        )
    if head and head[:4] == ELF_MAGIC:
        return Finding(Severity.WARNING, Kind.BINARY, "unreadable ELF file", name, package)
    return None


def _elf_findings(
    name: str, package: str | None, elf: ElfInfo, target: Target, tags: Sequence[str] = ()
) -> list[Finding]:
    """What is wrong with one ELF file for the target: its CPU, its load segments, its glibc.

    A file for another CPU inside a pure wheel (``tags`` all ``*-none-any``: selenium's
    selenium-manager, debugpy's attach helper, one wheel for every platform) is run or loaded
    only on that CPU: a warning. A glibc above what the wheel's own tags promise is the
    wheel's mis-tagging, and said so.
    """
    pure = bool(tags) and all(tag.endswith("-none-any") for tag in tags)
    found = []
    if elf.machine != target.machine and pure:
        found.append(
            Finding(
                Severity.WARNING,
                Kind.ELF_MACHINE,
                f"ELF for {elf.machine} inside {package}'s pure wheel (made for every platform):"
                f" it runs only on that CPU, never on {target.arch}",
                name,
                package,
                f"if the function runs it on {target.arch}, use a package that ships it for"
                f" {target.machine}",
            )
        )
    elif elf.machine != target.machine:
        found.append(
            Finding(
                Severity.ERROR,
                Kind.ELF_MACHINE,
                f"ELF for {elf.machine}, the target CPU is {target.machine}",
                name,
                package,
                f"rebuild the layer for {target.arch}",
            )
        )
    if elf.misaligned_segments:
        found.append(
            Finding(
                Severity.ERROR,
                Kind.ELF_LOAD,
                f"{counted(elf.misaligned_segments, 'load segment')} not aligned: the loader refuses the"
                ' file ("ELF load command address/offset not page-aligned")',
                name,
                package,
                "use the file as the wheel ships it; a strip program broke it",
            )
        )
    floor = target.glibc_floor
    if elf.glibc_needed and elf.glibc_needed > floor:
        needed = ".".join(map(str, elf.glibc_needed))
        runtime = target.runtime
        found.append(
            Finding(
                Severity.ERROR,
                Kind.GLIBC,
                f"needs GLIBC_{needed}, {runtime.name} has glibc {floor[0]}.{floor[1]}"
                f" ({runtime.os})",
                name,
                package,
                _glibc_fix(package, needed, floor, tags),
            )
        )
    return found


_MANYLINUX = re.compile(r"manylinux_(\d+)_(\d+)_|manylinux(1|2010|2014)_")
_LEGACY_GLIBC = {"1": (2, 5), "2010": (2, 12), "2014": (2, 17)}


def _glibc_fix(
    package: str | None, needed: str, floor: tuple[int, int], tags: Sequence[str]
) -> str:
    """What to do about a file needing a glibc above the runtime's: another wheel — unless
    the wheel's own tags already promise the floor (playwright's), when it is mis-tagged."""
    promised = []
    for tag in tags:
        match = _MANYLINUX.search(tag)
        if match and match.group(3):
            promised.append((_LEGACY_GLIBC[match.group(3)], tag))
        elif match:
            promised.append(((int(match.group(1)), int(match.group(2))), tag))
    fitting = [tag for glibc, tag in promised if glibc <= floor]
    if fitting:
        return (
            f"{package}'s wheel is tagged {fitting[0]} yet this file needs GLIBC_{needed}: the"
            " wheel is mis-tagged upstream (report it to its maintainers); pin a release whose"
            " files fit, or use a newer runtime"
        )
    return (
        f"use a wheel tagged manylinux_{floor[0]}_{floor[1]} or older (lambdalayer build picks"
        " one), or a newer runtime"
    )


def _foreign_extension(layer: LayerView, name: str) -> Finding:
    """An extension module named for macOS or Windows: an error (a layer built on the wrong
    OS), a warning inside a pure wheel that ships it beside Linux's (debugpy)."""
    owner = layer.owner(name)
    if layer.pure(owner):
        return Finding(
            Severity.WARNING,
            Kind.ABI,
            f"extension module for macOS or Windows inside {owner}'s pure wheel (made for every"
            " platform): Linux never imports it",
            name,
            owner,
            "lambdalayer build leaves these out (the foreign-binaries slim rule)",
        )
    return Finding(
        Severity.ERROR,
        Kind.ABI,
        "extension module for macOS or Windows",
        name,
        owner,
        "build the layer for Linux (lambdalayer build)",
    )


def _check_abi(layer: LayerView, target: Target, findings: list[Finding]) -> None:
    wanted_minor = target.runtime.python[1]
    for file in layer.files:
        name = file.arcname
        if match := _CPYTHON_EXT.search(name):
            minor, machine, libc = int(match.group(1)), match.group(2), match.group(3)
            problems = []
            if minor != wanted_minor and _loaded_instead(name, layer, target):
                # CPython never loads another minor's extension: dead weight, not a failure,
                # when the module is there for the runtime's own (snowflake ships both).
                findings.append(
                    Finding(
                        Severity.WARNING,
                        Kind.ABI,
                        f"built for CPython 3.{minor}: never loaded on"
                        f" {target.runtime.python_version}, which has its own copy of this module",
                        name,
                        layer.owner(name),
                    )
                )
                continue
            if minor != wanted_minor:
                problems.append(
                    f"built for CPython 3.{minor}, the runtime is {target.runtime.python_version}"
                )
            if machine != target.machine:
                problems.append(f"built for {machine}, the target CPU is {target.machine}")
            if libc == "musl":
                problems.append("built for musl libc; Lambda uses glibc")
            for problem in problems:
                findings.append(
                    Finding(
                        Severity.ERROR,
                        Kind.ABI,
                        problem,
                        name,
                        layer.owner(name),
                        f"rebuild for {target.runtime.name} ({target.arch}): lambdalayer build"
                        f" {option('Target.runtime', target.runtime.name)}",
                    )
                )
        elif _FOREIGN_EXT.search(name):
            findings.append(_foreign_extension(layer, name))
    for dist_dir, tags in layer.wheel_tags.items():
        try:
            parsed = {tag for text in tags for tag in parse_tag(text)}
        except ValueError:
            findings.append(
                Finding(
                    Severity.WARNING,
                    Kind.ABI,
                    f"the WHEEL file's tags are not wheel tags: {printable(', '.join(tags))[:200]}",
                    f"{dist_dir}/WHEEL",
                    layer.owners.get(dist_dir),
                )
            )
            continue
        if parsed and not parsed & target.supported_tags:
            # Installers go by the wheel's file name, which the resolver chose, and some
            # wheels' WHEEL files disagree with theirs (mysql-connector-python's say
            # linux_x86_64 in a manylinux wheel): the files themselves are judged above.
            findings.append(
                Finding(
                    Severity.INFO,
                    Kind.ABI,
                    f"its WHEEL file says {', '.join(tags)}, which does not fit {target.name}"
                    " (the ELF and ABI checks judge the files themselves)",
                    f"{dist_dir}/WHEEL",
                    layer.owners.get(dist_dir),
                )
            )


def _loaded_instead(name: str, layer: LayerView, target: Target) -> bool:
    """Whether the module of extension ``name`` exists for the runtime in another form."""
    stem = _CPYTHON_EXT.sub("", name)
    forms = (
        f"{stem}.cpython-{target.python_tag[2:]}-{target.machine}-linux-gnu.so",
        f"{stem}.abi3.so",
        f"{stem}.so",
        f"{stem}.py",
    )
    names = {file.arcname for file in layer.files}
    return any(form in names for form in forms)


def _check_outside_python(layer: LayerView, findings: list[Finding]) -> None:
    """Python packages outside python/ never import from a layer; other files there may be meant."""
    outside = [file.arcname for file in layer.files if not file.arcname.startswith("python/")]
    python_outside = sorted(
        {
            name.split("/")[0] + ("/" if "/" in name else "")
            for name in outside
            if (name.endswith((".py", ".pyc", ".so")) and not name.startswith(("lib/", "bin/")))
            or ".dist-info/" in name
        }
    )
    if python_outside:
        findings.append(
            Finding(
                Severity.ERROR,
                Kind.LAYOUT,
                f"Python packages outside python/ ({', '.join(python_outside[:5])}): a layer is"
                " extracted to"
                " /opt, and only /opt/python and its site-packages are on sys.path, so none of"
                " them imports",
                python_outside[0],
                None,
                "put them under python/ (lambdalayer build does), or check it as a function zip"
                f" with {option('CheckRequest.function', True)}",
            )
        )
    other = sorted(
        {name.split("/")[0] + ("/" if "/" in name else "") for name in outside}
        - {"lib/"}
        - set(python_outside)
    )
    if other:
        findings.append(
            Finding(
                Severity.WARNING,
                Kind.LAYOUT,
                f"content outside python/ ({', '.join(other[:5])}) is extracted to /opt but not on"
                " sys.path",
                other[0],
                None,
                "fine for bin/ on purpose; otherwise move it under python/",
            )
        )


def _check_layout(layer: LayerView, target: Target, findings: list[Finding]) -> None:
    wanted = target.runtime.python_version
    with layer.placement.reader() as reader:
        for version in sorted(
            {m.group(1) for file in layer.files if (m := SITE.match(file.arcname))}
        ):
            if version != wanted:
                findings.append(
                    Finding(
                        Severity.ERROR,
                        Kind.LAYOUT,
                        f"site-packages for Python {version}: not on {target.runtime.name}'s"
                        " sys.path",
                        f"python/lib/python{version}/site-packages/",
                        None,
                        f"use python/lib/python{wanted}/site-packages/ or python/ (lambdalayer"
                        " build does)",
                    )
                )
        _check_outside_python(layer, findings)
        for file in layer.files:
            if file.arcname.endswith(".pth") and file.arcname.count("/") <= 4:
                text = layer.read(reader, file, METADATA_LIMIT) or b""
                lines = [
                    printable(line)[:200]
                    for line in text.decode("utf-8", "replace").splitlines()
                    if line.strip()
                ]
                findings.append(
                    Finding(
                        Severity.INFO,
                        Kind.LAYOUT,
                        ".pth file, processed at startup; adds:"
                        f" {'; '.join(lines[:3]) or 'nothing'}",
                        file.arcname,
                        layer.owner(file.arcname),
                    )
                )
    has_python = any(file.arcname.endswith((".py", ".pyc", ".so")) for file in layer.files)
    if not has_python:
        findings.append(
            Finding(
                Severity.ERROR,
                Kind.CONTENT,
                "the zip has no Python modules",
                None,
                None,
                "check the paths inside the zip",
            )
        )


def _managed_overlap(main: LayerView, target: Target) -> str | None:
    """The fix naming the managed pandas layer when this layer holds what it provides."""
    try:
        managed = managed_layer(None, target)
    except InputError:
        return None
    overlap = sorted(set(main.distributions) & set(managed.pins))
    if not overlap:
        return None
    held = sum(file.size for file in main.files if main.owner(file.arcname) in overlap)
    return (
        f"build it with {option('Beneath.on_top_of', MANAGED)}: that managed layer already has"
        f" {', '.join(overlap[:6])}"
        f"{' and more' if len(overlap) > 6 else ''} ({held / MIB:.0f} MiB of this layer)"
    )


def _check_image_size(
    layers: Sequence[LayerView], findings: list[Finding], beneath: Sequence[tuple[str, int]] = ()
) -> int:
    """An image's files and what is beneath them (its base's layers) against the 10 GB Lambda
    allows a whole image (AWS: "Lambda quotas", uncompressed, all layers); returns the total."""
    total = sum(layer.declared_bytes for layer in layers) + sum(size for _, size in beneath)
    if total > IMAGE_LIMIT:
        names = "".join(f" with {name} ({size:,} bytes)" for name, size in beneath)
        findings.append(
            Finding(
                Severity.ERROR,
                Kind.SIZE,
                f"{total:,} bytes uncompressed{names} is over Lambda's {quota_text(IMAGE_LIMIT)}"
                " for an"
                " image",
                None,
                None,
                f"leave out what the function does not need ({option('SlimOptions.drop', 'GLOB')}),"
                " or split the function",
            )
        )
    return total


def _check_sizes(
    layers: Sequence[LayerView],
    zipped: int,
    findings: list[Finding],
    target: Target,
    beneath: Sequence[tuple[str, int]] = (),
) -> int:
    """Quota findings; returns the unzipped total counted (zips given, plus layers beneath)."""
    main = layers[0]
    total = sum(layer.declared_bytes for layer in layers)  # every member, readable or not
    with_beneath = total + sum(size for _, size in beneath)
    if zipped > DIRECT_UPLOAD_LIMIT:
        findings.append(
            Finding(
                Severity.WARNING,
                Kind.SIZE,
                f"{zipped:,} bytes zipped is over Lambda's {quota_text(DIRECT_UPLOAD_LIMIT)}"
                " direct-upload limit",
                None,
                None,
                "publish it through S3 (an S3 bucket and key)",
            )
        )
    if total > UNZIPPED_LIMIT:
        shares: Counter[str] = Counter()
        for file in main.files:
            shares[main.owner(file.arcname) or "(no distribution)"] += file.size
        largest = ", ".join(
            f"{name} {size / MIB:.1f} MiB ({size / total:.0%})"
            for name, size in shares.most_common(10)
        )
        findings.append(
            Finding(
                Severity.ERROR,
                Kind.SIZE,
                f"{total:,} bytes unzipped{' with the other zips' if len(layers) > 1 else ''} is"
                f" over Lambda's {quota_text(UNZIPPED_LIMIT)}; largest: {largest}",
                None,
                None,
                _managed_overlap(main, target)
                or "build a container image instead (lambdalayer image build, up to 10 GB), or"
                " leave out what another layer or the runtime already provides",
            )
        )
    elif with_beneath > UNZIPPED_LIMIT:
        # The sizes beneath are at least what the layer's wheels unpack to (no bytecode):
        # over the quota with them is over for certain — Lambda refuses the function.
        names = " and ".join(
            f"{name} (at least {size:,} bytes: its wheels' files, without bytecode)"
            for name, size in beneath
        )
        findings.append(
            Finding(
                Severity.ERROR,
                Kind.SIZE,
                f"{with_beneath:,} bytes unzipped with {names} beneath is over Lambda's"
                f" {quota_text(UNZIPPED_LIMIT)} for a function and all its layers: Lambda"
                " refuses it",
                None,
                None,
                "leave out more of this layer, build everything into one layer without the"
                f" layer beneath (without {option('Beneath.on_top_of')}) when that is smaller,"
                " or build a container image (lambdalayer image build, up to 10 GB)",
            )
        )
    return with_beneath


def _check_conflicts(main: LayerView, other: LayerView, findings: list[Finding]) -> None:
    for name, version in sorted(main.distributions.items()):
        other_version = other.distributions.get(name)
        if other_version is not None and other_version != version:
            findings.append(
                Finding(
                    Severity.ERROR,
                    Kind.CONFLICT,
                    f"{name} {version} here and {name} {other_version} in {other.path.name}",
                    None,
                    name,
                    "keep one copy: Lambda silently takes the later layer's files",
                )
            )
    shared = sorted({file.arcname for file in main.files} & {file.arcname for file in other.files})
    if shared:
        findings.append(
            Finding(
                Severity.WARNING,
                Kind.CONFLICT,
                f"{len(shared)} paths also in {other.path.name} (e.g. {', '.join(shared[:3])})",
                shared[0],
                main.owner(shared[0]),
                "the later layer's copy wins; leave duplicates out",
            )
        )


def check(
    placement: Placement,
    request: CheckRequest,
    *,
    cache_dir: Path | None = None,
    ask_index: AskIndex | None = None,
) -> CheckReport:
    """Check the placed files of a layer, function package or image as ``request`` says.

    The imports run confined (never on this machine as it is); with ``cache_dir`` and no
    image, in an image of the target pulled there before, else in a root with only the
    runtime's libraries (:mod:`lambdalayer.environment.synthroot`). ``ask_index``: asked
    which projects a missing module could come from (when ``request`` brings no answers),
    after the imports ran and before their failures are judged — the imports run once.
    """
    target, function = request.target, request.function
    main = view_of(placement)
    others = [view_of(_other(path)) for path in request.with_zips]
    findings: list[Finding] = []
    for layer in (main, *others):
        _check_names(layer, findings)
    placed = _placed_elves(main, others, function=function)
    _check_binaries(main, target, findings, placed)
    same_cpu = [elf for elf in placed if elf.info.machine == target.machine]
    findings += needed_library_findings(same_cpu, target)
    _check_abi(main, target, findings)
    if function:
        _check_handler(main, request.handler, findings)
    elif not request.container:
        _check_layout(main, target, findings)
    zipped = placement.zipped_bytes or 0
    if request.container:
        total = _check_image_size([main, *others], findings, request.beneath)
    else:
        total = _check_sizes([main, *others], zipped, findings, target, request.beneath)
    for other in others:
        if other.is_layer:
            _check_conflicts(main, other, findings)
    findings += runtime_shadows(main, target)
    for layer in (main, *others):
        _check_damaged(layer, findings)
    imported = _imported(main, others, request, cache_dir, total, ask_index)
    findings += imported.findings
    findings.sort(key=lambda finding: (-finding.severity, finding.kind, finding.member or ""))
    return CheckReport(
        main.path,
        target,
        tuple(findings),
        zipped,
        main.declared_bytes,
        total,
        imported.results,
        imported.skipped,
        imported.ran_in,
        imported.runtime_wanted,
        _unverified(imported),
        imported.providers_wanted,
        request.container,
    )


def _unverified(imported: ImportOutcome) -> tuple[Unverified, ...]:
    """The parts that did not run: the imports, when they were skipped."""
    if imported.skipped is None or not imported.needed:
        return ()
    return (Unverified(Part.IMPORTS, imported.skipped, imported.how),)


def check_zip(path: Path, request: CheckRequest, *, cache_dir: Path | None = None) -> CheckReport:
    """Check any zip: read into placed files once (a function package's when
    ``request.function``, else a layer's), then :func:`check`.

    >>> check_zip(Path("layer.zip"), CheckRequest(get_target("python3.12"))).ok  # doctest: +SKIP
    """
    layout = Layout.FUNCTION if request.function else Layout.SITE_PACKAGES
    return check(read_zip(path, layout), request, cache_dir=cache_dir)


def _other(path: Path) -> Placement:
    """Another zip deployed beside the one checked: a layer, or a function package."""
    placement = read_zip(path, Layout.SITE_PACKAGES)
    if any(name.startswith("python/") for name in placement.names):
        return placement
    return replace(placement, layout=Layout.FUNCTION)


def _imported(
    main: LayerView,
    others: Sequence[LayerView],
    request: CheckRequest,
    cache_dir: Path | None,
    unzipped_total: int,
    ask_index: AskIndex | None = None,
) -> ImportOutcome:
    """The import stage for the placed files, or why it did not run; the failures judged
    with the index's answers about the missing modules (``ask_index``), when asked."""
    options = request.imports
    if options is None:
        return ImportOutcome(skipped="not asked", how="check without `CheckRequest.imports=None`")
    limit = IMAGE_LIMIT if request.container else UNZIPPED_LIMIT
    skipped = options.skipped or _why_not_extracted([main, *others], unzipped_total, limit)
    if skipped is not None:
        return ImportOutcome(skipped=skipped, how=options.skipped_how if options.skipped else None)
    target, function = request.target, request.function
    modules = _modules_to_import(main, target, options.modules, function, request.handler)
    if not modules:
        return ImportOutcome(
            skipped="nothing to import: no module or package in the layer", needed=False
        )
    prefixes = main.site_prefixes(target, function=function)
    reuse = reuse_of(main, modules, prefixes) if not others else None
    outcome = check_imports(target, modules, _deployment(main, others), options, cache_dir, reuse)
    provided = set().union(
        *(layer.top_level_names(target, function=function) for layer in (main, *others))
    )
    asked = bool(options.modules) or (function and bool(request.handler))
    on_index = None if options.projects is None else dict(options.projects)
    judging = _Judging(main, target, provided, asked=asked)
    judged, stood_in, wanted = judging.all(outcome, on_index)
    if wanted and on_index is None and ask_index is not None:
        # the same results judged again with the answers: nothing is imported again
        judged, stood_in, wanted = judging.all(outcome, dict(ask_index(wanted)))
    outcome = replace(outcome, findings=tuple(judged), providers_wanted=wanted)
    if stood_in and outcome.skipped is None:  # ran, but this machine's libraries stood in
        how = "check the import in Lambda's own image (lambdalayer image pull, then check --image)"
        return replace(outcome, skipped="; ".join(stood_in), how=how)
    return outcome


def _removed_from_stdlib(finding: Finding, needed: str, target: Target) -> Finding:
    """A module no requirement provides that the target's CPython removed from its standard
    library (``distutils`` on python3.12): said so, with the distribution that provides it
    since (``data/stdlib_removed.toml``, each verified by a real import) — never a hint to
    add a project named after the module."""
    removed = removed_from_stdlib(needed, target)
    if removed is None:
        return finding
    module = (finding.package or "").partition(":")[0]
    if removed.add is None:
        major, minor = removed.removed_in.split(".")
        fix = (
            f"use a release of {module} that does not import {removed.module}, or a runtime"
            f" of python{major}.{int(minor) - 1} or older"
        )
        add = f"no project is known to provide it: {fix}"
    else:
        how = f" ({removed.how})" if removed.how else ""
        add = f"add {removed.add}{how}"
        fix = f"add {removed.add} to the requirements"
    if finding.severity is Severity.ERROR:
        return replace(
            finding,
            message=f"{module} imports {needed}, which {target.runtime.name} lacks:"
            f" {removed.describe()}; {add}",
            fix=fix,
        )
    return replace(finding, fix=f"{fix} if the function uses {module}")


@dataclass(frozen=True)
class _Judging:
    """How the import stage's failures are said, for the layer checked."""

    main: LayerView
    target: Target
    provided: set[str]
    asked: bool

    def all(
        self, outcome: ImportOutcome, on_index: Mapping[str, bool] | None
    ) -> tuple[list[Finding], list[str], tuple[str, ...]]:
        """The findings judged, what stood in for Lambda's libraries, and the project names
        to ask the index about (none once ``on_index`` answers)."""
        main, target = self.main, self.target
        judged, stood_in, wanted = [], [], list[str]()
        for finding in outcome.findings:
            done, unmapped = _judged(
                finding, main, outcome.results, self.provided, asked=self.asked, on_index=on_index
            )
            if unmapped and removed_from_stdlib(unmapped, target) is not None:
                done, unmapped = _removed_from_stdlib(done, unmapped, target), None
            if unmapped and on_index is None:
                wanted += index_candidates(unmapped)
            lang = _in_var_lang(done, outcome.results, target)
            if lang is not done:
                stood_in.append(lang.message)
                done = lang
            elif outcome.stand_in:
                stood = _stood_in(done, target)
                if stood is not done:
                    stood_in.append(stood.message)
                done = stood
            judged.append(_bundled_but_not_loaded(done, main, target))
        return judged, stood_in, tuple(dict.fromkeys(wanted))


def _in_var_lang(finding: Finding, results: Sequence[ImportResult], target: Target) -> Finding:
    """An import failure for want of a module the runtime has of its own: in ``/var/lang``
    (setuptools' ``pkg_resources`` on python3.11), which the check's root lacks, or in its
    standard library (``distutils`` on python3.11), which the CPython standing in here may
    lack: a warning that says it was not verified — never an error."""
    if finding.kind != Kind.IMPORT or finding.severity is not Severity.ERROR:
        return finding
    result = next((item for item in results if item.module == finding.package), None)
    if result is None or result.missing is None:
        return finding
    needed = result.missing.split(".")[0]
    provider = lang_modules(target).get(needed)
    if provider is not None:
        where = f"in /var/lang ({provider}) and the check's root does not"
    elif needed in stdlib_modules(target):
        # Debian's CPython (the arm64 stand-in) ships distutils apart (python3-distutils).
        where = "in its standard library and the CPython standing in for Lambda's here lacks"
    else:
        return finding
    module = (finding.package or "").partition(":")[0]
    return replace(
        finding,
        severity=Severity.WARNING,
        message=f"import {module} needs {needed}, which {target.runtime.name} has {where}:"
        " not verified",
        fix="check the import in Lambda's own image (lambdalayer image pull, then check --image)",
    )


def _stood_in(finding: Finding, target: Target) -> Finding:
    """An import failure for a symbol version this machine's library lacks, where it stood in
    for Lambda's: not Lambda's failure when Lambda's has the version (or no data says), so a
    warning that says it was not verified; an error where the data says Lambda's lacks it."""
    if finding.kind != Kind.IMPORT or finding.severity is not Severity.ERROR:
        return finding
    verdict = stand_in_verdict(finding.message, target)
    if verdict is None:
        return finding
    _lambda_has, why = verdict
    module = (finding.package or "").partition(":")[0]
    return replace(
        finding,
        severity=Severity.WARNING,
        message=f"import {module} {why}",
        fix="check the import in Lambda's own image (lambdalayer image pull, then check --image)",
    )


def _bundled_but_not_loaded(finding: Finding, main: LayerView, target: Target) -> Finding:
    """A library-not-found failure whose fix names a distribution the layer already has
    (psycopg[binary] to a layer with psycopg-binary): the bundled copy is there but did not
    load — the wrong CPython or CPU build, never a reason to add it again."""
    fix = finding.fix or ""
    if finding.kind is not Kind.IMPORT or "psycopg[binary]" not in fix:
        return finding
    bundled = next(
        (
            f"{name} {main.distributions[name]}"
            for name in ("psycopg-binary", "psycopg-c")
            if name in main.distributions
        ),
        None,
    )
    if bundled is None:
        return finding
    return replace(
        finding,
        fix=f"the layer has {bundled}, which bundles the library, but it did not load: its"
        f" build must be the one for {target.runtime.python_version} on {target.machine} (see"
        " the abi and binaries findings); build the layer for this target"
        f" ({option('Target.runtime', target.runtime.name)} {option('Target.arch', target.arch)})",
    )


def _deployment(main: LayerView, others: Sequence[LayerView]) -> Deployment:
    """Where Lambda puts the files: layers in /opt (in order, the checked one last), function
    packages in /var/task, an image's at its own paths."""
    layers = [other.placement for other in others if other.is_layer]
    functions = [other.placement for other in others if not other.is_layer]
    layout = main.placement.layout
    if layout is Layout.IMAGE:
        return Deployment(tuple(layers), tuple(functions), image=main.placement)
    if layout is Layout.FUNCTION:
        return Deployment(tuple(layers), (*functions, main.placement))
    return Deployment((*layers, main.placement), tuple(functions))


def _missing_name(
    result: ImportResult | None, module: str
) -> tuple[str | None, str | None, str | None]:
    """The module ``result`` found missing, the namespace package's piece it lacked, and the
    name a distribution would provide for it (the missing module's first part, the piece, or
    a missing piece of the module's own namespace)."""
    missing = result.missing if result else None
    needed = missing.split(".")[0] if missing else None
    if missing and needed == module.split(".", maxsplit=1)[0] and "." in missing:
        # "No module named 'opentelemetry.semconv'" from opentelemetry.util.http: another
        # piece of the same namespace package, which another distribution would bring.
        needed = missing
    # "cannot import name 'bigquery_storage' from 'google.cloud' (unknown location)": a
    # namespace package without the distribution that would fill that name in.
    piece = result.piece if result and not missing else None
    if piece is not None:
        needed = piece
    return missing, piece, needed


def _judged(
    finding: Finding,
    main: LayerView,
    results: Sequence[ImportResult],
    provided: set[str],
    *,
    asked: bool,
    on_index: Mapping[str, bool] | None = None,
) -> tuple[Finding, str | None]:
    """An import failure for want of a module no zip has, said as what it is; with the
    missing name, when it is one (for the caller to ask the index about).

    When another top-level module of the same distribution imports (not a stray one such as
    its own ``tests``: :data:`~lambdalayer.check.providers.STRAY_TOP_LEVEL`), the failing
    one is an optional part (duckdb's ``adbc_driver_duckdb`` needs pyarrow): a warning naming the
    missing piece and the extra that brings it. So is a module of a *dependency* whose
    dependents import (ipython's matplotlib-inline needs matplotlib only for ``%matplotlib
    inline``), unless the module was ``asked`` for (named to import, the handler's).
    Otherwise the distribution itself does not import: an error saying exactly which
    dependency no requirement provides. What is missing is read from the result's facts
    (:class:`ImportResult`), not from its message; what to add is named by
    :func:`~lambdalayer.check.providers.what_to_add` (``on_index``: the index's answers).
    """
    module = (finding.package or "").partition(":")[0]
    result = next((item for item in results if item.module == finding.package), None)
    missing, piece, needed = _missing_name(result, module)
    if needed is None and result is not None and not result.ok:
        return _failing_dependency(finding, main, results, module, asked=asked), None
    if needed is None or needed in provided or module.split(".")[0] == needed:
        return finding, None
    if result is not None and result.imported and needed == missing:
        # "No module named 'ruamel'" from "import ruamel.yaml": the project is named after
        # the whole dotted name (ruamel.yaml), never after its first part.
        needed = result.imported
    owner = main.top_level_owners.get(module.split(".")[0])
    sibling_ok = [
        item.module
        for item in results
        if item.ok
        and owner is not None
        and main.top_level_owners.get(item.module) == owner
        and item.module not in STRAY_TOP_LEVEL
    ]
    declared = _declared(main.requires.get(owner or "", ()), needed)
    what = what_to_add(needed, on_index)
    if sibling_ok:
        extra = f" (the extra {owner}[{declared}] brings it)" if declared else ""
        return replace(
            finding,
            severity=Severity.WARNING,
            message=f"{module} (part of {owner}) imports {needed}, which no requirement provides;"
            f" {' and '.join(sibling_ok[:3])} {'import' if len(sibling_ok) > 1 else 'imports'},"
            f" so {module} is optional here{extra}",
            fix=f"add {owner}[{declared}] if the function uses {module}"
            if declared
            else f"add {what} if the function uses {module}",
        ), needed
    dependents = [] if asked or owner is None else _importing_dependents(main, owner, results)
    if dependents:
        return replace(
            finding,
            severity=Severity.WARNING,
            message=f"{module} (part of {owner}, a dependency of {' and '.join(dependents[:3])})"
            f" imports {needed}, which no requirement provides; {owner}'s dependents import"
            f" without it, so {module} is optional here",
            fix=f"add {what} if the function uses {module}",
        ), needed
    if piece is not None:
        return finding, None  # the package itself fails: its own message says the most
    undeclared = f" ({owner} does not declare it)" if owner and declared is None else ""
    return replace(
        finding,
        message=f"{module} imports {needed}, which no requirement provides{undeclared}: add {what}",
        fix=f"add {to_add(needed, on_index)[0]} to the requirements",  # the message says why
    ), needed


def _failing_dependency(
    finding: Finding,
    main: LayerView,
    results: Sequence[ImportResult],
    module: str,
    *,
    asked: bool,
) -> Finding:
    """A module of a *dependency* that fails at import for another reason than a missing
    module (gitpython's ``git`` raises without a git program, mlflow-skinny needs it only to
    record a commit): when every distribution that requires it imports, it is optional here
    — a warning; an error when the module was asked for, or when a dependent fails too."""
    if asked or finding.kind is not Kind.IMPORT or finding.severity is not Severity.ERROR:
        return finding
    owner = main.top_level_owners.get(module.split(".", maxsplit=1)[0])
    dependents = [] if owner is None else _importing_dependents(main, owner, results)
    if not dependents:
        return finding
    return replace(
        finding,
        severity=Severity.WARNING,
        message=f"{finding.message} ({module} is part of {owner}, a dependency of"
        f" {' and '.join(dependents[:3])}, which {'import' if len(dependents) > 1 else 'imports'}"
        f" without it: optional here)",
        fix=f"{finding.fix} — if the function uses {module}" if finding.fix else None,
    )


def _importing_dependents(
    main: LayerView, owner: str, results: Sequence[ImportResult]
) -> list[str]:
    """The distributions of the layer that require ``owner``, when each of them that has a
    module imports (a dependency failing in a part its dependents do not load); else none."""
    wanted = canonicalize_name(owner)
    imported: dict[str, list[bool]] = {
        canonicalize_name(name): []
        for name, requires in main.requires.items()
        if canonicalize_name(name) != wanted and _declared(requires, wanted) is not None
    }
    for item in results:
        dist = main.top_level_owners.get(item.module.partition(":")[0].split(".")[0])
        if dist is not None and canonicalize_name(dist) in imported:
            imported[canonicalize_name(dist)].append(item.ok)
    tried = {name: oks for name, oks in imported.items() if oks}
    if not tried or not all(any(oks) for oks in tried.values()):
        return []
    return sorted(tried)


def _declared(requires: Sequence[str], module: str) -> str | None:
    """The extra under which ``requires`` names ``module``'s distribution; "" when always; None if never."""
    wanted = canonicalize_name(module)
    for line in requires:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        if canonicalize_name(requirement.name) != wanted:
            continue
        marker = str(requirement.marker or "")
        extra = re.search(r"extra\s*==\s*['\"]([^'\"]+)['\"]", marker)
        return extra.group(1) if extra else ""
    return None


def _placed_elves(
    main: LayerView, others: Sequence[LayerView], *, function: bool
) -> list[PlacedElf]:
    """Every ELF file of the placements where Lambda has it (only the main one's are checked)."""
    where = "/var/task" if function else main.placement.layout.extracted_at
    placed = placed_elves(main, where, checked=True)
    for other in others:
        placed += placed_elves(other, "/opt" if other.is_layer else "/var/task", checked=False)
    return placed


def _why_not_extracted(layers: Sequence[LayerView], unzipped_total: int, limit: int) -> str | None:
    """Why the zips are not extracted for the import check (over the quota, damaged), if they are not."""
    if unzipped_total > limit:
        return f"not extracted: {unzipped_total:,} bytes unzipped is over Lambda's quota"
    damaged = [layer.path.name for layer in layers if layer.damaged]
    if damaged:
        return f"not extracted: {', '.join(damaged)} has members no unzip reads alike"
    return None


def _modules_to_import(
    main: LayerView,
    target: Target,
    imports: Sequence[str] | None,
    function: bool,
    handler: str | None,
) -> list[str]:
    if imports:
        return list(imports)
    if function and handler and "." in handler:
        module, _, attribute = handler.rpartition(".")
        return [f"{module}:{attribute}"]
    prefixes = main.site_prefixes(target, function=function)
    return top_level_modules((file.arcname for file in main.files), prefixes)


def _check_handler(main: LayerView, handler: str | None, findings: list[Finding]) -> None:
    """A function package's handler module must be in the zip (its import is tried later)."""
    if handler is None:
        return
    module, _, attribute = handler.rpartition(".")
    if not module or not attribute:
        findings.append(
            Finding(
                Severity.ERROR,
                Kind.HANDLER,
                f"handler {handler!r} is not module.function",
                None,
                None,
                "give the handler as Lambda does, e.g. app.main.handler",
            )
        )
        return
    base = module.replace(".", "/")
    names = {file.arcname for file in main.files}
    if not {f"{base}.py", f"{base}.pyc", f"{base}/__init__.py", f"{base}/__init__.pyc"} & names:
        deeper = sorted(
            name.removesuffix(".py").replace("/", ".")
            for name in names
            if name.endswith(f"/{base}.py") and not name.startswith("python/")
        )
        fix = (
            f"the zip has {deeper[0]}: use"
            f" {option('CheckRequest.handler', f'{deeper[0]}.{attribute}')} (Lambda imports from"
            " the zip's root)"
            if deeper
            else f"point {option('CheckRequest.handler')} at a module of the function's code, e.g."
            " app.main.handler"
        )
        findings.append(
            Finding(
                Severity.ERROR,
                Kind.HANDLER,
                f"handler module {module} is not in the zip",
                f"{base}.py",
                None,
                fix,
            )
        )
