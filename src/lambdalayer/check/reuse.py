"""Import results a rebuild can reuse: a module whose distributions did not change imports as before.

When one requirement changes, the layer's bytes change and its check runs again; the
static checks are quick, the imports are not (pandas and pyarrow take a second). A
module's import depends on the files of its own distribution and of every distribution
it may import: its ``Requires-Dist`` closure within the layer, *extras included* (pandas
imports numexpr when it is there, and says so as its ``performance`` extra). So each
top-level module's result is kept under a key of that closure's fragments, plus every
``.pth`` file of the layer (they run at startup and can change any import), plus where
the imports run. Only successful imports are kept: a failure is always tried again.

Only builds reuse results: their placements know each distribution's fragment
(``Placement.digests``); a zip checked on its own is always imported in full.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from lambdalayer.cache import Bucket, Cache, key_of
from lambdalayer.check.view import LayerView

FORMAT = 1


def _requirement_names(lines: Sequence[str]) -> set[str]:
    """The distributions ``Requires-Dist`` lines name, whatever their markers or extras."""
    names = set()
    for line in lines:
        try:
            names.add(str(canonicalize_name(Requirement(line).name)))
        except InvalidRequirement:
            continue
    return names


def _closure(layer: LayerView, distribution: str) -> set[str]:
    """``distribution`` and every distribution of the layer it may import, extras included."""
    found = {distribution}
    pending = [distribution]
    while pending:
        for name in _requirement_names(layer.requires.get(pending.pop(), ())):
            if name in layer.distributions and name not in found:
                found.add(name)
                pending.append(name)
    return found


def module_keys(
    layer: LayerView, modules: Sequence[str], digests: Mapping[str, str]
) -> dict[str, str]:
    """What each module's import result depends on, for the modules whose distributions are known."""
    startup = sorted(
        digests.get(layer.owner(file.arcname) or "", file.arcname)
        for file in layer.files
        if file.arcname.endswith(".pth")
    )
    keys = {}
    for module in modules:
        owner = layer.top_level_owners.get(module.partition(":")[0].split(".")[0])
        if owner is None or owner not in digests:
            continue
        closure = _closure(layer, owner)
        if not closure <= set(digests):
            continue
        keys[module] = json.dumps(
            {
                "module": module,
                "closure": {name: digests[name] for name in sorted(closure)},
                "startup": startup,
            },
            sort_keys=True,
        )
    return keys


class ImportResultCache:
    """Successful imports in the cache's imports bucket, by module key and root."""

    def __init__(self, cache_dir: Path, root: str) -> None:
        self.cache = Cache.at(cache_dir)
        self.root = root  # where the imports run (the image or synthesized root, the sandbox)

    def _key(self, module_key: str) -> str:
        return key_of(FORMAT, self.root, module_key)

    def imported_before(self, module_key: str) -> bool:
        """Whether the module with this key imported before, in the same root."""
        key = self._key(module_key)
        self.cache.mark(Bucket.IMPORTS, key)
        return self.cache.admit(Bucket.IMPORTS, key)

    def store(self, module_key: str) -> None:
        """Remember that the module with this key imported."""
        key = self._key(module_key)
        self.cache.bucket(Bucket.IMPORTS)
        self.cache.write(Bucket.IMPORTS, key, b'{"ok": true}\n')
