"""``image build``: the layer pipeline's first stages, then an image instead of a zip.

    ImageRequest
      → Locked, FetchReport   (as for a layer: resolve, fetch by sha256)
      → LayerContents          (fragments laid out at /var/lang/lib/pythonX.Y/site-packages)
      → BaseImage              (the base's manifest and config, pinned by digest)
      → ImageLayer…            (the dependencies grouped, then the function's code)
      → ComposedImage          (config and manifest)
      → CheckReport            (the dependencies checked inside the base image)
      → archive / push / deploy

Nothing is written at the archive's path, pushed or deployed until the check has passed.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lambdalayer.aws.images import DeployResult, deploy_image
from lambdalayer.builder.pipeline import fetch_lock, provided_sets
from lambdalayer.builder.request import FunctionCode
from lambdalayer.check.findings import CheckReport
from lambdalayer.check.request import CheckRequest, ImportOptions
from lambdalayer.container.base import BaseImage, resolve_base
from lambdalayer.container.check import check_image
from lambdalayer.container.compose import ComposedImage, compose
from lambdalayer.container.credentials import credentials_for
from lambdalayer.container.layers import ImageLayer, LayerMaker
from lambdalayer.container.output import PushReport, push_image, write_image_archive
from lambdalayer.container.request import ImageRequest
from lambdalayer.environment.image import ImageSource, unpacked_image
from lambdalayer.errors import InputError, LayerCheckError
from lambdalayer.fsutil import ensure_writable_parent, remove_empty_dirs
from lambdalayer.interpreters import Interpreter
from lambdalayer.layer.archive import Entry
from lambdalayer.layer.assemble import function_entries
from lambdalayer.layer.bytecode import bytecode_compiler, compile_entries
from lambdalayer.layer.contents import LayerContents, layer_contents
from lambdalayer.layer.fragments import Recipe
from lambdalayer.oci.blobs import BlobStore
from lambdalayer.recipe import BytecodeMode
from lambdalayer.resolve.stage import Locked, locked
from lambdalayer.targets import Layout, Target
from lambdalayer.timings import Stopwatch

Notify = Callable[[str], None]
TASK_ROOT = "var/task/"  # LAMBDA_TASK_ROOT, where Lambda's base images run the handler from


def _quiet(_message: str) -> None:
    """The default ``notify``: say nothing."""


@dataclass(frozen=True)
class ImageResult:
    """A built image: what went in, its layers, config and manifest, and where it went."""

    request: ImageRequest
    locked: Locked
    contents: LayerContents
    base: BaseImage
    layers: tuple[ImageLayer, ...]  # lambdalayer's, on top of the base's
    image: ComposedImage
    report: CheckReport | None
    archive_bytes: int | None
    pushed: PushReport | None
    deployed: DeployResult | None
    seconds: float
    timings: dict[str, float]

    @property
    def image_uri(self) -> str | None:
        """``host/repository@sha256:…`` of the pushed image (what Lambda's ``ImageUri`` takes)."""
        return self.pushed.image.uri if self.pushed else None


def build_image(request: ImageRequest, notify: Notify = _quiet) -> ImageResult:
    """Build (check, write, push, deploy) one container image as ``request`` says.

    An archive's directory is proved writable first (and removed again if the build fails).
    """
    outputs = request.outputs
    if outputs.deploy and outputs.push is None:
        raise InputError("--deploy runs the pushed image: it needs --push REGISTRY/REPO:TAG")
    created = ensure_writable_parent(outputs.archive) if outputs.archive is not None else []
    try:
        return _build_image(request, notify)
    except BaseException:
        remove_empty_dirs(created)
        raise


def _build_image(request: ImageRequest, notify: Notify) -> ImageResult:
    build, outputs = request.contents, request.outputs
    watch, target, cache_dir = Stopwatch(), build.target, build.cache_dir
    store = BlobStore(cache_dir)
    credentials = credentials_for(request.auth, outputs.push.host if outputs.push else None)
    with watch("resolve"):
        provided = provided_sets(build.beneath, target)
        lock = locked(build.source, target, provided, cache_dir, notify)
    with watch("fetch"):
        fetched = fetch_lock(lock.lock, cache_dir, build.jobs, build.source.index, notify)
    made = build.recipe
    compiler = bytecode_compiler(made.bytecode, target.runtime, made.python, notify)
    recipe = Recipe(target, Layout.IMAGE, made.slim, made.bytecode, compiler)
    with watch("fragments"):
        contents = layer_contents(fetched.wheels, recipe, cache_dir, None, notify)
        code = _function_code(made.function, compiler, made.bytecode)
    with watch("base"):
        base = resolve_base(request.base_name, target, store, credentials)
    with watch("layers"):
        maker = LayerMaker(cache_dir, store)
        layers = [*maker.dependencies(contents), *([maker.code(code)] if code else [])]
    handler = request.handler or (made.function.handler if made.function else None)
    image = compose(base, layers, handler)
    report = None
    if build.check:
        with watch("check"):
            root = _base_root(base, target, store, cache_dir, notify)
            bytecode = made.bytecode if compiler is not None else BytecodeMode.NONE
            options = ImportOptions(python=made.python, image=root, index=build.source.index)
            checking = CheckRequest(target, imports=options, container=True)
            report = check_image(checking, cache_dir, contents, bytecode, notify)
        if not report.ok:
            raise LayerCheckError(
                f"the image's dependencies fail {len(report.errors)} check(s) for {target.name};"
                " nothing was written or pushed",
                report,
                hint="each finding says what to fix; --no-check builds the image anyway",
            )
    archive_bytes = pushed = deployed = None
    if outputs.archive is not None:
        with watch("archive"):
            ref_name = outputs.push.tag if outputs.push and outputs.push.tag else "latest"
            archive_bytes = write_image_archive(outputs.archive, image, base, store, ref_name)
    if outputs.push is not None:
        with watch("push"):
            pushed = push_image(image, base, outputs.push, credentials, store, notify)
    if outputs.deploy is not None and pushed is not None:
        with watch("deploy"):
            deployed = deploy_image(request.auth.aws, outputs.deploy, pushed.image.uri)
    return ImageResult(
        request,
        lock,
        contents,
        base,
        tuple(layers),
        image,
        report,
        archive_bytes,
        pushed,
        deployed,
        watch.elapsed(),
        watch.rounded(),
    )


def _function_code(
    function: FunctionCode | None, compiler: Interpreter | None, bytecode: BytecodeMode
) -> list[Entry]:
    """The function's code under /var/task, compiled like the dependencies."""
    if function is None:
        return []
    code = function_entries(function.source)
    if compiler is not None:
        code = list(compile_entries(code, compiler, bytecode, Layout.FUNCTION).entries)
    return [dataclasses.replace(entry, arcname=TASK_ROOT + entry.arcname) for entry in code]


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
