"""Which distributions go into shared layers: a pure function of what each function needs.

For one target, every distribution needed by two or more functions (at one version) goes
into the layer of exactly the functions that need it: distributions with the same set of
users share a layer. So each distribution is uploaded once, and no function gets a
distribution it does not need. A function with more such layers than it has room for
(five, less the layers it already names) keeps the smallest of them, zipped, in its own
package (what is uploaded twice is then the least it can be, function by function), and
a layer left with one user goes back into that user's package. Versions that
disagree between functions (resolved apart, because together they conflict) stay in
each function's own package, with the reason.

Stable by construction: a layer is named by the distributions it holds, and adding a
function changes only the user sets of the distributions it needs — so only the layers
holding those change.

>>> plan = share([Needs("a", {"numpy": Sized("2.2.6", 60, 20)}), Needs("b", {"numpy": Sized("2.2.6", 60, 20)})])
>>> [layer.name for layer in plan.layers]
['shared-numpy-73dd0baf']
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from lambdalayer.limits import MAX_LAYERS, UNZIPPED_LIMIT
from lambdalayer.wording import agreeing, counted


@dataclass(frozen=True)
class Sized:
    """A distribution at one version, with its bytes unzipped and zipped (its wheel)."""

    version: str
    unzipped: int
    zipped: int


@dataclass(frozen=True)
class Needs:
    """What one function needs: its distributions, its own code's bytes, its other layers."""

    function: str
    packages: Mapping[str, Sized]
    code_bytes: int = 0
    existing_layers: int = 0


@dataclass(frozen=True)
class Placed:
    """A distribution where the plan puts it."""

    name: str
    version: str
    unzipped: int
    zipped: int


@dataclass(frozen=True)
class SharedLayer:
    """A layer several functions share: what it holds and who uses it."""

    name: str
    packages: tuple[Placed, ...]
    functions: tuple[str, ...]

    @property
    def unzipped(self) -> int:
        """Its bytes unzipped (the sum of its distributions')."""
        return sum(package.unzipped for package in self.packages)

    @property
    def zipped(self) -> int:
        """Its bytes zipped, estimated by its wheels'."""
        return sum(package.zipped for package in self.packages)


@dataclass(frozen=True)
class FunctionShare:
    """One function in the plan: its own distributions, the shared layers it uses, its total."""

    function: str
    own: tuple[Placed, ...]
    layers: tuple[str, ...]
    unzipped: int  # its code, its own distributions and its shared layers
    existing_layers: int = 0
    notes: tuple[str, ...] = ()

    @property
    def over_quota(self) -> bool:
        """Whether it exceeds Lambda's unzipped quota for a function with its layers."""
        return self.unzipped > UNZIPPED_LIMIT


@dataclass(frozen=True)
class Conflict:
    """A distribution the functions need at different versions: kept in their own packages."""

    name: str
    versions: tuple[tuple[str, str], ...]  # (function, version)


@dataclass(frozen=True)
class SharePlan:
    """The shared layers of one target, each function's share, and the conflicts."""

    layers: tuple[SharedLayer, ...]
    functions: tuple[FunctionShare, ...]
    conflicts: tuple[Conflict, ...] = ()
    fat_zipped: int = 0  # one self-contained package per function, zipped (estimated)
    planned_zipped: int = field(default=0)  # the unique bytes this plan uploads (estimated)


def layer_name(packages: Sequence[str]) -> str:
    """A shared layer's name, from the distributions it holds (stable while they are).

    >>> layer_name(["pandas", "numpy"])
    'shared-numpy-97a7dc4a'
    """
    ordered = sorted(packages)
    digest = hashlib.sha256("\n".join(ordered).encode()).hexdigest()[:8]
    return f"shared-{ordered[0][:100]}-{digest}"


def share(needs: Sequence[Needs], max_layers: int = MAX_LAYERS) -> SharePlan:
    """The shared layers for functions of one target (see the module's docstring)."""
    conflicts = _conflicts(needs)
    users: dict[str, set[str]] = {}
    for need in needs:
        for name in need.packages:
            if name not in conflicts:
                users.setdefault(name, set()).add(need.function)
    groups: dict[frozenset[str], list[str]] = {}
    for name, who in users.items():
        if len(who) > 1:
            groups.setdefault(frozenset(who), []).append(name)
    sizes = {name: sized for need in needs for name, sized in need.packages.items()}
    members = {key: set(key) for key in groups}
    room = {need.function: max(0, max_layers - need.existing_layers) for need in needs}
    _fit(members, groups, sizes, room)
    return _assemble(needs, groups, members, conflicts)


