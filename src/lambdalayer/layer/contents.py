"""What goes into a layer: the wheels' fragments in the lock's order, plus a function's code.

The fragments (:mod:`lambdalayer.layer.fragments`) carry everything the later stages need:
the files are placed (:mod:`lambdalayer.placement`) with their compressed members
(which the archive copies as they are), their extracted copies and their ELF facts (which
the check and the import stage use instead of reading the zip just written).
A path shipped by two wheels is taken from the first, as before, with a notice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from lambdalayer.errors import InputError
from lambdalayer.layer.archive import Entry
from lambdalayer.layer.assemble import Distribution, function_entries
from lambdalayer.layer.bytecode import compile_entries
from lambdalayer.layer.fragments import FragmentStore, Recipe, layer_fragments
from lambdalayer.net.fetch import FetchedWheel
from lambdalayer.placement import PlacedFile, Placement
from lambdalayer.progress import Notify, quiet


@dataclass(frozen=True)
class LayerContents:
    """The files of a layer (placed for its layout) and the facts gathered while making them."""

    placement: Placement
    distributions: tuple[Distribution, ...]
    saved: dict[str, int] = field(default_factory=dict)
    notices: tuple[str, ...] = ()
    compiled: int = 0
    fragments_computed: int = 0

    @property
    def entries(self) -> tuple[Entry, ...]:
        """What a zip of the layer holds, in order."""
        return tuple(file.entry for file in self.placement.files)

    @property
    def digests(self) -> Mapping[str, str]:
        """Distribution → its fragment's key."""
        return self.placement.digests


def layer_contents(
    wheels: Sequence[FetchedWheel],
    recipe: Recipe,
    cache_dir: Path,
    function_source: Path | None = None,
    notify: Notify = quiet,
) -> LayerContents:
    """The layer's files from its wheels' fragments (computed when not cached) and function code.

    The function's code goes where the layout keeps it: the zip's root for a function
    package, ``var/task/`` in an image.
    """
    fragment_set = layer_fragments(wheels, recipe, FragmentStore(cache_dir), notify)
    files: list[PlacedFile] = []
    taken: dict[str, str] = {}
    saved: dict[str, int] = {}
    notices: list[str] = []
    compiled = 0
    for fragment in fragment_set.fragments:
        facts = fragment.facts
        name = facts.distribution.name
        for entry in fragment.entries():
            if entry.arcname in taken:
                notices.append(
                    f"file in two wheels, first kept: {entry.arcname} ({taken[entry.arcname]} and"
                    f" {name})"
                )
                continue
            taken[entry.arcname] = name
            elf = facts.elves.get(entry.arcname)
            files.append(PlacedFile(entry, fragment.extracted(entry), elf, elf_known=True))
        for rule, size in facts.saved.items():
            saved[rule] = saved.get(rule, 0) + size
        notices += [notice for notice in facts.notices if notice not in notices]
        compiled += facts.compiled
    if function_source is not None:
        code, code_compiled = _function_code(function_source, taken, recipe)
        files += [PlacedFile(entry) for entry in code]
        compiled += code_compiled
    digests = {
        fragment.facts.distribution.name: fragment.directory.parent.name + fragment.directory.name
        for fragment in fragment_set.fragments
    }
    return LayerContents(
        placement=Placement.of(recipe.layout, tuple(files), digests),
        distributions=tuple(fragment.facts.distribution for fragment in fragment_set.fragments),
        saved=saved,
        notices=tuple(notices),
        compiled=compiled,
        fragments_computed=fragment_set.computed,
    )


def _function_code(source: Path, taken: dict[str, str], recipe: Recipe) -> tuple[list[Entry], int]:
    """The handler code's entries (compiled like the rest), refusing a path a dependency has."""
    prefix = recipe.layout.function_code
    code = [replace(entry, arcname=prefix + entry.arcname) for entry in function_entries(source)]
    clash = next((entry.arcname for entry in code if entry.arcname in taken), None)
    if clash is not None:
        raise InputError(
            f"{clash} is both in the function's code and in a dependency",
            hint="rename the module in the function's code",
        )
    if recipe.compiler is None:
        return code, 0
    result = compile_entries(code, recipe.compiler, recipe.bytecode, recipe.layout)
    return list(result.entries), result.compiled
