"""The ``audit`` command: known vulnerabilities and licences of what a zip (or a lock) ships."""

from __future__ import annotations

import argparse
from pathlib import Path

from lambdalayer.cache import Cache
from lambdalayer.cli.common import EXIT_OK, print_json
from lambdalayer.cli.options import add_strict
from lambdalayer.cli.text import print_review
from lambdalayer.fsutil import file_sha256
from lambdalayer.inputs.config import load_config
from lambdalayer.inputs.ontopof import MANAGED, OnTopOf
from lambdalayer.inputs.policy import AuditPolicy, FailOn, with_flags
from lambdalayer.lock import read_pylock
from lambdalayer.net.index import IndexConfig
from lambdalayer.supply.describe import ZipQuestion, describe_zip
from lambdalayer.supply.review import ReviewRequest, enforce, inventory_of_lock, review
from lambdalayer.targets import ARCH_ALIASES

DESCRIPTION = (
    "Looks every distribution and version up in the index's JSON API (its vulnerabilities:"
    " the OSV data pip-audit uses), and checks licences against a deny list. What the index"
    " cannot answer is reported as not verified, never as clean."
)
EPILOG = """\
examples:
  lambdalayer audit layer.zip
  lambdalayer audit pylock.toml --fail-on unverified
  lambdalayer audit layer.zip --deny-licence GPL-3.0-only --deny-licence AGPL-3.0-or-later
  lambdalayer build -r requirements.txt --audit

The audit is passed, failed (a known vulnerability, a denied licence) or not verified (a
release the index could not answer for, or a licence not known under a deny list); "audit
ok" only when it passed. --fail-on any (default): exit 1 when it failed; unverified (or
--strict, or strict = true in the configuration): also when not verified; none: report
only. An explicit --fail-on wins over --strict; audit.fail-on over strict = true. Ignores live in [tool.lambdalayer.audit] (id, reason, expires); answers are
cached for a day.
"""


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """``audit``'s arguments."""
    parser.add_argument("artefact", type=Path, help="a layer or function zip, or a pylock.toml")
    parser.add_argument(
        "--lock", type=Path, metavar="FILE", help="the pylock.toml the zip was built from"
    )
    parser.add_argument("--fail-on", choices=[item.value for item in FailOn], help="see below")
    parser.add_argument(
        "--deny-licence",
        action="append",
        default=[],
        metavar="SPDX-ID",
        help="fail when a distribution can only be had under this licence (repeatable)",
    )
    parser.add_argument(
        "--index-url", metavar="URL", help="the index (default: the project's, else PyPI)"
    )
    parser.add_argument("--cache-dir", type=Path, metavar="DIR", help="lambdalayer's cache")
    parser.add_argument(
        "--project", type=Path, default=Path(), metavar="DIR", help="where its configuration is"
    )
    parser.add_argument("--runtime", metavar="NAME", help="default: recorded in the zip")
    parser.add_argument("--arch", metavar="ARCH", help=f"{ARCH_ALIASES}")
    parser.add_argument(
        "--on-top-of", metavar=f"{MANAGED}[==V]|layer:ZIP", help="the layer beneath"
    )
    add_strict(
        parser,
        "exit non-zero when a distribution could not be looked up (not verified), not only when"
        " one is vulnerable: --fail-on unverified; for CI (the configuration's strict = true"
        " does the same)",
    )


def execute(args: argparse.Namespace) -> int:
    """Run ``audit``."""
    config = load_config(args.project)
    policy = with_flags(
        config.audit if config else AuditPolicy(),
        args.fail_on,
        tuple(args.deny_licence),
        strict=args.strict,
        config_strict=bool(config and config.strict),
    )
    index_url = IndexConfig.from_options(
        args.index_url or (config.index_url if config else None)
    ).urls[0]
    notes: tuple[str, ...] = ()
    if args.artefact.suffix == ".toml":
        lock = read_pylock(args.artefact)
        inventory = inventory_of_lock(lock, args.artefact.name, file_sha256(args.artefact))
    else:
        described = describe_zip(
            ZipQuestion(
                args.artefact,
                lock=args.lock,
                runtime=args.runtime,
                arch=args.arch,
                on_top_of=OnTopOf.parse(args.on_top_of) if args.on_top_of else None,
                wheels_wanted=False,
            )
        )
        inventory, notes = described.inventory, described.notes
    with Cache.open(args.cache_dir) as cache:
        result = review(ReviewRequest(inventory, index_url, policy), cache)
    if not args.json:
        print_review(result, notes)
    enforce(result)  # with --json, a failure's document holds the review
    if args.json:
        print_json({**result.to_json(), "notes": list(notes)})
    return EXIT_OK
