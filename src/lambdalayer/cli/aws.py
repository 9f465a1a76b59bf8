"""The AWS commands of the CLI (``publish``, ``attach``, ``layers``) and ``build --publish``.

Kept apart from :mod:`lambdalayer.cli.main` so that the offline commands never import boto3.
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path
from typing import TextIO

from lambdalayer.aws.client import AwsSettings, region_of_arn
from lambdalayer.cli.common import EXIT_ERROR, EXIT_OK, print_json
from lambdalayer.errors import InputError, LambdaLayerError
from lambdalayer.layercomment import recorded_target
from lambdalayer.targets import ARCH_ALIASES, canonical_arch, get_runtime

_PUBLISH_EPILOG = """\
examples:
  lambdalayer publish layer.zip --name my-deps --region eu-west-1
  lambdalayer publish layer.zip --name my-deps --regions eu-west-1,us-east-1 --public
  lambdalayer publish layer.zip --name my-deps --s3-bucket my-artifacts     # zips over 50 MB

The zip's sha256 is recorded in the version's description: publishing the same zip again
prints the existing version's ARN and publishes nothing (--force publishes anyway). The
runtime and architecture come from the zip when lambdalayer built it.
"""


_ATTACH_EPILOG = """\
examples:
  lambdalayer attach my-function --layer arn:aws:lambda:eu-west-1:123456789012:layer:my-deps:7
  lambdalayer build -r requirements.txt --publish my-deps --attach my-function   # all in one

The region is the layer ARN's. At most 5 layers per function: one more is an error.
"""

_LAYERS_EPILOG = """\
examples:
  lambdalayer layers my-deps --region eu-west-1
  lambdalayer layers my-deps --prune --keep 3 --dry-run
  lambdalayer layers my-deps --prune --keep 3 --in-use-by my-function --yes

