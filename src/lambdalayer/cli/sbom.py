"""The ``sbom`` command: a CycloneDX or SPDX SBOM of any layer or function zip."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lambdalayer.cli.common import EXIT_OK, print_json, stderr
from lambdalayer.fsutil import atomic_write_bytes, ensure_writable_parent
from lambdalayer.inputs.ontopof import MANAGED, OnTopOf
from lambdalayer.supply.describe import ZipQuestion, describe_zip
from lambdalayer.supply.sbom import SbomFormat, render
from lambdalayer.targets import ARCH_ALIASES
from lambdalayer.wording import counted

DESCRIPTION = (
    "What ships in a layer or function zip, for a security review: each distribution with"
    " its version, purl, licence (SPDX where it is unambiguous), the wheel's URL and sha256"
    " (with --lock), the native libraries it vendors, and what the function also loads"
    " beside it (the runtime's own packages, a managed layer beneath)."
)
EPILOG = """\
examples:
  lambdalayer sbom layer.zip --lock pylock.toml -o layer.cdx.json
  lambdalayer sbom layer.zip --format spdx -o layer.spdx.json
  lambdalayer sbom layer.zip --on-top-of aws-sdk-pandas
  lambdalayer build -r requirements.txt --sbom layer.cdx.json

The same zip gives the same bytes: the serial number and timestamp come from the zip,
never from the clock.
"""


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """``sbom``'s arguments."""
    parser.add_argument("zip", type=Path, help="the layer (or function) zip")
    parser.add_argument(
        "--format",
        choices=SbomFormat.choices(),
        default=SbomFormat.CYCLONEDX.value,
        help="CycloneDX 1.6 JSON (default) or SPDX 2.3 JSON",
    )
    parser.add_argument(
        "-o", "--output", type=Path, metavar="FILE", help="write it here (default: stdout)"
    )
    parser.add_argument(
        "--lock", type=Path, metavar="FILE", help="the pylock.toml the zip was built from"
    )
    parser.add_argument(
        "--runtime", metavar="NAME", help="default: recorded in the zip, else what it shows"
    )
    parser.add_argument("--arch", metavar="ARCH", help=f"{ARCH_ALIASES} (default: as --runtime)")
    parser.add_argument(
        "--on-top-of",
        metavar=f"{MANAGED}[==V]|layer:ZIP",
        help="the layer beneath, listed as what the function also loads",
    )


def execute(args: argparse.Namespace) -> int:
    """Run ``sbom``."""
    question = ZipQuestion(
        args.zip,
        lock=args.lock,
        runtime=args.runtime,
        arch=args.arch,
        on_top_of=OnTopOf.parse(args.on_top_of) if args.on_top_of else None,
    )
    if args.output:
        ensure_writable_parent(args.output)
    described = describe_zip(question)
    inventory = described.inventory
    document = render(inventory, SbomFormat(args.format))
    unknown = [dist for dist in inventory.distributions if not dist.licence.known]
    notes = [
        *described.notes,
        *(
            f"licence of {dist.name} {dist.version} not known"
            f" (it declares: {dist.licence.declared or 'nothing'})"
            for dist in unknown
        ),
    ]
    if args.output is not None:
        atomic_write_bytes(args.output, document.encode("utf-8"))
    if args.json:
        written = {"sbom": str(args.output)} if args.output else {"document": json.loads(document)}
        print_json(
            {"ok": True, "format": args.format, **written, "notes": notes, **inventory.to_json()}
        )
        return EXIT_OK
    for note in notes:
        stderr(f"note: {note}")
    if args.output is None:
        sys.stdout.write(document)
        return EXIT_OK
    print(
        f"sbom: {args.output} ({SbomFormat(args.format).value}) for {inventory.artefact.name}:"
        f" {counted(len(inventory.distributions), 'distribution')},"
        f" {counted(len(inventory.libraries), 'vendored library', 'vendored libraries')},"
        f" {len(inventory.provided)} provided beside it;"
        f" {counted(len(unknown), 'licence')} not known"
    )
    return EXIT_OK
