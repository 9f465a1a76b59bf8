"""Where a finished layer goes: a zip file, or a directory of the layer's files.

Either way the layer is first written as a zip beside its destination (or in the cache,
for a directory), checked there, and only then put in place: :meth:`staged` yields that
zip's path, and when the block succeeds the output appears; when it fails, nothing at the
output has changed. :meth:`reserved` proves the destination writable before any work
and removes the directories it had to create if the build then fails.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lambdalayer.cache import Cache
from lambdalayer.fsutil import ensure_writable_parent, remove_empty_dirs, staged_path
from lambdalayer.layer.tree import install_tree


@dataclass(frozen=True)
class ZipOutput:
    """The layer as one zip file at ``path``, renamed into place when complete."""

    path: Path

    @contextlib.contextmanager
    def reserved(self) -> Iterator[None]:
        """The output's directory exists and is writable; created directories go if the block fails."""
        created = ensure_writable_parent(self.path)
        try:
            yield
        except BaseException:
            remove_empty_dirs(created)
            raise

    @contextlib.contextmanager
    def staged(self) -> Iterator[Path]:
        """A temporary zip beside :attr:`path`, renamed to it when the block succeeds."""
        with staged_path(self.path) as staging:
            yield staging


@dataclass(frozen=True)
class TreeOutput:
    """The layer as the files of its zip under ``path`` (for SAM's and CDK's directories).

    Only what the layer owns is replaced (:mod:`lambdalayer.layer.tree`); the record of what
    it wrote is kept under ``cache_dir``, where the staged zip is made too.
    """

    path: Path
    cache_dir: Path

    @contextlib.contextmanager
    def reserved(self) -> Iterator[None]:
        """The directory (or its parent) is writable; created directories go if the block fails."""
        created = ensure_writable_parent(self.path / "x")
        try:
            yield
        except BaseException:
            remove_empty_dirs(created)
            raise

    @contextlib.contextmanager
    def staged(self) -> Iterator[Path]:
        """A zip in the cache, unpacked into :attr:`path` when the block succeeds, then removed."""
        with Cache.at(self.cache_dir).scratch("tree-") as scratch:
            staging = scratch / "layer.zip"
            yield staging
            install_tree(staging, self.path, self.cache_dir)


LayerOutput = ZipOutput | TreeOutput
