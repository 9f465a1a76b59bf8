"""What a trim keeps that its trace never opened, by the rule that kept it (issue #34).

    python benchmarks/trim_kept.py TRIM-ARGUMENTS...

``TRIM-ARGUMENTS`` are ``lambdalayer trim``'s (the handler, ``--function``/``--zip``,
``--layer``, ``--event``, ``--manifest``, ``--level``, …; ``--runs 0`` saves time). The trim
runs in this process; its first trace (the untrimmed artefacts) is kept, and each file of
each trimmed artefact is put in one bucket: opened by the trace (any event, init
included), or kept without being opened because it is metadata (``*.dist-info``), a
``.pth``, a file of no distribution, kept whatever the trace saw (``trim_always.toml``),
another file of a module the trace opened (a source beside the bytecode that was read),
a keep line's file that was not opened, an ``__init__`` on a kept path, or in the
``DT_NEEDED`` closure of a kept ELF object. Printed: megabytes and files per bucket, the
largest files of each, and the bytes opened per kind of file.

On benchmarks/trim.py's cases (``--keep DIR`` leaves their artefacts and events there)::

    cd DIR/modules/parquet && python REPO/benchmarks/trim_kept.py app.handler --function src \\
        --layer layer.zip --runtime python3.12 --memory 1024 --timeout 60 --event event-0.json \\
        --event event-1.json --manifest /tmp/m.toml -o /tmp/trimmed --runs 0 --level modules
"""

from __future__ import annotations

import fnmatch
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from lambdalayer.cli.main import main
from lambdalayer.targets import get_runtime
from lambdalayer.trace import run
from lambdalayer.trace.trace import Trace
from lambdalayer.trim.apply import ArtefactFile, describe_files, plan_trim, untraceable
from lambdalayer.trim.manifest import NO_DISTRIBUTION, Manifest, matches, read_manifest
from lambdalayer.trim.units import Kind, package_inits


def _value(arguments: list[str], flag: str) -> str | None:
    return arguments[arguments.index(flag) + 1] if flag in arguments else None


def _bucket(item: ArtefactFile, named: bool, inits: set[str]) -> str:
    """The first rule, in apply's order, that keeps ``item`` though no event opened it."""
    rules = [
        (item.distribution == NO_DISTRIBUTION, "no distribution (the function's own, unowned)"),
        (item.kind is Kind.METADATA, "*.dist-info"),
        (item.kind is Kind.PTH, ".pth"),
        (
            any(fnmatch.fnmatchcase(item.rel, pattern) for pattern, _ in untraceable()),
            "kept whatever the trace saw (trim_always.toml: CA bundles)",
        ),
        (
            named and item.kind is Kind.MODULE,
            "another file of an opened module (its source, when its bytecode was read)",
        ),
        (named, "a keep line's file, not opened"),
        (item.unit in inits, "an __init__ on a kept path, not opened"),
    ]
    return next(
        (label for applies, label in rules if applies),
        f"the DT_NEEDED closure of a kept object ({item.kind.value})",
    )


def breakdown(traced: Trace, manifest: Manifest, arguments: list[str]) -> list[str]:
    """The lines printed: kept bytes per bucket, then opened bytes per kind."""
    opened = {path for _, paths in traced.opened for path in paths}
    code = Path(_value(arguments, "--function") or _value(arguments, "--zip") or ".")
    layers = tuple(Path(arguments[n + 1]) for n, flag in enumerate(arguments) if flag == "--layer")
    sizes: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    largest: dict[str, list[tuple[int, str]]] = defaultdict(list)
    kinds: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    kept_bytes = opened_bytes = 0
    patterns = manifest.patterns()
    runtime = _value(arguments, "--runtime")
    python = get_runtime(runtime).python if runtime else None
    cache_tag = f"cpython-{python[0]}{python[1]}" if python else None
    for _, placement in run._artefacts(code, layers):
        files = describe_files(placement)
        plan = plan_trim(files, manifest, cache_tag)
        named = {
            item.file.arcname
            for item in files
            if any(matches(pattern, item.unit) for pattern in patterns)
        }
        inits = {init for item in plan.kept for init in package_inits(item.rel)}
        for item in plan.kept:
            kept_bytes += item.file.size
            if f"{placement.layout.extracted_at}/{item.file.arcname}" in opened:
                opened_bytes += item.file.size
                kind = item.kind.value
                if item.kind is Kind.MODULE:
                    kind += " " + ("extension" if ".so" in item.rel else item.rel.rsplit(".", 1)[1])
                kinds[kind][0] += 1
                kinds[kind][1] += item.file.size
                continue
            bucket = _bucket(item, item.file.arcname in named, inits)
            sizes[bucket][0] += 1
            sizes[bucket][1] += item.file.size
            largest[bucket].append((item.file.size, item.rel))
    lines = [
        f"level {manifest.level}: kept {kept_bytes / 1e6:.1f} MB, of which the trace opened"
        f" {opened_bytes / 1e6:.1f} MB; kept without being opened:"
    ]
    for bucket, (count, size) in sorted(sizes.items(), key=lambda pair: -pair[1][1]):
        lines.append(f"  {size / 1e6:7.2f} MB {count:5} files  {bucket}")
        for file_size, rel in sorted(largest[bucket], reverse=True)[:3]:
            lines.append(f"        {file_size / 1e6:7.2f} MB  {rel}")
    lines.append("opened, by kind:")
    for kind, (count, size) in sorted(kinds.items(), key=lambda pair: -pair[1][1]):
        lines.append(f"  {size / 1e6:7.2f} MB {count:5} files  {kind}")
    return lines


def main_kept() -> None:
    """Run the trim with its first trace kept, then print the breakdown."""
    arguments = sys.argv[1:]
    traces: list[Trace] = []
    real = run.trace

    def keeping(*args, **kwargs):  # type: ignore[no-untyped-def]
        traced = real(*args, **kwargs)
        traces.append(traced)
        return traced

    run.trace = keeping  # type: ignore[assignment]
    code = main(["trim", *arguments, "-q"])
    if code or not traces:
        sys.exit(f"the trim failed ({code})")
    manifest = read_manifest(Path(_value(arguments, "--manifest") or "lambdalayer.trim.toml"))
    print(f"$ python benchmarks/trim_kept.py {' '.join(arguments)}")
    for line in breakdown(traces[0], manifest, arguments):
        print(line)


if __name__ == "__main__":
    main_kept()
