"""The ``image`` command: Lambda container images without Docker — built, pushed, deployed —
and the runtime's images pulled for in-image checks."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

from lambdalayer.builder.plan import Flags, OutputFlags, RecipeFlags, plan_image
from lambdalayer.cache import cache_root
from lambdalayer.check.sizes import human_bytes
from lambdalayer.cli.common import EXIT_OK, print_json, stderr
from lambdalayer.cli.options import (
    add_aws,
    add_recipe,
    add_requirement_inputs,
    add_sources,
    add_targets,
    aws_settings,
    input_flags,
    slim_options,
    source_flags,
    split,
)
from lambdalayer.cli.options_global import add_global_options
from lambdalayer.cli.text import print_check_report
from lambdalayer.container import ImageOutputs, ImageRequest, ImageResult, RegistryAuth, build_image
from lambdalayer.container.request import DEFAULT_BASE
from lambdalayer.environment.image import PUBLIC_REGISTRY, REPOSITORY, PulledImage, pull_image
from lambdalayer.environment.roots import HOST
from lambdalayer.errors import FetchError, InputError
from lambdalayer.fsutil import check_side_output, ensure_writable_parent
from lambdalayer.inputs.config import load_config
from lambdalayer.network import allowing_auth_hosts
from lambdalayer.oci.reference import ImageReference
from lambdalayer.supply.sbom import SbomFormat
from lambdalayer.targets import ARCH_ALIASES, Target, get_target
from lambdalayer.trim.manifest import read_manifest
from lambdalayer.wording import counted

DESCRIPTION = "Lambda container images without Docker: build, push, deploy; pull for checks."
EPILOG = """\
examples:
  lambdalayer image build -r requirements.txt --runtime python3.12 --function src \\
      --handler app.handler --push 123456789012.dkr.ecr.eu-west-1.amazonaws.com/myfn:v1
  lambdalayer image build -r requirements.txt --function src --handler app.handler -o image.tar
  lambdalayer image pull python3.12 --arch arm64

actions:
  build   a container image from requirements (and --push, --deploy): 'image build --help'
  pull    a runtime's image into the cache, for 'check --image pull': 'image pull --help'
"""
PULL_DESCRIPTION = "Pull public.ecr.aws/lambda/python:X.Y for one CPU into the cache (no Docker)."
PULL_EPILOG = """\
examples:
  lambdalayer image pull python3.12 --arch arm64
  lambdalayer check layer.zip --runtime python3.12 --arch arm64 --image pull

The image is kept under the cache (images/<manifest digest>/rootfs) and used by
'check --image pull' (and by every later check of that target) without downloading it
again. Its token is sent to the registry only.
"""
BUILD_DESCRIPTION = (
    "Build a Lambda container image (up to 10 GB) from requirements, on the runtime's AWS base"
    " image: for what outgrows a layer's 250 MB. No Docker."
)
BUILD_EPILOG = """\
examples:
  lambdalayer image build -r requirements.txt --runtime python3.12 --arch arm64 \\
      --function src/ --handler app.main.handler \\
      --push 123456789012.dkr.ecr.eu-west-1.amazonaws.com/myfn:v1 --deploy myfn
  lambdalayer image build -r requirements.txt --function src/ --handler app.handler -o image.tar
  lambdalayer image build pandas scikit-learn --base 127.0.0.1:5000/lambda/python:3.12 --push …

The dependencies are prepared as for a layer (slimmed, bytecode compiled for the runtime)
and installed where AWS's base image's pip puts them, /var/lang/lib/pythonX.Y/site-packages;
each large distribution is a layer of its own and the small ones share one, so changing one
requirement pushes one small layer. The function's code (--function) is the last layer, at
/var/task; --handler becomes the image's CMD. The base (default: {default}, for the CPU
chosen) is pinned by digest. The dependencies are checked inside the base image before
anything is written or pushed. The same inputs give the same image digest on any machine.

