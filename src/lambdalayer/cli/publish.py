"""The ``publish`` command: a layer zip as a new Lambda layer version (``build --publish`` too).

boto3 is imported only when a call to AWS is made (:mod:`lambdalayer.aws.client`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from lambdalayer.aws.publish import Published, PublishRequest, publish
from lambdalayer.cli.common import EXIT_ERROR, EXIT_OK, Output, print_json
from lambdalayer.cli.options import (
    add_aws,
    add_publish_settings,
    aws_settings,
    regions_of,
    split,
)
from lambdalayer.targets import ARCH_ALIASES
from lambdalayer.wording import counted

DESCRIPTION = (
    "Publish a layer zip as a new version of a Lambda layer (nothing new when the same bytes"
    " are published)."
)
EPILOG = """\
examples:
  lambdalayer publish layer.zip --name my-deps --region eu-west-1
  lambdalayer publish layer.zip --name my-deps --regions eu-west-1,us-east-1 --public
  lambdalayer publish layer.zip --name my-deps --s3-bucket my-artifacts     # zips over 50 MB

The zip's sha256 is recorded in the version's description: publishing the same zip again
prints the existing version's ARN and publishes nothing (--force publishes anyway). The
runtime and architecture come from the zip when lambdalayer built it.
"""


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """``publish``'s arguments."""
    parser.add_argument("zip", type=Path, help="the layer zip (lambdalayer build's, or any)")
    parser.add_argument("--name", required=True, help="layer name (1-140 of A-Z a-z 0-9 - _)")
    parser.add_argument(
        "--runtime", action="append", default=[], help="compatible runtime (default: from the zip)"
    )
    parser.add_argument(
        "--arch",
        action="append",
        default=[],
        help=f"compatible architecture: {ARCH_ALIASES} (default: from the zip)",
    )
    add_publish_settings(parser)
    add_aws(parser, regions=True)


def execute(args: argparse.Namespace) -> int:
    """Run ``publish``."""
    results = publish_zip(args, args.zip, args.name, split(args.runtime), split(args.arch))
    if args.json:
        ok = not any(result.error for result in results)
        print_json({"ok": ok, "regions": [result.__dict__ for result in results]})
        return EXIT_OK if ok else EXIT_ERROR
    return print_published(results, sys.stdout)


def publish_request(args: argparse.Namespace, zip_path: Path, name: str) -> PublishRequest:
    """``zip_path`` as ``name``, with the publish settings ``args`` hold."""
    return PublishRequest(
        zip_path,
        name,
        description=args.description,
        license_info=args.license_info,
        s3_bucket=args.s3_bucket,
        force=args.force,
        public=args.public,
        accounts=tuple(args.account),
        organization=args.org,
        signing_profile=args.signing_profile,
    )


def publish_zip(
    args: argparse.Namespace,
    zip_path: Path,
    name: str,
    runtimes: Sequence[str] = (),
    arches: Sequence[str] = (),
) -> list[Published]:
    """Publish ``zip_path`` as ``name`` with the publish settings and AWS options ``args`` hold."""
    request = publish_request(args, zip_path, name)
    return publish(
        request.from_zip(runtimes, arches), aws_settings(args), regions_of(args), progress
    )


def progress(region: str, sent: int, total: int) -> None:
    """The upload through S3, in per cent, on one line of stderr (progress: not with ``-q``)."""
    if not Output.shows_progress():
        return
    sys.stderr.write(f"\ruploading to S3 ({region}): {sent * 100 // max(total, 1):3d}%")
    if sent >= total:
        sys.stderr.write("\n")


def print_published(results: Sequence[Published], out: TextIO) -> int:
    """One line per region (failures to stderr); returns the exit code."""
    failed = [result for result in results if result.error]
    for result in results:
        if result.error:
            print(f"{result.region or '-'}: FAILED: {result.error}", file=sys.stderr)
            if result.hint:
                print(f"hint: {result.hint}", file=sys.stderr)
            continue
        state = "published" if result.created else "unchanged, same content as the newest version"
        print(f"{result.region}: {result.arn} ({state})", file=out)
    if failed:
        print(
            f"error: publishing failed in {len(failed)} of {counted(len(results), 'region')}",
            file=sys.stderr,
        )
        return EXIT_ERROR
    return EXIT_OK
