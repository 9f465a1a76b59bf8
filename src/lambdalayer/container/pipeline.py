"""``image build``: the same preparation stage as a layer, then an image instead of a zip.

    ImageRequest
      → Prepared        (:func:`lambdalayer.prepare.prepare`, as for a layer: the lock, the
                         wheels, the files placed at /var/lang/lib/pythonX.Y/site-packages
                         and the function's code at /var/task)
      → BaseImage        (the base's manifest and config, pinned by digest)
      → ImageLayer…      (the dependencies grouped, then the function's code)
      → ComposedImage    (config and manifest)
      → CheckReport      (the placed files checked inside the base image)
      → archive / push / deploy, and the lock

Nothing is written at the archive's path or the lock's, pushed or deployed until the check
has passed; the lock (what the image holds) is written then, before the layers.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from lambdalayer.aws.beneath import provided_sets
from lambdalayer.aws.client import AwsSettings
from lambdalayer.aws.images import DeployResult, deploy_image
from lambdalayer.blobstore import BlobStore
from lambdalayer.cache import Cache
from lambdalayer.check.cache import checked
from lambdalayer.check.findings import CheckReport
from lambdalayer.check.providers import AskIndex, index_asker
from lambdalayer.check.request import CheckRequest, ImportOptions
from lambdalayer.container.base import BaseImage, reachable_base
from lambdalayer.container.compose import ComposedImage, compose
from lambdalayer.container.credentials import credentials_for
from lambdalayer.container.layers import ImageLayer, LayerMaker
from lambdalayer.container.output import (
    Attached,
    PushReport,
    attach_artefact,
    push_image,
    write_image_archive,
)
from lambdalayer.container.request import ImageOutputs, ImageRequest
from lambdalayer.environment.image import ImageSource, unpacked_image
from lambdalayer.errors import InputError, LayerCheckError, option
from lambdalayer.fsutil import atomic_write_bytes, ensure_writable_parent, remove_empty_dirs
from lambdalayer.oci.credentials import Credentials
from lambdalayer.placement import Placement
from lambdalayer.prepare import Preparation, Prepared, prepare, reserved_lock, trimmed, write_lock
from lambdalayer.progress import Notify, quiet
from lambdalayer.supply.inventory import Artefact, inventory_of_placement, runtime_provided
from lambdalayer.supply.sbom import render
from lambdalayer.targets import Layout, Target
from lambdalayer.timings import Stopwatch
from lambdalayer.wording import counted


@dataclass(frozen=True)
class Delivered:
    """Where the image went: the archive's size, the push, the deploy."""

    archive_bytes: int | None = None
    pushed: PushReport | None = None
    deployed: DeployResult | None = None
    sbom: Attached | None = None  # the SBOM pushed beside the image, referring to it


@dataclass(frozen=True)
class ImageResult:
    """A built image: what went in, its layers, config and manifest, and where it went."""

    request: ImageRequest
    prepared: Prepared
    base: BaseImage
    layers: tuple[ImageLayer, ...]  # lambdalayer's, on top of the base's
    image: ComposedImage
    report: CheckReport | None
    delivered: Delivered
    seconds: float
    timings: dict[str, float]

    @property
    def image_uri(self) -> str | None:
        """``host/repository@sha256:…`` of the pushed image (what Lambda's ``ImageUri`` takes)."""
        return self.pushed.image.uri if self.pushed else None

    @property
    def archive_bytes(self) -> int | None:
        """The OCI layout archive's size, when one was written."""
        return self.delivered.archive_bytes

    @property
    def pushed(self) -> PushReport | None:
        """What the push sent, when the image was pushed."""
        return self.delivered.pushed

    @property
    def deployed(self) -> DeployResult | None:
        """The function updated to run the image, when one was."""
        return self.delivered.deployed


def build_image(request: ImageRequest, notify: Notify = quiet) -> ImageResult:
    """Build (check, write, push, deploy) one container image as ``request`` says.

    An archive's and a lock's directories are proved writable first (and removed again if
    the build fails).
    """
    outputs = request.outputs
    if outputs.deploy and outputs.push is None:
        raise InputError(
            f"{option('ImageOutputs.deploy')} runs the pushed image: it needs"
            f" {option('ImageOutputs.push', 'REGISTRY/REPO:TAG')}"
        )
    created = ensure_writable_parent(outputs.archive) if outputs.archive is not None else []
    try:
        with Cache.open(request.cache_dir), reserved_lock(outputs.lock):
            return _build_image(request, notify)
    except BaseException:
        remove_empty_dirs(created)
        raise


