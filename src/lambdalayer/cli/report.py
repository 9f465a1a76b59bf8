"""The ``report`` command: what is in a layer, in the terminal or as an HTML page."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from lambdalayer.cache import Cache
from lambdalayer.check.request import CheckRequest
from lambdalayer.cli.common import EXIT_OK, print_json
from lambdalayer.errors import InputError, LambdaLayerError
from lambdalayer.fsutil import atomic_write_bytes, ensure_writable_parent, not_a_file
from lambdalayer.inputs.ontopof import MANAGED, Beneath, OnTopOf
from lambdalayer.inputs.policy import AuditPolicy, FailOn
from lambdalayer.net.index import IndexConfig
from lambdalayer.report import LayerReport, WhatShips, layer_report, render_html, render_text
from lambdalayer.resolve.provided import managed_layer
from lambdalayer.supply.describe import ZipQuestion, describe_zip
from lambdalayer.supply.review import ReviewRequest, review
from lambdalayer.targets import ARCH_ALIASES, Target
from lambdalayer.ziptarget import target_for_zip

DESCRIPTION = (
    "Sizes per package, the quota with the other layers and the function, the check's findings."
)
EPILOG = """\
examples:
  lambdalayer report layer.zip
  lambdalayer report layer.zip -o report.html --with function.zip --on-top-of aws-sdk-pandas
  lambdalayer build -r requirements.txt --report report.html

The page is one file with no script and nothing to download: open it from disk.
Sizes are per distribution (bytecode counted with its package), in KiB/MiB; exact bytes
are in --json and in each rectangle's tooltip.
"""


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """``report``'s arguments."""
    parser.add_argument("zip", type=Path, help="the layer (or function) zip")
    parser.add_argument(
        "-o", "--output", type=Path, metavar="FILE.html", help="write the HTML page here"
    )
    parser.add_argument(
        "--runtime", metavar="NAME", help="default: recorded in the zip, else what it shows"
    )
    parser.add_argument(
        "--arch", metavar="ARCH", help=f"{ARCH_ALIASES} (default: recorded in the zip)"
    )
    parser.add_argument(
        "--with",
        dest="with_zips",
        action="append",
        default=[],
        type=Path,
        metavar="ZIP",
        help="another layer or the function zip, counted toward the quota",
    )
    parser.add_argument(
        "--on-top-of",
        metavar=f"{MANAGED}[==V]",
        help="count the managed pandas layer beneath (its estimated size)",
    )
    ships = parser.add_argument_group("what ships (licences are always shown)")
    ships.add_argument(
        "--audit",
        action="store_true",
        help="look the distributions up in the index's vulnerability data (see 'audit')",
    )
    ships.add_argument("--lock", type=Path, metavar="FILE", help="the zip's pylock.toml")
    ships.add_argument("--index-url", metavar="URL", help="the index (default: PyPI)")
    ships.add_argument("--cache-dir", type=Path, metavar="DIR", help="lambdalayer's cache")


def beneath_of(spec: str | None, target: Target) -> list[tuple[str, int]]:
    """The managed layer named by ``--on-top-of``, with its estimated size."""
    if spec is None:
        return []
    parsed = OnTopOf.parse(spec)
    if parsed.kind is not Beneath.MANAGED:
        raise InputError(
            f"report counts only {MANAGED} beneath by its estimated size",
            hint="give another layer's zip with --with ZIP instead",
        )
    provided = managed_layer(parsed.value, target)
    if provided.unzipped_bytes is None:
        raise LambdaLayerError(f"no size known for {provided.source} on {target.name}")
    return [(provided.source, provided.unzipped_bytes)]


def write_report(report: LayerReport, output: Path) -> None:
    """Write the HTML page atomically."""
    ensure_writable_parent(output)
    atomic_write_bytes(output, render_html(report).encode("utf-8"))


def execute(args: argparse.Namespace) -> int:
    """Run ``report``."""
    if (why := not_a_file(args.zip)) is not None:
        raise LambdaLayerError(why[0], hint=why[1])
    target = target_for_zip(args.zip, args.runtime, args.arch).target
    beneath = tuple(beneath_of(args.on_top_of, target))
    request = CheckRequest(target, with_zips=tuple(args.with_zips), beneath=beneath, imports=None)
    report = layer_report(args.zip, request)
    question = ZipQuestion(args.zip, args.lock, target.runtime.name, target.arch)
    inventory = describe_zip(question).inventory
    found = None
    if args.audit:
        index_url = IndexConfig.from_options(args.index_url).urls[0]
        with Cache.open(args.cache_dir) as cache:
            found = review(ReviewRequest(inventory, index_url, AuditPolicy(FailOn.NONE)), cache)
    report = dataclasses.replace(report, ships=WhatShips(inventory, found))
    if args.output:
        write_report(report, args.output)
    if args.json:
        print_json({"ok": True, **report.to_json()})
    else:
        print(render_text(report), end="")
        if args.output:
            print(f"report: {args.output}")
    return EXIT_OK