def _conflicts(needs: Sequence[Needs]) -> dict[str, Conflict]:
    versions: dict[str, dict[str, str]] = {}
    for need in needs:
        for name, sized in need.packages.items():
            versions.setdefault(name, {})[need.function] = sized.version
    return {
        name: Conflict(name, tuple(sorted(by.items())))
        for name, by in sorted(versions.items())
        if len(set(by.values())) > 1
    }


def _group_bytes(names: list[str], sizes: Mapping[str, Sized]) -> int:
    """What a group costs to upload once more: its distributions' bytes zipped (a group a
    function has no room for goes into its own package, and is uploaded there again)."""
    return sum(sizes[name].zipped for name in names)


def _fit(
    members: dict[frozenset[str], set[str]],
    groups: Mapping[frozenset[str], list[str]],
    sizes: Mapping[str, Sized],
    room: Mapping[str, int],
) -> None:
    """Leave each function in at most ``room`` layers (it keeps the smallest, zipped, in its
    own package), and dissolve layers left with one user, until nothing changes."""
    changed = True
    while changed:
        changed = False
        for function in sorted(room):
            mine = [key for key in groups if function in members[key] and len(members[key]) > 1]
            mine.sort(key=lambda key: (-_group_bytes(groups[key], sizes), sorted(groups[key])))
            for key in mine[room[function] :]:
                members[key].discard(function)
                changed = True
        for who in members.values():
            if len(who) == 1:
                who.clear()
                changed = True


def _placed(name: str, sized: Sized) -> Placed:
    return Placed(name, sized.version, sized.unzipped, sized.zipped)


def _assemble(
    needs: Sequence[Needs],
    groups: Mapping[frozenset[str], list[str]],
    members: Mapping[frozenset[str], set[str]],
    conflicts: Mapping[str, Conflict],
) -> SharePlan:
    sizes = {name: sized for need in needs for name, sized in need.packages.items()}
    layers = sorted(
        (
            SharedLayer(
                layer_name(names),
                tuple(_placed(name, sizes[name]) for name in sorted(names)),
                tuple(sorted(members[key])),
            )
            for key, names in groups.items()
            if len(members[key]) > 1
        ),
        key=lambda layer: layer.name,
    )
    shares = []
    for need in sorted(needs, key=lambda need: need.function):
        mine = [layer for layer in layers if need.function in layer.functions]
        in_layers = {package.name for layer in mine for package in layer.packages}
        own = tuple(
            _placed(name, sized)
            for name, sized in sorted(need.packages.items())
            if name not in in_layers
        )
        notes = tuple(
            f"{name} {need.packages[name].version}: the functions need different versions"
            f" ({', '.join(f'{who} {version}' for who, version in conflicts[name].versions)})"
            for name in sorted(need.packages)
            if name in conflicts
        ) + (
            (
                f"the {counted(need.existing_layers, 'layer')} it already names"
                f" {agreeing(need.existing_layers, 'counts', 'count')} against the five;"
                f" {agreeing(need.existing_layers, 'its bytes are', 'their bytes are')} not"
                " known here and not in its total",
            )
            if need.existing_layers
            else ()
        )
        total = need.code_bytes + sum(sized.unzipped for sized in need.packages.values())
        shares.append(
            FunctionShare(
                need.function,
                own,
                tuple(layer.name for layer in mine),
                total,
                need.existing_layers,
                notes,
            )
        )
    fat = sum(
        need.code_bytes + sum(sized.zipped for sized in need.packages.values()) for need in needs
    )
    planned = sum(layer.zipped for layer in layers) + sum(
        need.code_bytes + sum(package.zipped for package in share.own)
        for need, share in zip(sorted(needs, key=lambda need: need.function), shares, strict=True)
    )
    return SharePlan(tuple(layers), tuple(shares), tuple(conflicts.values()), fat, planned)