def _build_image(request: ImageRequest, notify: Notify) -> ImageResult:
    outputs, target, cache_dir = request.outputs, request.target, request.cache_dir
    base_name, command, watch = request.base_name, request.command, Stopwatch()
    store = BlobStore(cache_dir)
    credentials = credentials_for(request.auth, outputs.push.host if outputs.push else None)
    with watch("base"):  # first: a base that cannot be had is said before anything is prepared
        base = reachable_base(base_name, target, store, credentials, default=request.base is None)
    with watch("resolve"):
        provided = provided_sets(request.beneath, target)
    recipe = replace(request.recipe, layout=Layout.IMAGE)
    prepared = prepare(
        Preparation(target, request.source, recipe, provided, cache_dir, request.jobs),
        notify,
        watch,
    )
    if request.trim is not None:
        with watch("trim"):
            prepared = trimmed(prepared, request.trim)
    report = None
    if request.check:  # before any layer is written: nothing is kept for an image that fails
        with watch("check"):
            root = _base_root(base, target, store, cache_dir, notify)
            placement = replace(prepared.contents.placement, label=outputs.archive)
            options = ImportOptions(python=request.recipe.python, image=root)
            # Lambda's 10 GB counts the whole image: the base's layers too
            beneath = ((f"the base {base.name}", base.uncompressed_bytes(store)),)
            checking = CheckRequest(target, beneath=beneath, imports=options, container=True)
            asked = index_asker(request.source.index, notify)  # as a layer's build asks it
            report = _checked(placement, checking, cache_dir, notify, asked)
    if outputs.lock is not None:  # what the image holds, once it passed its check
        write_lock(outputs.lock, prepared)
    with watch("layers"):
        layers = LayerMaker(cache_dir, store).layers(prepared.contents)
    image = compose(base, layers, command)
    sbom = _write_sbom(outputs, prepared, image) if outputs.sbom is not None else None
    delivered = _deliver(
        outputs, request.auth.aws, (image, base, sbom), (store, credentials), watch, notify
    )
    return ImageResult(
        request,
        prepared,
        base,
        tuple(layers),
        image,
        report,
        delivered,
        watch.elapsed(),
        watch.rounded(),
    )


def _checked(
    placement: Placement,
    checking: CheckRequest,
    cache_dir: Path,
    notify: Notify,
    ask_index: AskIndex,
) -> CheckReport:
    """The image's files checked inside the base image (refused when they fail); the index
    asked which project a missing module could come from, as a layer's check asks it."""
    what = "the image's dependencies"
    report = checked(placement, checking, cache_dir, notify, what, ask_index=ask_index)
    if report.failed:
        raise LayerCheckError(
            f"the image's dependencies fail {counted(len(report.errors), 'check')} for"
            f" {checking.target.name}; nothing was written or pushed",
            report,
            hint=f"each finding says what to fix; {option('ImageRequest.check', False)} builds"
            " the image anyway",
        )
    return report


def _deliver(
    outputs: ImageOutputs,
    aws: AwsSettings,
    composed: tuple[ComposedImage, BaseImage, bytes | None],
    registry: tuple[BlobStore, Credentials],
    watch: Stopwatch,
    notify: Notify,
) -> Delivered:
    """The image written as an OCI layout archive, pushed, deployed — as asked."""
    (image, base, sbom), (store, credentials) = composed, registry
    archive_bytes = pushed = deployed = attached = None
    if outputs.archive is not None:
        with watch("archive"):
            ref_name = outputs.push.tag if outputs.push and outputs.push.tag else "latest"
            archive_bytes = write_image_archive(outputs.archive, image, base, store, ref_name)
    if outputs.push is not None:
        with watch("push"):
            pushed = push_image(image, base, outputs.push, credentials, store, notify)
            if sbom is not None:
                document = (outputs.sbom_format.media_type, sbom)
                attached = attach_artefact(image, outputs.push, credentials, store, document)
    if outputs.deploy is not None and pushed is not None:
        with watch("deploy"):
            deployed = deploy_image(aws, outputs.deploy, pushed.image.uri)
    return Delivered(archive_bytes, pushed, deployed, attached)


def _write_sbom(outputs: ImageOutputs, prepared: Prepared, image: ComposedImage) -> bytes:
    """The image's SBOM (what its layers add, from their placed files and the lock; the
    runtime's own packages as what the function also loads), written to ``outputs.sbom``."""
    target = prepared.recipe.target
    name = str(outputs.push) if outputs.push is not None else "image"
    artefact = Artefact(name, image.digest.removeprefix("sha256:"), "image")
    inventory = inventory_of_placement(
        prepared.contents.placement,
        artefact,
        prepared.locked.lock,
        runtime_provided(target),
        target.name,
    )
    text = render(inventory, outputs.sbom_format).encode("utf-8")
    if outputs.sbom is not None:
        atomic_write_bytes(outputs.sbom, text)
    return text


def _base_root(
    base: BaseImage, target: Target, store: BlobStore, cache_dir: Path, notify: Notify
) -> Path:
    """The base image unpacked in the cache (once per manifest digest), for the imports."""

    def from_store(digest: str, out: Path, *, size: int | None = None) -> int:
        del size  # the store's copy was fetched to the size the base's manifest declares
        shutil.copyfile(base.local_blob(digest, store), out)
        return out.stat().st_size

    source = ImageSource(base.pinned, base.digest, target.machine, from_store)
    return unpacked_image(source, base.manifest, cache_dir, notify).rootfs
