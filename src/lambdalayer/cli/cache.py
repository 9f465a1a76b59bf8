"""The ``cache`` command: where lambdalayer's cache is, what it holds, and pruning it."""

from __future__ import annotations

import argparse
from pathlib import Path

from lambdalayer.cache import default_root
from lambdalayer.cache.prune import (
    PrunePolicy,
    PruneResult,
    parse_days,
    parse_size,
    prune,
    usage,
)
from lambdalayer.check.sizes import human_bytes
from lambdalayer.cli.common import EXIT_OK, print_json
from lambdalayer.cli.options_global import add_global_options
from lambdalayer.errors import InputError
from lambdalayer.wording import counted
from lambdalayer.zipnames import printable

DESCRIPTION = (
    "lambdalayer keeps downloaded wheels, layer fragments, resolutions, check results, "
    "synthesized roots and unpacked images in one cache, shared by every build. "
    "'cache dir' prints where it is, 'cache info' what each part of it holds, "
    "'cache prune' removes what is old or over a size."
)
EPILOG = """\
examples:
  lambdalayer cache dir
  lambdalayer cache info
  lambdalayer cache prune --older 30            # unused for 30 days
  lambdalayer cache prune --max-size 5G         # least recently used first, down to 5 GiB
  lambdalayer cache prune --max-size 0 --dry-run

The cache is never pruned on its own: every new target, version, root and pulled image
adds to it ('cache info' shows how much). Pruning is safe while builds run: an entry a running command holds (a fragment it copies,
the root its imports run in) is left and counted as in use; whatever is removed is made
again when next needed, with the same bytes. Sizes: K, M, G are 1024's; KB, MB, GB 1000's.
uv's own cache (the 'uv' line) is left to 'uv cache prune' with UV_CACHE_DIR set to it.
"""


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """``cache``'s sub-commands and arguments."""
    actions = parser.add_subparsers(
        dest="action", required=True, metavar="ACTION", help="dir, info or prune"
    )
    for name, help_text in (
        ("dir", "print the cache's directory"),
        ("info", "entries and bytes per part of the cache"),
        ("prune", "remove entries unused for a while, or over a size"),
    ):
        action = actions.add_parser(name, help=help_text, description=help_text)
        action.add_argument(
            "--cache-dir",
            type=Path,
            metavar="DIR",
            help="the cache (default: $LAMBDALAYER_CACHE_DIR, else ~/.cache/lambdalayer)",
        )
        add_global_options(action, top=False)
        if name == "prune":
            action.add_argument(
                "--older",
                metavar="AGE",
                help="remove entries unused for AGE: days (30, 0.5) or 30d, 12h, 2w",
            )
            action.add_argument(
                "--max-size",
                metavar="SIZE",
                help="then remove the least recently used until the cache is at most SIZE",
            )
            action.add_argument(
                "--dry-run", action="store_true", help="say what would be removed; remove nothing"
            )


def execute(args: argparse.Namespace) -> int:
    """Run ``cache``."""
    root: Path = args.cache_dir if args.cache_dir is not None else default_root()
    if args.action == "dir":
        return _dir(root, as_json=args.json)
    if args.action == "info":
        return _info(root, as_json=args.json)
    return _prune(root, args)


def _dir(root: Path, *, as_json: bool) -> int:
    if as_json:
        print_json({"ok": True, "cache_dir": str(root)})
    else:
        print(printable(str(root)))
    return EXIT_OK


def _info(root: Path, *, as_json: bool) -> int:
    rows = usage(root)
    total = sum(row.size for row in rows)
    if as_json:
        print_json(
            {
                "ok": True,
                "cache_dir": str(root),
                "size": total,
                "buckets": [
                    {"bucket": row.bucket.label, "entries": row.entries, "size": row.size}
                    for row in rows
                ],
            }
        )
        return EXIT_OK
    print(f"cache: {printable(str(root))}")
    print(f"  {'part':<12} {'entries':>8} {'size':>11}  holds")
    for row in rows:
        if row.entries:
            size = human_bytes(row.size)
            print(f"  {row.bucket.label:<12} {row.entries:>8} {size:>11}  {row.bucket.info.holds}")
    print(f"  {'total':<12} {sum(row.entries for row in rows):>8} {human_bytes(total):>11}")
    print("the cache is never pruned on its own: it grows with every target, version and image;")
    print(
        "prune it with 'lambdalayer cache prune --older 30d' (or --max-size 5G), safe while"
        " builds run"
    )
    return EXIT_OK


def _prune(root: Path, args: argparse.Namespace) -> int:
    if args.older is None and args.max_size is None:
        raise InputError(
            "cache prune needs --older DAYS or --max-size SIZE (or both)",
            hint="lambdalayer cache prune --older 30, or --max-size 5G; --dry-run shows first",
        )
    policy = PrunePolicy(
        older_than=parse_days(args.older, "--older") if args.older is not None else None,
        max_size=parse_size(args.max_size, "--max-size") if args.max_size is not None else None,
        dry_run=args.dry_run,
    )
    result = prune(root, policy)
    if args.json:
        print_json({"ok": True, "cache_dir": str(root), **_prune_document(result)})
        return EXIT_OK
    verb = "would remove" if result.dry_run else "removed"
    print(
        f"{verb} {counted(len(result.removed), 'entry', 'entries')} ({human_bytes(result.freed)});"
        " the cache is"
        f" {human_bytes(result.size_after)} (was {human_bytes(result.size_before)})"
    )
    by_bucket: dict[str, list[int]] = {}
    for entry in result.removed:
        counts = by_bucket.setdefault(entry.bucket.label, [0, 0])
        counts[0] += 1
        counts[1] += entry.size
    for label, (count, size) in sorted(by_bucket.items()):
        print(
            f"  {label:<12} {count:>6} {'entry  ' if count == 1 else 'entries'}  {human_bytes(size):>11}"
        )
    if result.in_use:
        print(f"left {counted(len(result.in_use), 'entry', 'entries')} a running command holds")
    return EXIT_OK


def _prune_document(result: PruneResult) -> dict[str, object]:
    return {
        "dry_run": result.dry_run,
        "removed": [
            {"bucket": entry.bucket.label, "key": entry.key, "size": entry.size}
            for entry in result.removed
        ],
        "in_use": [{"bucket": entry.bucket.label, "key": entry.key} for entry in result.in_use],
        "freed": result.freed,
        "size_before": result.size_before,
        "size_after": result.size_after,
    }