Deleted versions cannot be brought back, and their numbers are never reused.
"""


def add_aws_options(parser: argparse.ArgumentParser, *, regions: bool = False) -> None:
    """``--region``/``--profile``/``--endpoint-url`` (and ``--regions``) on a command."""
    group = parser.add_argument_group("AWS")
    group.add_argument("--region", help="AWS region (default: AWS_REGION or the profile's)")
    if regions:
        group.add_argument("--regions", metavar="R1,R2", help="publish in several regions at once")
    group.add_argument("--profile", help="AWS profile of the shared config files")
    group.add_argument(
        "--endpoint-url",
        metavar="URL",
        help="an AWS-compatible endpoint (e.g. a local moto server)",
    )


def add_publish_options(parser: argparse.ArgumentParser) -> None:
    """The options that say how a layer version is published (shared by publish and build)."""
    parser.add_argument(
        "--description", default="", help="version description (the content hash is appended)"
    )
    parser.add_argument(
        "--license",
        dest="license_info",
        metavar="TEXT",
        help="LicenseInfo (SPDX id or URL, 512 chars)",
    )
    parser.add_argument(
        "--s3-bucket",
        metavar="BUCKET",
        help="upload through this bucket (needed over 50 MB zipped)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="publish even when the newest version has the same content",
    )
    parser.add_argument(
        "--public", action="store_true", help="let every AWS account use the new version"
    )
    parser.add_argument(
        "--account",
        action="append",
        default=[],
        metavar="ID",
        help="let this account use it (repeatable)",
    )
    parser.add_argument("--org", metavar="o-ID", help="let this AWS organization use it")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the AWS commands to the CLI."""
    publish = commands.add_parser(
        "publish", help="publish a layer zip as a Lambda layer version",
        description="Publish a layer zip as a new version of a Lambda layer (nothing new when the same bytes are published).",
        epilog=_PUBLISH_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    publish.add_argument("zip", type=Path, help="the layer zip (lambdalayer build's, or any)")
    publish.add_argument("--name", required=True, help="layer name (1-140 of A-Z a-z 0-9 - _)")
    publish.add_argument(
        "--runtime", action="append", default=[], help="compatible runtime (default: from the zip)"
    )
    publish.add_argument(
        "--arch",
        action="append",
        default=[],
        help=f"compatible architecture: {ARCH_ALIASES} (default: from the zip)",
    )
    add_publish_options(publish)
    add_aws_options(publish, regions=True)
    publish.add_argument("--json", action="store_true", help="print the published versions as JSON")

    attach = commands.add_parser(
        "attach", help="make a function use a layer version",
        description="Add a layer version to a function's layers (replacing an older version of the"
        " same layer, keeping the others and their order).",
        epilog=_ATTACH_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    attach.add_argument("function", help="function name or ARN")
    attach.add_argument("--layer", required=True, metavar="ARN", help="the layer version ARN")
    add_aws_options(attach)

    layers = commands.add_parser(
        "layers", help="list a layer's versions; --prune deletes old ones",
        description="List a layer's versions (content hash, sizes, runtimes); --prune deletes all but the newest.",
        epilog=_LAYERS_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    layers.add_argument("name", help="the layer's name")
    layers.add_argument(
        "--prune", action="store_true",
        help="delete all but the --keep newest versions (asks first on a terminal; --yes elsewhere)",
    )  # fmt: skip
    layers.add_argument(
        "--dry-run", action="store_true", help="with --prune: only list what would go"
    )
    layers.add_argument("--yes", action="store_true", help="with --prune: delete without asking")
    layers.add_argument("--keep", type=int, default=3, help="versions kept by --prune (default 3)")
    layers.add_argument(
        "--in-use-by",
        action="append",
        default=[],
        metavar="FN",
        help="never delete what this function uses",
    )
    add_aws_options(layers)
    layers.add_argument("--json", action="store_true", help="print the versions as JSON")


def settings_of(args: argparse.Namespace) -> AwsSettings:
    """The AWS settings given on the command line."""
    return AwsSettings(profile=args.profile, region=args.region, endpoint_url=args.endpoint_url)


def _unzipped(path: Path) -> int:
    with zipfile.ZipFile(path) as archive:
        return sum(info.file_size for info in archive.infolist())


def publish_zip(
    args: argparse.Namespace, zip_path: Path, name: str, runtimes: list[str], arches: list[str]
) -> int:
    """Publish and print one line per region; returns the exit code."""
    from lambdalayer.aws.publish import PublishRequest, publish  # noqa: PLC0415

    if not zip_path.is_file():
        raise LambdaLayerError(f"no such file: {zip_path}")
    recorded = recorded_target(zip_path)
    request = PublishRequest(
        zip_path=zip_path,
        name=name,
        runtimes=tuple(
            get_runtime(runtime).name for runtime in runtimes or ([recorded[0]] if recorded else [])
        ),
        architectures=tuple(
            canonical_arch(arch) for arch in arches or ([recorded[1]] if recorded else [])
        ),
        description=args.description,
        license_info=args.license_info,
        s3_bucket=args.s3_bucket,
        force=args.force,
        public=args.public,
        accounts=tuple(args.account),
        organization=args.org,
        unzipped_bytes=_unzipped(zip_path),
    )
    regions = [
        region.strip()
        for region in (getattr(args, "regions", None) or "").split(",")
        if region.strip()
    ]

    def progress(region: str, sent: int, total: int) -> None:
        sys.stderr.write(f"\ruploading to S3 ({region}): {sent * 100 // max(total, 1):3d}%")
        if sent >= total:
            sys.stderr.write("\n")

    results = publish(request, settings_of(args), regions, progress)
    out = sys.stderr if args.command == "build" and args.json else sys.stdout
    if getattr(args, "json", False) and args.command == "publish":
        print_json(
            {
                "ok": not any(result.error for result in results),
                "regions": [result.__dict__ for result in results],
            }
        )
    else:
        for result in results:
            if result.error:
                print(f"{result.region or '-'}: FAILED: {result.error}", file=sys.stderr)
                if result.hint:
                    print(f"hint: {result.hint}", file=sys.stderr)
            else:
                state = (
                    "published"
                    if result.created
                    else "unchanged, same content as the newest version"
                )
                print(f"{result.region}: {result.arn} ({state})", file=out)
    failed = [result for result in results if result.error]
    if failed:
        print(
            f"error: publishing failed in {len(failed)} of {len(results)} region(s)",
            file=sys.stderr,
        )
        return EXIT_ERROR
    if getattr(args, "attach", None):
        for result in results:
            if result.arn:
                attach_and_print(args, args.attach, result.arn, out)
    return EXIT_OK


def attach_and_print(
    args: argparse.Namespace, function: str, arn: str, out: TextIO = sys.stdout
) -> None:
    """Attach and print what changed."""
    from lambdalayer.aws.attach import attach  # noqa: PLC0415

    settings = settings_of(args)
    result = attach(
        AwsSettings(settings.profile, region_of_arn(arn), settings.endpoint_url), function, arn
    )
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if result.changed:
        print(f"attached {arn} to {function}; layers now: {', '.join(result.after)}", file=out)
    else:
        print(f"{function} already uses {arn}", file=out)


def run(args: argparse.Namespace) -> int:
    """Run ``publish``, ``attach`` or ``layers``."""
    if args.command == "publish":
        return publish_zip(args, args.zip, args.name, args.runtime, args.arch)
    if args.command == "attach":
        attach_and_print(args, args.function, args.layer)
        return EXIT_OK
    return _run_layers(args)


def _confirmed(args: argparse.Namespace, what: str) -> bool:
    """``--yes``, or a yes typed on a terminal; without a terminal, an error asking for ``--yes``."""
    if args.yes:
        return True
    if not sys.stdin.isatty():
        raise InputError(
            f"--prune would {what}, and a deleted version cannot be brought back",
            hint="add --yes to delete them, or --dry-run to only list them",
        )
    answer = input(f"{what}? deleted versions cannot be brought back [y/N] ")
    return answer.strip().lower() in {"y", "yes"}


def _run_layers(args: argparse.Namespace) -> int:
    from lambdalayer.aws.client import call, client  # noqa: PLC0415
    from lambdalayer.aws.publish import layer_versions, prunable, prune  # noqa: PLC0415

    settings = settings_of(args)
    if args.prune:
        in_use: list[str] = []
        if args.in_use_by:
            lambda_client = client(settings, "lambda")
            for function in args.in_use_by:
                config = call(
                    f"reading {function}",
                    lambda_client.get_function_configuration,
                    FunctionName=function,
                )
                in_use += [layer["Arn"] for layer in config.get("Layers", [])]
        doomed = prunable(settings, args.name, args.keep, in_use)
        listed = ", ".join(map(str, doomed)) or "none"
        if args.dry_run:
            print(f"would delete {len(doomed)} version(s) of {args.name}: {listed}")
        elif doomed and _confirmed(
            args, f"delete {len(doomed)} version(s) of {args.name} ({listed})"
        ):
            deleted = prune(settings, args.name, doomed)
            print(
                f"deleted {len(deleted)} version(s) of {args.name}: {', '.join(map(str, deleted))}"
            )
        else:
            print(
                f"deleted 0 version(s) of {args.name}: {'none to delete' if not doomed else 'not confirmed'}"
            )
    versions = layer_versions(settings, args.name)
    if args.json:
        print_json({"ok": True, "versions": [version.__dict__ for version in versions]})
        return EXIT_OK
    for version in versions:
        content = version.sha256[:12] if version.sha256 else "-"
        size = f"{version.zipped_bytes:,}" if version.zipped_bytes is not None else "-"
        unzipped = f"{version.unzipped_bytes:,}" if version.unzipped_bytes is not None else "-"
        runtimes = ",".join(version.runtimes) or "-"
        print(
            f"{version.version:>5}  {version.created:<32} sha256:{content:<12} {size:>12} B zipped {unzipped:>12} B unzipped"
            f"  {runtimes} {','.join(version.architectures) or '-'}"
        )
    if not versions:
        print(f"{args.name} has no versions")
    return EXIT_OK
