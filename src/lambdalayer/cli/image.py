"""The ``image`` command: Lambda's runtime images, pulled into the cache without Docker."""

from __future__ import annotations

import argparse
from pathlib import Path

from lambdalayer.check.image import PUBLIC_REGISTRY, REPOSITORY, PulledImage, pull_image
from lambdalayer.cli.common import EXIT_OK, print_json, stderr
from lambdalayer.cli.options import add_json
from lambdalayer.errors import FetchError
from lambdalayer.net.fetch import default_cache_dir
from lambdalayer.targets import ARCH_ALIASES, Target, get_target

HELP = "fetch Lambda's runtime images for in-image checks"
DESCRIPTION = "Pull public.ecr.aws/lambda/python:X.Y for one CPU into the cache (no Docker)."
EPILOG = """\
examples:
  lambdalayer image pull python3.12 --arch arm64
  lambdalayer check layer.zip --runtime python3.12 --arch arm64 --image pull

The image is kept under the cache (images/<manifest digest>/rootfs) and used by
'check --image pull' (and by every later check of that target) without downloading it
again. Its token is sent to the registry only.
"""


def add_registry(parser: argparse.ArgumentParser) -> None:
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
    pull = actions.add_parser(
        "pull",
        help="pull a runtime's image into the cache",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    pull.add_argument("runtime", metavar="RUNTIME", help="e.g. python3.12 or 3.12")
    pull.add_argument("--arch", metavar="ARCH", help=f"CPU: {ARCH_ALIASES} (default: x86_64)")
    add_registry(pull)
    add_json(pull, "where the image is")


def execute(args: argparse.Namespace) -> int:
    """Run ``image pull``."""
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
    cache = args.cache_dir or default_cache_dir()
    try:
        return pull_image(target, cache, registry_url=args.registry, notify=stderr)
    except FetchError as error:
        raise FetchError(
            error.message,
            hint=f"check the network and --registry ({args.registry}); or give an extracted image"
            " with --image DIR (no registry needed)",
        ) from error
