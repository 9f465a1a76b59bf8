"""The cache's buckets: one enum that names every kind of entry and where it lives.

Like uv's cache crate: a bucket is a directory under the cache's root, and this module is
the only place that knows the names. An entry is addressed by its bucket and a key; the
key of a derived entry is :func:`lambdalayer.cache.keys.key_of` of the frozen request the
entry depends on, the key of a content-addressed one is the sha256 of its content.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Shape(enum.Enum):
    """How an entry's key becomes a path inside its bucket."""

    SHARDED = "sharded"  # <bucket>/ab/cdef… (a directory, or a file named inside it)
    FILE = "file"  # <bucket>/<key>.json
    DIRECTORY = "directory"  # <bucket>/<key>/
    TOOL = "tool"  # the whole bucket belongs to another program (uv) and is not pruned here


@dataclass(frozen=True)
class BucketInfo:
    """What a bucket holds and how its entries are laid out."""

    directory: str
    shape: Shape
    holds: str
    trusted_by_content: bool = False  # verified against the sha256 it is addressed by on every use
    suffix: str = ""  # of a FILE entry's name


class Bucket(enum.Enum):
    """Every kind of entry in lambdalayer's cache.

    >>> Bucket.FRAGMENTS.info.directory
    'fragments'
    """

    WHEELS = BucketInfo("wheels", Shape.SHARDED, "downloaded wheels, by sha256", True)
    BUILT = BucketInfo("built", Shape.SHARDED, "wheels built from sdists, by the sdist's sha256")
    LOCAL = BucketInfo("local", Shape.SHARDED, "wheels of local projects, by their content")
    RESOLUTIONS = BucketInfo(
        "resolutions", Shape.FILE, "uv's resolutions, by request", suffix=".json"
    )
    PINS = BucketInfo(
        "pins", Shape.FILE, "versions functions resolved together agree on", True, suffix=".txt"
    )
    UNFIT = BucketInfo("unfit", Shape.FILE, "versions with no wheel for a target", suffix=".json")
    FRAGMENTS = BucketInfo("fragments", Shape.SHARDED, "wheels made into layer files")
    CHECKS = BucketInfo("checks", Shape.FILE, "check reports, by zip and request", suffix=".json")
    SIZES = BucketInfo("sizes", Shape.FILE, "wheels' bytes a plan read, by wheels", suffix=".json")
    ARTEFACTS = BucketInfo(
        "artefacts",
        Shape.FILE,
        "build --all's zips through a shared cache, by inputs",
        suffix=".zip",
    )
    IMPORTS = BucketInfo(
        "imports", Shape.FILE, "modules that imported, by their files and root", suffix=".json"
    )
    ROOTS = BucketInfo("roots", Shape.DIRECTORY, "roots synthesized from Lambda's libraries")
    RUNTIME = BucketInfo("runtime", Shape.DIRECTORY, "the runtime's own packages (/var/runtime)")
    IMAGES = BucketInfo("images", Shape.DIRECTORY, "images pulled and unpacked")
    BLOBS = BucketInfo("oci/blobs/sha256", Shape.FILE, "image blobs, by sha256")
    IMAGE_LAYERS = BucketInfo(
        "oci/layers", Shape.FILE, "image layers made, by their files", suffix=".json"
    )
    OUTPUTS = BucketInfo("outputs", Shape.FILE, "what a directory output last held", suffix=".json")
    LAYERS = BucketInfo(
        "layers", Shape.FILE, "layer versions from the Lambda API, by CodeSha256", True, ".zip"
    )
    PROVISIONS = BucketInfo(
        "provisions", Shape.FILE, "CPython installs uv could not make, for an hour", suffix=".txt"
    )
    ADVISORIES = BucketInfo(
        "advisories", Shape.FILE, "the index's vulnerability data, by day", suffix=".json"
    )
    UV = BucketInfo("uv", Shape.TOOL, "uv's own cache (uv cache prune cleans it)")
    TMP = BucketInfo("tmp", Shape.DIRECTORY, "scratch space of running commands")

    @property
    def info(self) -> BucketInfo:
        """The bucket's directory, shape and description."""
        value: BucketInfo = self.value
        return value

    @property
    def label(self) -> str:
        """The bucket's name as ``cache info`` prints it (``fragments``, ``oci/blobs``)."""
        return self.info.directory.removesuffix("/sha256")
