"""The ``report`` command: what is in a layer, in the terminal or as an HTML page."""

from __future__ import annotations

import argparse
from pathlib import Path

from lambdalayer.cli.common import EXIT_OK, print_json
from lambdalayer.errors import LambdaLayerError
from lambdalayer.fsutil import atomic_write_bytes, ensure_writable_parent
from lambdalayer.layercomment import recorded_target
from lambdalayer.report import LayerReport, layer_report, render_html, render_text
from lambdalayer.resolve.provided import managed_layer
from lambdalayer.targets import ARCH_ALIASES, Target, get_target

_EPILOG = """\
examples:
  lambdalayer report layer.zip
  lambdalayer report layer.zip -o report.html --with function.zip --on-top-of aws-sdk-pandas
  lambdalayer build -r requirements.txt --report report.html

The page is one file with no script and nothing to download: open it from disk.
Sizes are per distribution (bytecode counted with its package), in KiB/MiB; exact bytes
are in --json and in each rectangle's tooltip.
"""


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``report`` to the CLI."""
    report = commands.add_parser(
        "report", help="show what takes the space in a layer (terminal or HTML)",
        description="Sizes per package, the quota with the other layers and the function, the check's findings.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    report.add_argument("zip", type=Path, help="the layer (or function) zip")
    report.add_argument(
        "-o", "--output", type=Path, metavar="FILE.html", help="write the HTML page here"
    )
    report.add_argument("--runtime", metavar="NAME", help="default: recorded in the zip")
    report.add_argument(
        "--arch", metavar="ARCH", help=f"{ARCH_ALIASES} (default: recorded in the zip)"
    )
    report.add_argument("--with", dest="with_zips", action="append", default=[], type=Path, metavar="ZIP",
                        help="another layer or the function zip, counted toward the quota")  # fmt: skip
    report.add_argument("--on-top-of", metavar="aws-sdk-pandas[==V]",
                        help="count the managed pandas layer beneath (its estimated size)")  # fmt: skip
    report.add_argument("--json", action="store_true", help="print the numbers as JSON")


def target_of(zip_path: Path, runtime: str | None, arch: str | None) -> Target:
    """The target given, else the one recorded in the zip, else the defaults."""
    recorded = recorded_target(zip_path)
    return get_target(
        runtime or (recorded[0] if recorded else None), arch or (recorded[1] if recorded else None)
    )


def beneath_of(spec: str | None, target: Target) -> list[tuple[str, int]]:
    """The managed layer named by ``--on-top-of``, with its estimated size."""
    if spec is None:
        return []
    provided = managed_layer(spec, target)
    if provided.unzipped_bytes is None:
        raise LambdaLayerError(f"no size known for {provided.source} on {target.name}")
    return [(provided.source, provided.unzipped_bytes)]


def write_report(report: LayerReport, output: Path) -> None:
    """Write the HTML page atomically."""
    ensure_writable_parent(output)
    atomic_write_bytes(output, render_html(report).encode("utf-8"))


def run(args: argparse.Namespace) -> int:
    """Run ``report``."""
    if not args.zip.is_file():
        raise LambdaLayerError(f"no such file: {args.zip}")
    target = target_of(args.zip, args.runtime, args.arch)
    report = layer_report(
        args.zip, target, with_zips=args.with_zips, beneath=beneath_of(args.on_top_of, target)
    )
    if args.output:
        write_report(report, args.output)
    if args.json:
        print_json({"ok": True, **report.to_json()})
    else:
        print(render_text(report), end="")
        if args.output:
            print(f"report: {args.output}")
    return EXIT_OK
