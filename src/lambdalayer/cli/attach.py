"""The ``attach`` command: make a function use a layer version."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from lambdalayer.aws.attach import AttachResult, attach
from lambdalayer.aws.client import AwsSettings, region_of_arn
from lambdalayer.cli.common import EXIT_OK, print_json, warn
from lambdalayer.cli.options import add_aws, aws_settings

DESCRIPTION = (
    "Add a layer version to a function's layers (replacing an older version of the same layer,"
    " keeping the others and their order)."
)
EPILOG = """\
examples:
  lambdalayer attach my-function --layer arn:aws:lambda:eu-west-1:123456789012:layer:my-deps:7
  lambdalayer build -r requirements.txt --publish my-deps --attach my-function   # all in one

The region is the layer ARN's. At most 5 layers per function: one more is an error.
"""


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """``attach``'s arguments."""
    parser.add_argument("function", help="function name or ARN")
    parser.add_argument("--layer", required=True, metavar="ARN", help="the layer version ARN")
    add_aws(parser)


def execute(args: argparse.Namespace) -> int:
    """Run ``attach``."""
    if not args.json:
        attach_and_print(aws_settings(args), args.function, args.layer)
        return EXIT_OK
    result = _attached(aws_settings(args), args.function, args.layer)
    print_json(
        {
            "ok": True,
            "function": args.function,
            "layer": args.layer,
            "changed": result.changed,
            "layers": list(result.after),
            "warnings": list(result.warnings),
        }
    )
    return EXIT_OK


def _attached(settings: AwsSettings, function: str, arn: str) -> AttachResult:
    """Attach ``arn`` to ``function``, in the ARN's region."""
    return attach(
        AwsSettings(settings.profile, region_of_arn(arn), settings.endpoint_url), function, arn
    )


def attach_and_print(
    settings: AwsSettings, function: str, arn: str, out: TextIO = sys.stdout
) -> None:
    """Attach ``arn`` to ``function`` (in the ARN's region) and print what changed."""
    print_attached(function, arn, _attached(settings, function, arn), out)


def print_attached(function: str, arn: str, result: AttachResult, out: TextIO) -> None:
    """What attaching ``arn`` to ``function`` changed (warnings to stderr)."""
    for warning in result.warnings:
        warn(f"warning: {warning}")
    if result.changed:
        print(f"attached {arn} to {function}; layers now: {', '.join(result.after)}", file=out)
    else:
        print(f"{function} already uses {arn}", file=out)
