"""One size model of a layer, for the build summary, the check, ``report`` and ``--json``.

Per distribution (canonical name and version from its ``*.dist-info``): unzipped and zipped
bytes and files; every member belongs to a distribution — by its ``RECORD``, else by the
distribution that owns its top-level module (so the bytecode lambdalayer compiled counts
with its package) — or to "(no distribution)". Each file also has a kind (native library,
Python source, bytecode, data) and a place in the package's top-level directory, which is
what the report's treemap draws. Units: exact bytes here; KiB/MiB (binary) when printed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lambdalayer.check.view import LayerView, view_of
from lambdalayer.placement import Placement
from lambdalayer.targets import in_site_directory

NO_DISTRIBUTION = "(no distribution)"
KINDS = ("native", "python", "bytecode", "data")


def kind_of(member: str) -> str:
    """``native`` (.so), ``python`` (.py), ``bytecode`` (.pyc) or ``data``."""
    name = member.rsplit("/", 1)[-1]
    if name.endswith(".so") or ".so." in name:
        return "native"
    if name.endswith(".py"):
        return "python"
    if name.endswith(".pyc"):
        return "bytecode"
    return "data"


@dataclass(frozen=True)
class FileSize:
    """One member of the layer."""

    member: str
    unzipped: int
    zipped: int
    kind: str


@dataclass
class DistributionSize:
    """What one distribution adds to the layer."""

    name: str
    version: str | None
    unzipped: int = 0
    zipped: int = 0
    files: list[FileSize] = field(default_factory=list)

    def by_kind(self) -> dict[str, int]:
        """Unzipped bytes per kind of file."""
        totals = dict.fromkeys(KINDS, 0)
        for item in self.files:
            totals[item.kind] += item.unzipped
        return totals

    def by_directory(self) -> dict[str, int]:
        """Unzipped bytes per top-level directory (or module file) inside site-packages."""
        totals: dict[str, int] = {}
        for item in self.files:
            totals[top_level(item.member)] = totals.get(top_level(item.member), 0) + item.unzipped
        return dict(sorted(totals.items(), key=lambda pair: -pair[1]))


@dataclass(frozen=True)
class LayerSizes:
    """The layer's size per distribution, largest first."""

    zipped_file_bytes: int  # the zip file itself
    unzipped: int
    distributions: tuple[DistributionSize, ...]

    def to_json(self) -> dict[str, object]:
        """Exact bytes, per distribution and kind."""
        return {
            "zip_file_bytes": self.zipped_file_bytes,
            "unzipped_bytes": self.unzipped,
            "distributions": [
                {
                    "name": item.name,
                    "version": item.version,
                    "unzipped_bytes": item.unzipped,
                    "zipped_bytes": item.zipped,
                    "files": len(item.files),
                    "by_kind": item.by_kind(),
                }
                for item in self.distributions
            ],
        }


def top_level(member: str) -> str:
    """The top-level module or directory a member sits in, inside site-packages or python/."""
    return in_site_directory(member).split("/", 1)[0]


def layer_sizes(placement: Placement, layer: LayerView | None = None) -> LayerSizes:
    """The size model of a placement read from a zip (each member's compressed size is the zip's)."""
    layer = layer or view_of(placement)
    by_name: dict[str, DistributionSize] = {}
    for file in placement.files:
        owner = layer.owner(file.arcname) or NO_DISTRIBUTION
        entry = by_name.get(owner)
        if entry is None:
            entry = by_name[owner] = DistributionSize(owner, layer.distributions.get(owner))
        zipped = file.entry.raw.compress_size if file.entry.raw is not None else file.size
        entry.unzipped += file.size
        entry.zipped += zipped
        entry.files.append(FileSize(file.arcname, file.size, zipped, kind_of(file.arcname)))
    ordered = tuple(sorted(by_name.values(), key=lambda item: (-item.unzipped, item.name)))
    zipped_file = placement.zipped_bytes or 0
    return LayerSizes(zipped_file, sum(item.unzipped for item in ordered), ordered)


def human_bytes(count: int) -> str:
    """Binary units: ``512 B``, ``1.5 KiB``, ``163.5 MiB``, ``1.2 GiB``."""
    size = float(count)
    for unit in ("B", "KiB", "MiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"