-o writes an OCI image layout archive (skopeo copy oci-archive:image.tar …, podman load).
--push sends only the blobs the registry lacks (a base in the same registry is mounted)
and prints the image by digest; ECR logs in through boto3 (the standard credential chain),
other registries use the Docker configuration's credentials (docker login) or
--registry-auth USER:PASSWORD ($LAMBDALAYER_REGISTRY_AUTH). --deploy FUNCTION then runs
update-function-code --image-uri and waits for the update.
""".format(default=DEFAULT_BASE.format(version="X.Y"))


def add_registry(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """Where images come from and where they are kept (``check`` and ``image pull``)."""
    parser.add_argument(
        "--registry",
        default=PUBLIC_REGISTRY,
        metavar="URL",
        help=f"the OCI registry holding {REPOSITORY} (default: {PUBLIC_REGISTRY})",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        metavar="DIR",
        help="where pulled images are kept (default: the wheel cache's, $LAMBDALAYER_CACHE_DIR)",
    )


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """``image``'s actions and their arguments."""
    actions = parser.add_subparsers(dest="image_command", required=True, metavar="ACTION")
    build = actions.add_parser(
        "build",
        help="build a container image from requirements (and push, deploy)",
        description=BUILD_DESCRIPTION,
        epilog=BUILD_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _configure_build(build)
    pull = actions.add_parser(
        "pull",
        help="pull a runtime's image into the cache",
        description=PULL_DESCRIPTION,
        epilog=PULL_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    pull.add_argument("runtime", metavar="RUNTIME", help="e.g. python3.12 or 3.12")
    pull.add_argument("--arch", metavar="ARCH", help=f"CPU: {ARCH_ALIASES} (default: x86_64)")
    add_registry(pull)
    add_global_options(pull, top=False)


def _configure_build(parser: argparse.ArgumentParser) -> None:
    add_requirement_inputs(parser)
    parser.add_argument(
        "--from-lock", type=Path, metavar="FILE", help="skip resolution: build this pylock.toml"
    )
    parser.add_argument(
        "--function", type=Path, metavar="SRC", help="the function's code, put at /var/task"
    )
    parser.add_argument("--handler", metavar="MODULE.FUNCTION", help="the handler: the image's CMD")
    parser.add_argument(
        "--trim",
        type=Path,
        metavar="FILE",
        help="keep only what this lambdalayer.trim.toml keeps (written by 'lambdalayer trim')",
    )
    add_targets(parser)
    image = parser.add_argument_group("the image")
    image.add_argument(
        "--base",
        metavar="REF|DIR|FILE",
        help="the image to build on: a registry's (HOST/REPOSITORY:TAG or @sha256:…), an OCI"
        " image layout directory or archive (default: public.ecr.aws/lambda/python:X.Y)",
    )
    image.add_argument(
        "-o", "--output", type=Path, metavar="FILE.tar", help="write an OCI layout archive"
    )
    image.add_argument("--push", metavar="HOST/REPOSITORY:TAG", help="push the image to a registry")
    image.add_argument(
        "--registry-auth",
        metavar="USER:PASSWORD|ecr",
        help="credentials for the --push registry (default: $LAMBDALAYER_REGISTRY_AUTH, else ECR's"
        " login for an ECR host, else the Docker configuration's); 'ecr': ECR's login for any host",
    )
    image.add_argument(
        "--lock",
        type=Path,
        metavar="FILE",
        help="also write the image's pylock.toml (PEP 751): the exact wheels in it",
    )
    image.add_argument(
        "--sbom",
        type=Path,
        metavar="FILE",
        help="also write the image's SBOM (what its layers add; the runtime's own packages as"
        " also loaded); with --push it is pushed too, as an OCI artefact whose subject is the"
        " image (the registry's referrers API, else the sha256-<hex> tag the OCI spec gives)",
    )
    image.add_argument(
        "--sbom-format",
        choices=SbomFormat.choices(),
        default=SbomFormat.CYCLONEDX.value,
        help="CycloneDX 1.6 (default) or SPDX 2.3 JSON",
    )
    image.add_argument(
        "--deploy",
        metavar="FUNCTION",
        help="then make FUNCTION (an image function) run the pushed image, and wait",
    )
    image.add_argument(
        "--print",
        dest="print_field",
        choices=["image-uri", "digest"],
        help="print only this, for scripts: the pushed image by digest, or the manifest's digest",
    )
    add_sources(parser)
    add_recipe(parser, layout=False)
    add_global_options(parser, top=False)
    add_aws(parser)


def execute(args: argparse.Namespace) -> int:
    """Run ``image build`` or ``image pull``."""
    if args.image_command == "build":
        return _execute_build(args)
    target = get_target(args.runtime, args.arch)
    image = pulled(args, target)
    if args.json:
        print_json(
            {
                "ok": True,
                "reference": image.reference,
                "digest": image.digest,
                "machine": image.machine,
                "rootfs": str(image.rootfs),
                "downloaded_bytes": image.downloaded_bytes,
            }
        )
    else:
        print(f"{image.reference} ({target.arch}) {image.digest}: {image.rootfs}")
    return EXIT_OK


def pulled(args: argparse.Namespace, target: Target) -> PulledImage:
    """The runtime image of ``target`` from ``--registry`` into ``--cache-dir``; a failure says the way round."""
    cache = cache_root(args.cache_dir)
    try:
        return pull_image(target, cache, registry_url=args.registry, notify=stderr)
    except FetchError as error:
        raise FetchError(
            error.message,
            hint=f"check the network and --registry ({args.registry}) — a mirror of AWS's"
            " images works; or skip the pull: 'check'/'invoke' take an extracted image with"
            " --image DIR, and 'image build' a base with --base DIR|FILE.tar",
        ) from error


def refuse_unread_registry(args: argparse.Namespace) -> None:
    """``--registry`` is where ``--image pull`` pulls from: given with any other ``--image``
    (or none), nothing would read it."""
    if args.registry != PUBLIC_REGISTRY and args.image != "pull":
        raise InputError(
            "--registry is read only with --image pull: without it, it would be ignored",
            hint="add --image pull, or drop --registry",
        )


def chosen_image(args: argparse.Namespace, target: Target) -> Path | None:
    """``--image``: ``host`` (this machine's libraries), ``pull`` (pulled into the cache now),
    a directory, or ``None`` (the best root there is)."""
    if args.image == "host":
        return HOST
    if args.image == "pull":
        return pulled(args, target).rootfs
    return Path(args.image) if args.image else None


def registry_auth(args: argparse.Namespace) -> RegistryAuth:
    """``--registry-auth`` (or ``$LAMBDALAYER_REGISTRY_AUTH``) as the library's settings."""
    given = args.registry_auth or os.environ.get("LAMBDALAYER_REGISTRY_AUTH")
    settings = aws_settings(args)
    if not given:
        return RegistryAuth(aws=settings)
    if given == "ecr":
        return RegistryAuth(ecr=True, aws=settings)
    user, colon, password = given.partition(":")
    if not colon or not user:
        raise InputError(
            "--registry-auth takes USER:PASSWORD or ecr", hint="or log in with docker login HOST"
        )
    return RegistryAuth((user, password), aws=settings)


def image_request(args: argparse.Namespace) -> ImageRequest:
    """The image ``args`` describe (one target), as the library's request."""
    if args.function and not args.handler:
        raise InputError(
            "--function puts code at /var/task; the image also needs --handler MODULE.FUNCTION"
            " (its CMD)"
        )
    flags = Flags(
        inputs=input_flags(args),
        runtimes=split(args.runtime),
        arches=split(args.arch),
        targets=split(args.target),
        sources=source_flags(args),
        recipe=RecipeFlags(None, args.bytecode, args.python, slim_options(args), not args.no_check),
        outputs=OutputFlags(lock=args.lock),
    )
    push = ImageReference.parse(args.push) if args.push else None
    archive = args.output if args.output or push else Path("image.tar")
    if args.sbom is not None:
        check_side_output(args.sbom, "--sbom", [("-o", archive), ("--lock", args.lock)])
        ensure_writable_parent(args.sbom, "--sbom")
    outputs = ImageOutputs(
        archive, push, args.deploy, sbom=args.sbom, sbom_format=SbomFormat(args.sbom_format)
    )
    request = plan_image(flags, outputs, args.base, registry_auth(args))
    if args.trim is not None:  # read (and a bad one refused) before anything is built
        manifest = read_manifest(args.trim).with_keep(tuple(args.keep))
        request = dataclasses.replace(request, trim=manifest)
    return request


def _execute_build(args: argparse.Namespace) -> int:
    request = image_request(args)
    config = load_config(args.project or Path.cwd())
    with allowing_auth_hosts(config.allow_auth_hosts if config else ()):
        result = build_image(request, stderr)
    if args.json:
        print_json(image_document(result))
    elif args.print_field == "image-uri":
        if result.image_uri is None:
            raise InputError("--print image-uri needs --push")
        print(result.image_uri)
    elif args.print_field == "digest":
        print(result.image.digest)
    else:
        print_image(result)
    return EXIT_OK


def image_document(result: ImageResult) -> dict[str, object]:
    """``image build --json``: the image, its layers, the check and where it went."""
    pushed = result.pushed
    return {
        "ok": True,
        "target": result.request.target.name,
        "digest": result.image.digest,
        "base": {"name": result.base.name, "pinned": result.base.pinned},
        "layers": [
            {
                "what": layer.what,
                "digest": layer.blob.digest,
                "size": layer.blob.size,
                "unzipped": layer.blob.tar_size,
                "files": layer.files,
                "made": layer.made,
            }
            for layer in result.layers
        ],
        "archive": str(result.request.outputs.archive) if result.archive_bytes else None,
        "archive_bytes": result.archive_bytes,
        "image_uri": result.image_uri,
        "pushed": None
        if pushed is None
        else {
            "uploaded_blobs": len(pushed.uploaded),
            "uploaded_bytes": pushed.uploaded_bytes,
            "present_blobs": pushed.present,
            "mounted_blobs": pushed.mounted,
        },
        "deployed": None if result.deployed is None else result.deployed.function_arn,
        "sbom": _sbom_document(result),
        "check": None
        if result.report is None
        else {
            "ok": result.report.ok,
            "verdict": result.report.verdict.value,
            # the base's layers and lambdalayer's files, uncompressed: what Lambda's 10 GB counts
            "uncompressed_bytes": result.report.total_unzipped_bytes,
        },
        "seconds": round(result.seconds, 3),
        "timings": result.timings,
    }


def print_image(result: ImageResult) -> None:
    """The summary: target, base, each layer, where the image went."""
    target = result.request.target
    print(f"built an image for {target.runtime.name} on {target.arch} on {result.base.pinned}")
    width = max([10, *(len(layer.what) for layer in result.layers)])
    print(f"  {'layer':<{width}}  {'files':>6}  {'unpacked':>10}  {'gzip':>10}  digest")
    for layer in result.layers:
        print(
            f"  {layer.what:<{width}}  {layer.files:>6}  {human_bytes(layer.blob.tar_size):>10}"
            f"  {human_bytes(layer.blob.size):>10}  {layer.blob.digest[:19]}…"
            f"{'' if layer.made else ' (cached)'}"
        )
    if result.report is not None:
        print_check_report(result.report, sys.stdout)
    print(f"image digest: {result.image.digest}")
    if result.archive_bytes is not None:
        print(f"archive: {result.request.outputs.archive} ({human_bytes(result.archive_bytes)})")
    if result.pushed is not None:
        pushed = result.pushed
        print(
            f"pushed: {pushed.image.uri} ({counted(len(pushed.uploaded), 'blob')}, "
            f"{human_bytes(pushed.uploaded_bytes)} sent; {pushed.present} already there,"
            f" {pushed.mounted} mounted)"
        )
    if result.request.outputs.sbom is not None:
        attached = result.delivered.sbom
        where = (
            f"; pushed as {attached.digest[:19]}…, found by {attached.found_by}" if attached else ""
        )
        print(f"sbom: {result.request.outputs.sbom}{where}")
    if result.deployed is not None:
        print(f"deployed: {result.deployed.function} runs {result.deployed.image_uri}")


def _sbom_document(result: ImageResult) -> dict[str, object] | None:
    """Where the SBOM went: its file, and the artefact pushed beside the image."""
    path = result.request.outputs.sbom
    if path is None:
        return None
    attached = result.delivered.sbom
    return {
        "path": str(path),
        "format": result.request.outputs.sbom_format.value,
        "pushed": None
        if attached is None
        else {
            "digest": attached.digest,
            "artifact_type": attached.artifact_type,
            "found_by": attached.found_by,
        },
    }
