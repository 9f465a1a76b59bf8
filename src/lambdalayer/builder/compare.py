"""On top of a layer that is not here (the managed pandas layer): is the function bigger for it?

Building on top of a layer leaves its packages out of this one, but the function then
carries the whole layer beneath — about 225 MB for AWS SDK for pandas — where one layer of
everything it needs may be smaller. The build says so, with both totals, by preparing the
same requirements without what is beneath (the wheels and their fragments are mostly in
the cache already: the over-quota error that suggests ``--on-top-of`` built them).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from lambdalayer.errors import LambdaLayerError, option
from lambdalayer.prepare import Preparation, Prepared, prepare
from lambdalayer.progress import Notify
from lambdalayer.timings import Stopwatch


@dataclass(frozen=True)
class BeneathComparison:
    """This layer with the layers beneath it (at least their wheels' files), against one
    layer of everything."""

    beneath: tuple[tuple[str, int], ...]  # (source, at least these bytes unzipped)
    layer_bytes: int
    alone_bytes: int  # every requirement in one layer, nothing beneath

    @property
    def with_beneath(self) -> int:
        """What the function carries with this layer and those beneath."""
        return self.layer_bytes + sum(size for _, size in self.beneath)

    @property
    def larger(self) -> bool:
        """Whether building on top makes the function bigger than one layer of everything."""
        return self.with_beneath > self.alone_bytes

    def text(self) -> str:
        """Both totals, said plainly."""
        names = " and ".join(f"{name} (at least {size:,})" for name, size in self.beneath)
        return (
            f"with {names} beneath, the function carries {self.with_beneath:,} bytes unzipped"
            f" (this layer {self.layer_bytes:,}); everything built into one layer without it is"
            f" {self.alone_bytes:,} bytes, {self.with_beneath - self.alone_bytes:,} fewer: build"
            f" without {option('Beneath.on_top_of')} unless the function needs the rest of it"
        )


def compare_without_beneath(
    preparation: Preparation, prepared: Prepared, notify: Notify, watch: Stopwatch
) -> BeneathComparison | None:
    """The comparison when layers not on this machine are beneath (``None`` otherwise, or
    when the requirements cannot be prepared without them)."""
    beneath = tuple(
        (item.source, item.unzipped_bytes)
        for item in prepared.locked.sources
        if item.zip_path is None and not item.runtime and item.unzipped_bytes
    )
    if not beneath:
        return None
    kept = tuple(item for item in preparation.provided if item.zip_path or item.runtime)
    notify("comparing with one layer of everything (nothing beneath)")
    try:
        alone = prepare(replace(preparation, provided=kept), notify, watch)
    except LambdaLayerError:
        return None  # without the layer beneath it does not resolve: nothing to compare
    layer_bytes = prepared.contents.placement.declared_bytes
    return BeneathComparison(beneath, layer_bytes, alone.contents.placement.declared_bytes)
