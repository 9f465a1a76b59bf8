"""Import results a rebuild can reuse: a module whose distributions did not change imports as before.

When one requirement changes, the layer's bytes change and its check runs again; the
static checks are quick, the imports are not (pandas and pyarrow take a second). A
module's import depends on the files of its own distribution and of every distribution
it may import: its ``Requires-Dist`` closure within the layer, *extras included* (pandas
imports numexpr when it is there, and says so as its ``performance`` extra). So each
top-level module's result is kept under a key of that closure's fragments, plus every
``.pth`` file of the layer (they run at startup and can change any import), plus where
the imports run. Only successful imports are kept: a failure is always tried again.

What a module declares is not all it sees: psycopg-binary imports only after psycopg,
which it does not declare. So a kept result also records what the import *did* see (the
child reports it, :attr:`ImportResult.seen`): every distribution whose modules were loaded
by then, with its fragment, and every top-level name looked for in vain. It is reused only
when each of those distributions is in the layer with the same fragment and none of those
names has appeared (:class:`Reuse`).

Only builds reuse results: their placements know each distribution's fragment
(``Placement.digests``); a zip checked on its own is always imported in full.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from lambdalayer.cache import Bucket, Cache, key_of
from lambdalayer.check.modules import top_level_modules
from lambdalayer.check.view import LayerView
from lambdalayer.importresult import ImportResult

FORMAT = 3  # 2: a kept result records what the import saw; 3: the layers' .pth files run


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


@dataclass(frozen=True)
class Reuse:
    """What a placement offers for reusing import results: each module's key, each
    distribution's fragment, who owns each top-level name, and every importable name."""

    keys: Mapping[str, str] = field(default_factory=dict)
    digests: Mapping[str, str] = field(default_factory=dict)
    owners: Mapping[str, str] = field(default_factory=dict)  # top-level name → distribution
    provided: frozenset[str] = frozenset()

    def seen(self, result: ImportResult) -> dict[str, object] | None:
        """What ``result`` depended on, to keep with it; ``None`` when that cannot be said
        (the child did not report it, or loaded a name of the layer no fragment identifies)."""
        if result.seen is None:
            return None
        distributions = {}
        for name in result.seen:
            owner = self.owners.get(name)
            if owner is None:
                if name in self.provided:
                    return None  # a file of the layer no distribution owns
                continue  # the standard library, the runtime's own
            if owner not in self.digests:
                return None
            distributions[owner] = self.digests[owner]
        return {"distributions": distributions, "absent": sorted(result.absent)}

    def still_holds(self, kept: Mapping[str, object]) -> bool:
        """Whether what a kept result depended on is as it was in this placement."""
        distributions, absent = kept.get("distributions"), kept.get("absent")
        if not isinstance(distributions, dict) or not isinstance(absent, list):
            return False
        same = all(self.digests.get(name) == digest for name, digest in distributions.items())
        return same and not any(name in self.provided for name in absent)


def reuse_of(layer: LayerView, modules: Sequence[str], target_prefixes: Sequence[str]) -> Reuse:
    """The :class:`Reuse` of a build's placement (its fragments known), for ``modules``."""
    digests = layer.placement.digests
    provided = frozenset(top_level_modules((file.arcname for file in layer.files), target_prefixes))
    return Reuse(
        module_keys(layer, modules, digests), digests, dict(layer.top_level_owners), provided
    )


class ImportResultCache:
    """Successful imports in the cache's imports bucket, by module key and root."""

    def __init__(self, cache_dir: Path, root: str) -> None:
        self.cache = Cache.at(cache_dir)
        self.root = root  # where the imports run (the image or synthesized root, the sandbox)

    def _key(self, module_key: str) -> str:
        return key_of(FORMAT, self.root, module_key)

    def imported_before(self, module_key: str, reuse: Reuse) -> bool:
        """Whether the module with this key imported before, in the same root, seeing what
        ``reuse``'s placement still holds alike."""
        key = self._key(module_key)
        if not self.cache.admit(Bucket.IMPORTS, key):
            return False
        try:
            kept = json.loads(self.cache.mark(Bucket.IMPORTS, key).read_bytes()[: 16 << 20])
        except (OSError, ValueError, RecursionError):
            return False
        return isinstance(kept, dict) and kept.get("ok") is True and reuse.still_holds(kept)

    def store(self, module_key: str, seen: Mapping[str, object]) -> None:
        """Remember that the module with this key imported, having seen ``seen``."""
        key = self._key(module_key)
        self.cache.bucket(Bucket.IMPORTS)
        document = json.dumps({"ok": True, **seen}, sort_keys=True).encode()
        self.cache.write(Bucket.IMPORTS, key, document)
