"""The ``layers`` command: list a layer's versions; ``--prune`` deletes old ones, after asking."""

from __future__ import annotations

import argparse
import sys

from lambdalayer.aws.publish import LayerVersion, functions_layers, layer_versions, prunable, prune
from lambdalayer.cli.common import EXIT_OK, print_json
from lambdalayer.cli.options import add_aws, aws_settings
from lambdalayer.errors import InputError
from lambdalayer.wording import counted

DESCRIPTION = (
    "List a layer's versions (content hash, sizes, runtimes); --prune deletes all but the newest."
)
EPILOG = """\
examples:
  lambdalayer layers my-deps --region eu-west-1
  lambdalayer layers my-deps --prune --keep 3 --dry-run
  lambdalayer layers my-deps --prune --keep 3 --in-use-by my-function --yes

Deleted versions cannot be brought back, and their numbers are never reused.
"""


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """``layers``' arguments."""
    parser.add_argument("name", help="the layer's name")
    parser.add_argument(
        "--prune",
        action="store_true",
        help="delete all but the --keep newest versions (asks first on a terminal; --yes elsewhere)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="with --prune: only list what would go"
    )
    parser.add_argument("--yes", action="store_true", help="with --prune: delete without asking")
    parser.add_argument("--keep", type=int, default=3, help="versions kept by --prune (default 3)")
    parser.add_argument(
        "--in-use-by",
        action="append",
        default=[],
        metavar="FN",
        help="never delete what this function uses (repeatable)",
    )
    add_aws(parser)


def execute(args: argparse.Namespace) -> int:
    """Run ``layers``."""
    settings = aws_settings(args)
    if args.prune:
        doomed = prunable(
            settings, args.name, args.keep, functions_layers(settings, args.in_use_by)
        )
        listed = ", ".join(map(str, doomed)) or "none"
        what = f"delete {counted(len(doomed), 'version')} of {args.name} ({listed})"
        if args.dry_run:
            print(f"would delete {counted(len(doomed), 'version')} of {args.name}: {listed}")
        elif doomed and _confirmed(args.yes, what):
            deleted = prune(settings, args.name, doomed)
            print(
                f"deleted {counted(len(deleted), 'version')} of {args.name}:"
                f" {', '.join(map(str, deleted))}"
            )
        else:
            why = "none to delete" if not doomed else "not confirmed"
            print(f"deleted 0 versions of {args.name}: {why}")
    versions = layer_versions(settings, args.name)
    if args.json:
        print_json({"ok": True, "versions": [version.__dict__ for version in versions]})
        return EXIT_OK
    for version in versions:
        print(_row(version))
    if not versions:
        print(f"{args.name} has no versions")
    return EXIT_OK


def _row(version: LayerVersion) -> str:
    content = version.sha256[:12] if version.sha256 else "-"
    size = f"{version.zipped_bytes:,}" if version.zipped_bytes is not None else "-"
    unzipped = f"{version.unzipped_bytes:,}" if version.unzipped_bytes is not None else "-"
    runtimes = ",".join(version.runtimes) or "-"
    return (
        f"{version.version:>5}  {version.created:<32} sha256:{content:<12} {size:>12} B zipped"
        f" {unzipped:>12} B unzipped  {runtimes} {','.join(version.architectures) or '-'}"
    )


def _confirmed(yes: bool, what: str) -> bool:
    """``--yes``, or a yes typed on a terminal; without a terminal, an error asking for ``--yes``."""
    if yes:
        return True
    if not sys.stdin.isatty():
        raise InputError(
            f"--prune would {what}, and a deleted version cannot be brought back",
            hint="add --yes to delete them, or --dry-run to only list them",
        )
    answer = input(f"{what}? deleted versions cannot be brought back [y/N] ")
    return answer.strip().lower() in {"y", "yes"}
