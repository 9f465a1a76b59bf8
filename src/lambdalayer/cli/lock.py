"""The ``lock`` command: the target's ``pylock.toml`` without building the layer.

For pre-commit hooks and CI cache keys: the same resolution ``build`` would make (the
exact glibc floor, the Python version, what another layer provides), written as PEP 751.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lambdalayer.builder.pipeline import lock_for
from lambdalayer.builder.plan import Flags, OutputFlags, plan_locks
from lambdalayer.cli.common import EXIT_OK, print_json, stderr
from lambdalayer.cli.options import (
    add_requirement_inputs,
    add_sources,
    add_targets,
    input_flags,
    source_flags,
    split,
)
from lambdalayer.fsutil import atomic_write_bytes
from lambdalayer.lock import dump_pylock
from lambdalayer.wording import counted

DESCRIPTION = "Resolve for a Lambda runtime and CPU and write PEP 751 pylock.toml."
EPILOG = """\
examples:
  lambdalayer lock -r requirements.txt --runtime python3.12 --arch arm64
  lambdalayer lock -r pyproject.toml --runtime python3.11,python3.12 --output-dir locks

One target writes -o (default pylock.toml); several write pylock.<target>.toml in
--output-dir (default: the current directory), e.g. pylock.python312-arm64.toml (PEP 751
names have no dot inside). 'build --from-lock FILE' builds one exactly.
"""


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """``lock``'s arguments."""
    add_requirement_inputs(parser)
    add_targets(parser)
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="FILE",
        help="the lock to write, for one target (default: pylock.toml)",
    )
    parser.add_argument(
        "--output-dir", type=Path, metavar="DIR", help="where the locks of several targets go"
    )
    add_sources(parser)


def execute(args: argparse.Namespace) -> int:
    """Run ``lock``."""
    flags = Flags(
        inputs=input_flags(args),
        runtimes=split(args.runtime),
        arches=split(args.arch),
        targets=split(args.target),
        sources=source_flags(args),
        outputs=OutputFlags(output_dir=args.output_dir, lock=args.output),
    )
    written = []
    for job in plan_locks(flags):
        lock = lock_for(job.source, job.target, job.beneath, job.cache_dir, stderr)
        job.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(job.path, dump_pylock(lock).encode("utf-8"))
        written.append(
            {"target": job.target.to_json(), "path": str(job.path), "packages": len(lock.packages)}
        )
        if not args.json:
            print(
                f"locked {counted(len(lock.packages), 'package')} for {job.target.name}: {job.path}"
            )
    if args.json:
        print_json({"ok": True, "locks": written})
    return EXIT_OK
