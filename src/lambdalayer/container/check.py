"""The image's dependencies get the check a layer gets, run inside the base image itself.

The site-packages files are written, as they are, to a zip in a layer's layout
(``python/lib/pythonX.Y/site-packages/``, the same directory on ``sys.path`` that
``/var/lang/lib/pythonX.Y/site-packages`` is in the image) and checked with
:func:`~lambdalayer.check.rules.check`: shared libraries against the runtime's library
set, glibc and CPU, ABI tags, then every top-level module imported in a sandbox whose root
is the base image, unpacked once into the cache (the runtime's own packages at
``/var/runtime`` are the image's). Sizes are measured against an image's 10 GB instead of
a layer's quotas. The zip is scratch, removed after the check; the report is cached like
a layer's (the same files, the same base: checked once).
"""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
from collections.abc import Callable
from pathlib import Path

from lambdalayer.builder.pipeline import Checking, checked_zip
from lambdalayer.check.findings import CheckReport
from lambdalayer.check.request import CheckRequest
from lambdalayer.layer.archive import write_zip
from lambdalayer.layer.contents import LayerContents
from lambdalayer.layercomment import archive_comment
from lambdalayer.recipe import BytecodeMode
from lambdalayer.targets import Layout

Notify = Callable[[str], None]


def as_layer(contents: LayerContents, image_site: str, layer_site: str) -> LayerContents:
    """The site-packages part of an image's contents renamed into a layer's layout."""

    def renamed(name: str) -> str:
        return layer_site + name.removeprefix(image_site)

    entries = tuple(
        dataclasses.replace(entry, arcname=renamed(entry.arcname))
        for entry in contents.entries
        if entry.arcname.startswith(image_site)
    )
    return dataclasses.replace(
        contents,
        entries=entries,
        elf_facts={
            renamed(name): facts
            for name, facts in contents.elf_facts.items()
            if name.startswith(image_site)
        },
        member_files={
            renamed(name): path
            for name, path in contents.member_files.items()
            if name.startswith(image_site)
        },
    )


def check_image(
    request: CheckRequest,
    cache_dir: Path,
    contents: LayerContents,
    bytecode: BytecodeMode,
    notify: Notify,
) -> CheckReport:
    """Check the image's dependencies as a layer, as ``request`` says."""
    target = request.target
    image_site = target.site_packages_prefix(Layout.IMAGE)
    layer = as_layer(contents, image_site, target.site_packages_prefix(Layout.SITE_PACKAGES))
    scratch_parent = cache_dir / "tmp"
    scratch_parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch_parent, prefix="image-check-") as scratch:
        staging = Path(scratch) / "dependencies.zip"
        comment = archive_comment(target, Layout.SITE_PACKAGES, bytecode)
        stats = write_zip(staging, layer.entries, comment=comment)
        checking = Checking(request, cache_dir, "the image's dependencies")
        report = checked_zip(staging, stats.sha256, checking, layer, notify)
        with contextlib.suppress(OSError):
            staging.unlink()
    return dataclasses.replace(report, zipped_bytes=0)  # the scratch zip's size means nothing
