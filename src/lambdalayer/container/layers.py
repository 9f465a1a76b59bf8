"""The image's own layers: the dependencies, grouped so that one change re-pushes little,
then the function's code.

A distribution of :data:`OWN_LAYER_BYTES` or more (unzipped, after slimming) gets a
layer of its own; the smaller ones share one; the function's code is the last layer.
Changing one requirement then changes its own layer (a large one) or the shared one (a
small one), and every other layer keeps its digest, so a push sends only what changed:
measured by ``benchmarks/image_build.py`` (the README gives its figures). Grouping by a
distribution's own size — never by its rank among the others — keeps a change in one from
moving another between layers. At most :data:`MAX_OWN_LAYERS` have their own (the largest);
Lambda's base images have a handful of layers, well within what image tools accept.

Each layer is a reproducible tarball (:mod:`lambdalayer.oci.tarlayer`) of the fragments'
files, kept in the blob store and found again by a key of its members' names, modes and
fragments (so a warm build writes no layer).
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lambdalayer.blobstore import BlobStore
from lambdalayer.cache import Bucket, Cache, key_of
from lambdalayer.layer.contents import LayerContents
from lambdalayer.oci.tarlayer import LayerBlob, TarMember, write_layer
from lambdalayer.placement import PlacedFile
from lambdalayer.targets import Layout

OWN_LAYER_BYTES = 4 * 1024 * 1024
MAX_OWN_LAYERS = 40
FORMAT = 1


@dataclass(frozen=True)
class ImageLayer:
    """One layer lambdalayer made: what is in it, and its blob."""

    what: str  # "numpy 2.1.3", "9 smaller distributions", "the function's code"
    blob: LayerBlob
    files: int
    unzipped: int
    distributions: tuple[str, ...] = ()
    made: bool = False  # written by this build (not found in the cache)


@dataclass(frozen=True)
class _Group:
    what: str
    files: tuple[PlacedFile, ...]
    distributions: tuple[str, ...]


def groups(files: Sequence[PlacedFile], versions: Mapping[str, str]) -> list[_Group]:
    """The dependency layers' contents: the large distributions alone, the rest together."""
    by_origin: dict[str, list[PlacedFile]] = defaultdict(list)
    for file in files:
        by_origin[file.origin or ""].append(file)
    sizes = {name: sum(file.size for file in files) for name, files in by_origin.items()}
    large = sorted(
        (name for name, size in sizes.items() if size >= OWN_LAYER_BYTES and name),
        key=lambda name: (-sizes[name], name),
    )[:MAX_OWN_LAYERS]
    found = [
        _Group(f"{name} {versions.get(name, '')}".strip(), tuple(by_origin[name]), (name,))
        for name in sorted(large)
    ]
    rest = sorted(name for name in by_origin if name not in large)
    if rest:
        grouped = tuple(file for name in rest for file in by_origin[name])
        what = f"{len(rest)} smaller distribution{'s' if len(rest) != 1 else ''}"
        found.append(_Group(what, grouped, tuple(rest)))
    return found


def is_code(file: PlacedFile) -> bool:
    """Whether a file of an image is the function's own code (at /var/task)."""
    return file.origin is None and file.arcname.startswith(Layout.IMAGE.function_code)


class LayerMaker:
    """Layers from placed files, each written once and then found in the cache by its key."""

    def __init__(self, cache_dir: Path, store: BlobStore) -> None:
        self.cache = Cache.at(cache_dir)
        self.store = store

    def layers(self, contents: LayerContents) -> list[ImageLayer]:
        """The image's layers: the dependencies (see :func:`groups`), then the function's code."""
        placement = contents.placement
        versions = {item.name: item.version for item in contents.distributions}
        code = [file for file in placement.files if is_code(file)]
        dependencies = [file for file in placement.files if file not in code]
        made = [
            self._dependency_layer(group, placement.digests)
            for group in groups(dependencies, versions)
        ]
        return [*made, *([self.code(code)] if code else [])]

    def _dependency_layer(self, group: _Group, digests: Mapping[str, str]) -> ImageLayer:
        identity: list[list[object]] = [
            [file.arcname, file.mode, digests.get(file.origin or "", "")] for file in group.files
        ]
        members = [
            TarMember(file.arcname, file.mode, file.extracted)
            if file.extracted is not None
            else TarMember(file.arcname, file.mode, file.entry.new_bytes())
            for file in group.files
        ]
        return self._layer(group.what, identity, members, group.distributions)

    def code(self, files: Sequence[PlacedFile]) -> ImageLayer:
        """The function's code as one layer."""
        contents = [(file, file.entry.new_bytes()) for file in files]
        members = [TarMember(file.arcname, file.mode, data) for file, data in contents]
        identity: list[list[object]] = [
            [file.arcname, file.mode, hashlib.sha256(data).hexdigest()] for file, data in contents
        ]
        return self._layer("the function's code", identity, members, ())

    def _layer(
        self,
        what: str,
        identity: list[list[object]],
        members: list[TarMember],
        distributions: tuple[str, ...],
    ) -> ImageLayer:
        key = key_of(FORMAT, identity)
        record = self.cache.mark(Bucket.IMAGE_LAYERS, key)
        unzipped = sum(_size(member) for member in members)
        blob = self._known(record) if self.cache.admit(Bucket.IMAGE_LAYERS, key) else None
        if blob is not None:
            return ImageLayer(what, blob, len(members), unzipped, distributions)
        with self.store.writing() as scratch:
            with scratch.open("wb") as out:
                blob = write_layer(members, out)
            self.store.keep(scratch, blob.digest)
        self.cache.bucket(Bucket.IMAGE_LAYERS)
        self.cache.write(Bucket.IMAGE_LAYERS, key, json.dumps(blob.__dict__).encode("utf-8"))
        return ImageLayer(what, blob, len(members), unzipped, distributions, made=True)

    def _known(self, record: Path) -> LayerBlob | None:
        try:
            blob = LayerBlob(**json.loads(record.read_text("utf-8")))
        except (OSError, ValueError, TypeError):
            return None
        return blob if self.store.has(blob.digest, blob.size) else None


def _size(member: TarMember) -> int:
    if isinstance(member.source, bytes):
        return len(member.source)
    return member.source.stat().st_size
