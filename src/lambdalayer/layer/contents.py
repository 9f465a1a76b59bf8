"""What goes into a layer: the wheels' fragments in the lock's order, plus a function's code.

The fragments (:mod:`lambdalayer.layer.fragments`) carry everything the later stages need, so
the archive copies their compressed members as they are and the check reads their ELF
facts and links their extracted files instead of inflating the zip it has just written.
A path shipped by two wheels is taken from the first, as before, with a notice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lambdalayer.elf import ElfInfo
from lambdalayer.errors import InputError
from lambdalayer.layer.archive import Entry
from lambdalayer.layer.assemble import Distribution, function_entries
from lambdalayer.layer.bytecode import compile_entries
from lambdalayer.layer.fragments import FragmentStore, Recipe, layer_fragments
from lambdalayer.net.fetch import FetchedWheel


@dataclass(frozen=True)
class LayerContents:
    """The entries of a layer and the facts gathered while making them."""

    entries: tuple[Entry, ...]
    distributions: tuple[Distribution, ...]
    saved: dict[str, int] = field(default_factory=dict)
    notices: tuple[str, ...] = ()
    compiled: int = 0
    elf_facts: dict[str, ElfInfo] = field(default_factory=dict)
    member_files: dict[str, Path] = field(default_factory=dict)
    fragments_computed: int = 0
    digests: dict[str, str] = field(default_factory=dict)  # distribution → its fragment's key


def layer_contents(
    wheels: Sequence[FetchedWheel],
    recipe: Recipe,
    cache_dir: Path,
    function_source: Path | None = None,
    notify: Callable[[str], None] = lambda _message: None,
) -> LayerContents:
    """The layer's entries from its wheels' fragments (computed when not cached) and function code."""
    fragment_set = layer_fragments(wheels, recipe, FragmentStore(cache_dir), notify)
    entries: list[Entry] = []
    taken: dict[str, str] = {}
    saved: dict[str, int] = {}
    notices: list[str] = []
    elf_facts: dict[str, ElfInfo] = {}
    member_files: dict[str, Path] = {}
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
            entries.append(entry)
            member_files[entry.arcname] = fragment.extracted(entry)
            if entry.arcname in facts.elves:
                elf_facts[entry.arcname] = facts.elves[entry.arcname]
        for rule, size in facts.saved.items():
            saved[rule] = saved.get(rule, 0) + size
        notices += [notice for notice in facts.notices if notice not in notices]
        compiled += facts.compiled
    if function_source is not None:
        code, code_compiled = _function_code(function_source, taken, recipe)
        entries += code
        compiled += code_compiled
    return LayerContents(
        entries=tuple(entries),
        distributions=tuple(fragment.facts.distribution for fragment in fragment_set.fragments),
        saved=saved,
        notices=tuple(notices),
        compiled=compiled,
        elf_facts=elf_facts,
        member_files=member_files,
        fragments_computed=fragment_set.computed,
        digests={
            fragment.facts.distribution.name: fragment.directory.parent.name
            + fragment.directory.name
            for fragment in fragment_set.fragments
        },
    )


def _function_code(source: Path, taken: dict[str, str], recipe: Recipe) -> tuple[list[Entry], int]:
    """The handler code's entries (compiled like the rest), refusing a path a dependency has."""
    code = function_entries(source)
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
