"""The ``lock`` command: the target's ``pylock.toml`` without building the layer.

For pre-commit hooks and CI cache keys: the same resolution ``build`` would make (the
exact glibc floor, the Python version, what another layer provides), written as PEP 751.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lambdalayer.build import lock_for
from lambdalayer.cli.build import flags_of, jobs_of
from lambdalayer.cli.common import EXIT_OK, print_json, stderr
from lambdalayer.errors import InputError
from lambdalayer.fsutil import atomic_write_bytes
from lambdalayer.inputs.config import load_config
from lambdalayer.inputs.plan import artefacts as plan_artefacts
from lambdalayer.inputs.plan import targets as plan_targets
from lambdalayer.lock import dump_pylock
from lambdalayer.targets import ARCH_ALIASES

_EPILOG = """\
examples:
  lambdalayer lock -r requirements.txt --runtime python3.12 --arch arm64
  lambdalayer lock -r pyproject.toml --runtime python3.11,python3.12 --output-dir locks

One target writes -o (default pylock.toml); several write pylock.<runtime>-<arch>.toml in
--output-dir (default: the current directory). 'build --from-lock FILE' builds one exactly.
"""

# Options of ``build`` that ``lock`` does not take, with the values that mean "not given".
_BUILD_DEFAULTS: dict[str, object] = {
    "layout": None, "bytecode": "none", "no_slim": False, "skip_rule": [], "keep": [], "drop": [],
    "no_check": True, "python": None, "function": None, "handler": None, "from_lock": None,
    "lock": None, "region": None, "endpoint_url": None, "profile": None, "publish": None,
    "attach": None, "output": None,
}  # fmt: skip


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``lock`` to the CLI."""
    lock = commands.add_parser(
        "lock", help="write the target's pylock.toml without building",
        description="Resolve for a Lambda runtime and CPU and write PEP 751 pylock.toml.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    lock.set_defaults(**_BUILD_DEFAULTS)
    lock.add_argument(
        "packages", nargs="*", metavar="PACKAGE", help="requirements, e.g. requests>=2.31"
    )
    lock.add_argument(
        "-r",
        "--requirements",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="requirements.txt, pyproject.toml, uv.lock, poetry.lock or pylock*.toml (repeatable)",
    )
    lock.add_argument(
        "--extra", action="append", default=[], metavar="NAME", help="a pyproject extra to include"
    )
    lock.add_argument(
        "--group", action="append", default=[], metavar="NAME", help="a dependency group to include"
    )
    lock.add_argument(
        "--project", type=Path, metavar="DIR", help="the project directory (default: here)"
    )
    lock.add_argument(
        "--runtime",
        action="append",
        default=[],
        metavar="NAME",
        help="Lambda runtime(s), e.g. python3.12 or 3.12",
    )
    lock.add_argument(
        "--arch", action="append", default=[], metavar="ARCH", help=f"CPU(s): {ARCH_ALIASES}"
    )
    lock.add_argument("-o", "--output", dest="lock_path", type=Path, metavar="FILE",
                      help="the lock to write, for one target (default: pylock.toml)")  # fmt: skip
    lock.add_argument(
        "--output-dir", type=Path, metavar="DIR", help="where the locks of several targets go"
    )
    lock.add_argument(
        "--index-url", metavar="URL", help="the package index (default: PyPI, or uv's settings)"
    )
    lock.add_argument(
        "--extra-index-url",
        action="append",
        default=[],
        metavar="URL",
        help="another index (repeatable)",
    )
    lock.add_argument(
        "--cache-dir",
        type=Path,
        metavar="DIR",
        help="lambdalayer's cache (default: $LAMBDALAYER_CACHE_DIR)",
    )
    lock.add_argument(
        "--on-top-of", metavar="SPEC", help="leave out what this layer provides (as in build)"
    )
    lock.add_argument(
        "--exclude-runtime-provided",
        action="store_true",
        help="leave out the runtime's boto3 and its dependencies",
    )
    lock.add_argument("--no-build", action="store_true", help="never build source-only packages")
    lock.add_argument("--json", action="store_true", help="print what was written as JSON")


def run(args: argparse.Namespace) -> int:
    """Run ``lock``."""
    project_dir = args.project or Path.cwd()
    config = load_config(project_dir)
    targets = plan_targets(flags_of(args), config)
    artefacts = plan_artefacts(flags_of(args), config, project_dir)
    single = len(targets) * len(artefacts) == 1
    if not single and args.lock_path:
        raise InputError(
            f"-o names one file, but this run locks {len(targets) * len(artefacts)} targets",
            hint="use --output-dir DIR: each lock is written as pylock.<runtime>-<arch>.toml there",
        )
    written = []
    for job in jobs_of(args, config, project_dir, True, artefacts, targets):
        target = job.options.target
        if single:
            path = args.lock_path or Path("pylock.toml")
        else:
            prefix = "" if len(artefacts) == 1 else f"{job.name}."
            path = (args.output_dir or Path.cwd()) / f"pylock.{prefix}{target.name}.toml"
        lock = lock_for(job.options, stderr)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, dump_pylock(lock).encode("utf-8"))
        written.append(
            {"target": target.to_json(), "path": str(path), "packages": len(lock.packages)}
        )
        if not args.json:
            print(f"locked {len(lock.packages)} packages for {target.name}: {path}")
    if args.json:
        print_json({"ok": True, "locks": written})
    return EXIT_OK
