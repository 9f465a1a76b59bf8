"""``lambdalayer trim``: trace, write the manifest, apply it, verify, measure.

>>> result = trim(TrimRequest(invoke_request, events, Path("trimmed")))  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lambdalayer.check.request import CheckRequest
from lambdalayer.check.rules import check
from lambdalayer.errors import TrimError, option
from lambdalayer.fsutil import atomic_write_bytes
from lambdalayer.invoke import InvokeRequest, invoke_events
from lambdalayer.layer.archive import write_placement
from lambdalayer.placement import Placement, read_tree, read_zip
from lambdalayer.report import TrimFacts
from lambdalayer.targets import Layout, Target
from lambdalayer.trace.trace import Trace, TracedEvent, trace
from lambdalayer.trace.verify import verify_traces
from lambdalayer.trim.apply import (
    ArtefactFile,
    TrimPlan,
    describe_files,
    plan_trim,
    trimmed_placement,
)
from lambdalayer.trim.manifest import (
    MANIFEST_NAME,
    NO_DISTRIBUTION,
    Kept,
    Level,
    Manifest,
    dropped_lines,
    read_manifest,
    render_manifest,
)
from lambdalayer.trim.units import in_pycache

__all__ = [
    "ArtefactTrim",
    "Timing",
    "TrimRequest",
    "TrimResult",
    "apply_manifest",
    "trim",
    "trim_facts",
]

Log = Callable[[str], None]
_IMPORT_TIME = re.compile(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|\s?( *)(\S+)")


@dataclass(frozen=True)
class TrimRequest:
    """What to trace (the handler, its code and layers, the events) and how to trim."""

    invoke: InvokeRequest
    events: tuple[TracedEvent, ...]
    output_dir: Path
    manifest: Path = Path(MANIFEST_NAME)
    level: Level = Level.MODULES
    keep: tuple[str, ...] = ()
    ignore_json_paths: tuple[str, ...] = ()
    runs: int = 3  # cold runs each side for the medians
    retrace: bool = True  # False: apply the manifest as it is (``--manifest`` given, no trace)


@dataclass(frozen=True)
class ArtefactTrim:
    """One artefact before and after: where each is and the bytes per distribution."""

    source: Path
    output: Path
    layout: Layout
    sizes: dict[str, tuple[int, int]]  # distribution → unzipped bytes before, after
    trimmed_modules: int
    sourceless_modules: int = 0  # level bytecode-only: kept modules whose .pyc moved in place

    @property
    def before(self) -> int:
        """Unzipped bytes before."""
        return sum(before for before, _ in self.sizes.values())

    @property
    def after(self) -> int:
        """Unzipped bytes after."""
        return sum(after for _, after in self.sizes.values())


@dataclass(frozen=True)
class Timing:
    """Medians of cold runs: Init Duration and Duration in milliseconds."""

    init_ms: float | None
    duration_ms: float
    runs: int


@dataclass(frozen=True)
class TrimResult:
    """Everything ``lambdalayer trim`` found and made."""

    manifest: Manifest
    manifest_path: Path
    artefacts: tuple[ArtefactTrim, ...]
    events_verified: int
    traced_how: str
    before: Timing | None
    after: Timing | None
    costliest_imports: tuple[tuple[str, int], ...]  # module, cumulative microseconds
    # Traced events that answered an error before trimming (label, errorType): a trim keeps
    # what those reached, which is rarely what the function needs.
    errors_before: tuple[tuple[str, str], ...] = ()
    # Lines of the manifest this trace replaced that the new one lacks (a reviewer's own).
    dropped: tuple[str, ...] = ()


def _artefacts(code: Path, layers: tuple[Path, ...]) -> list[tuple[Path, Placement]]:
    """The layers' files and the function's (its zip, or its directory)."""
    function = (
        read_tree(code, Layout.FUNCTION) if code.is_dir() else read_zip(code, Layout.FUNCTION)
    )
    return [*((layer, read_zip(layer, Layout.SITE_PACKAGES)) for layer in layers), (code, function)]


def build_manifest(
    traced: Trace, described: Sequence[tuple[Layout, Sequence[ArtefactFile]]], level: Level
) -> Manifest:
    """The manifest a trace gives: per distribution, each file it opened and the event — a
    module by its unit (its source), or at level ``bytecode-only`` by the file read (its
    ``__pycache__`` bytecode, which then keeps it without its source)."""
    first = traced.first_event()
    lines: dict[str, dict[str, str]] = {}
    for layout, files in described:
        for item in files:
            seen = first.get(f"{layout.extracted_at}/{item.file.arcname}")
            if seen is None or item.distribution == NO_DISTRIBUTION:
                continue
            bytecode = level is Level.BYTECODE_ONLY and in_pycache(item.rel)
            line = item.rel if bytecode else item.unit
            lines.setdefault(item.distribution, {}).setdefault(line, seen)
    distributions = tuple(
        (name, tuple(Kept(unit, event) for unit, event in sorted(lines[name].items())))
        for name in sorted(lines)
    )
    return Manifest(level, traced.events, distributions)


def apply_manifest(
    placement: Placement, manifest: Manifest, output: Path, cache_tag: str | None = None
) -> tuple[TrimPlan, Placement]:
    """``manifest`` applied to ``placement``, written as a deterministic zip at ``output``
    (``cache_tag``: the target Python's bytecode tag, see :func:`plan_trim`)."""
    plan = plan_trim(describe_files(placement), manifest, cache_tag)
    trimmed = trimmed_placement(placement, plan, manifest)
    output.parent.mkdir(parents=True, exist_ok=True)
    write_placement(output, trimmed)
    return plan, trimmed


def _timing(request: InvokeRequest, event: bytes, runs: int, log: Log) -> Timing:
    inits, durations = [], []
    for _ in range(max(1, runs)):
        invocation = invoke_events(request, [event], log).invocations[0]
        durations.append(invocation.duration_ms)
        if invocation.init_ms is not None:
            inits.append(invocation.init_ms)
    init = statistics.median(inits) if inits else None
    return Timing(init, statistics.median(durations), max(1, runs))


def parse_import_times(lines: Sequence[str]) -> list[tuple[str, int, int]]:
    """``-X importtime``'s lines as (module, cumulative microseconds, nesting level), in the
    order Python wrote them (an import after everything it imported)."""
    parsed = []
    for line in lines:
        found = _IMPORT_TIME.search(line)
        if found is not None:
            parsed.append((found[4], int(found[2]), len(found[3]) // 2))
    return parsed


def handler_imports(
    parsed: Sequence[tuple[str, int, int]], module: str, top: int = 10
) -> tuple[tuple[str, int], ...]:
    """What the handler module imported directly, costliest first.

    The runtime client imports the handler with ``importlib`` (which ``-X importtime`` does
    not time), so its own imports are the outermost ones after the client's last; a handler
    imported with an ``import`` statement has its own line, and its imports are nested in it.
    """
    ends = [index for index, (name, _, level) in enumerate(parsed) if name == module and level == 0]
    if ends:
        end = ends[-1]
        start = end
        while start > 0 and parsed[start - 1][2] > 0:
            start -= 1
        chosen = [(name, micro) for name, micro, level in parsed[start:end] if level == 1]
        chosen.append((module, parsed[end][1]))
    else:
        client = [
            index
            for index, (name, _, level) in enumerate(parsed)
            if level == 0 and name.split(".")[0] == "awslambdaric"
        ]
        after = parsed[client[-1] + 1 :] if client else parsed
        chosen = [(name, micro) for name, micro, level in after if level == 0]
    return tuple(sorted(chosen, key=lambda item: (-item[1], item[0]))[:top])


def costliest_imports(
    request: InvokeRequest, event: bytes, top: int = 10
) -> tuple[tuple[str, int], ...]:
    """``-X importtime`` of one cold start in the sandbox: the handler module's import and
    its direct imports that cost most (cumulative microseconds), the ones worth deferring."""
    lines: list[str] = []
    variables = (*request.config.variables, ("PYTHONPROFILEIMPORTTIME", "1"))
    config = dataclasses.replace(request.config, variables=variables)
    invoke_events(dataclasses.replace(request, config=config), [event], lines.append)
    module = request.handler.rsplit(".", 1)[0]
    return handler_imports(parse_import_times(lines), module, top)


def _check_static(artefact: ArtefactTrim, target: Target) -> None:
    """The static check of a trimmed artefact (its imports are proved by the events run again)."""
    function = artefact.layout is Layout.FUNCTION
    checked = check(
        read_zip(artefact.output, artefact.layout),
        CheckRequest(target, function=function, imports=None),
    )
    if checked.failed:  # its imports are not asked here: "not verified" is expected
        first = checked.errors[0]
        raise TrimError(
            f"the trimmed {artefact.output} fails the check: {first.message}",
            hint=f"keep what it needs ({option('TrimRequest.keep', 'PATH')}), or report it: a trim"
            " keeps what a check needs",
        )


def _output_name(source: Path, used: set[str]) -> str:
    stem = source.name.removesuffix(".zip") or "function"
    name, number = f"{stem}.zip", 1
    while name in used:
        number += 1
        name = f"{stem}-{number}.zip"
    used.add(name)
    return name


def _trimmed_request(request: InvokeRequest, outputs: list[Path]) -> InvokeRequest:
    *layers, function = outputs
    return dataclasses.replace(request, function=function, layers=tuple(layers))


def _planned(
    artefacts: Sequence[tuple[Path, Placement]],
    described: Sequence[tuple[Layout, tuple[ArtefactFile, ...]]],
    manifest: Manifest,
    cache_tag: str,
) -> list[tuple[Path, Placement, TrimPlan, Placement]]:
    """Each artefact's trim plan and trimmed files, before any is written (a ``.pyc`` that
    would move but the target cannot import is refused: :func:`trimmed_placement`)."""
    planned = []
    for (source, placement), (_, files) in zip(artefacts, described, strict=True):
        plan = plan_trim(files, manifest, cache_tag)
        planned.append((source, placement, plan, trimmed_placement(placement, plan, manifest)))
    return planned


def trim(request: TrimRequest, log: Log = print) -> TrimResult:
    """Trace the handler on the events, write the manifest (unless applying one as it is),
    apply it to every artefact, verify every event answers the same, measure both sides."""
    # A reviewed manifest is read (and a bad one refused) before anything runs.
    given = None if request.retrace else read_manifest(request.manifest).with_keep(request.keep)
    artefacts = _artefacts(request.invoke.function, request.invoke.layers)
    described = [(placement.layout, describe_files(placement)) for _, placement in artefacts]
    tag = request.invoke.target.cache_tag
    # a reviewed manifest's trims made (a .pyc it would move that the target cannot import
    # refused) before anything runs or is written
    planned = _planned(artefacts, described, given, tag) if given is not None else None
    traced = trace(request.invoke, request.events, log)
    dropped: tuple[str, ...] = ()
    if given is None:
        written = build_manifest(traced, described, request.level)
        dropped = dropped_lines(request.manifest, written)
        # a .pyc it would move that the target cannot import refused before it replaces any
        _planned(artefacts, described, written.with_keep(request.keep), tag)
        atomic_write_bytes(request.manifest, render_manifest(written).encode())
    manifest = given or read_manifest(request.manifest).with_keep(request.keep)
    used: set[str] = set()
    results, outputs = [], []
    if planned is None:  # every artefact's trim made (or refused) before any is written
        planned = _planned(artefacts, described, manifest, tag)
    for source, placement, plan, made in planned:
        output = request.output_dir / _output_name(source, used)
        output.parent.mkdir(parents=True, exist_ok=True)
        write_placement(output, made)
        modules = sum(1 for item in plan.trimmed if item.kind.value == "module")
        results.append(
            ArtefactTrim(
                source,
                output,
                placement.layout,
                plan.bytes_by_distribution(),
                modules,
                len(plan.moved),
            )
        )
        outputs.append(output)
    for item in results:
        _check_static(item, request.invoke.target)
    trimmed_request = _trimmed_request(request.invoke, outputs)
    after_trace = trace(trimmed_request, request.events, log)
    verified = verify_traces(traced, after_trace, request.ignore_json_paths)
    first = request.events[0].payload
    before = _timing(request.invoke, first, request.runs, log) if request.runs else None
    after = _timing(trimmed_request, first, request.runs, log) if request.runs else None
    costly = costliest_imports(request.invoke, first) if request.runs else ()
    errors = tuple(
        (event.label, str(invocation.error.get("errorType", "")))
        for event, invocation in zip(request.events, traced.report.invocations, strict=True)
        if invocation.error is not None
    )
    return TrimResult(
        manifest,
        request.manifest,
        tuple(results),
        verified,
        traced.how,
        before,
        after,
        costly,
        errors,
        dropped,
    )


def trim_facts(result: TrimResult, artefact: ArtefactTrim) -> TrimFacts:
    """What the report's trim section shows of ``artefact``."""
    before, after = result.before, result.after
    return TrimFacts(
        result.manifest.name,
        result.manifest.level.value,
        tuple((name, old, new) for name, (old, new) in artefact.sizes.items()),
        (before.init_ms if before else None, after.init_ms if after else None),
        (before.duration_ms if before else None, after.duration_ms if after else None),
        before.runs if before else 0,
        result.events_verified,
        result.costliest_imports,
    )
