"""A placement as the checks see it: its files, distributions, owners, ELF files.

Made from any :class:`~lambdalayer.placement.Placement` — a build's fragments, a
zip, a directory, an image's files — by :func:`view_of`. Reads ``*.dist-info`` with the
formats' parsers (:mod:`lambdalayer.distinfo`); files the placement set apart (unsafe
names, members no unzip reads alike) are never read. Every read is bounded (a file's
declared size, and a cap for the small text files), and a file that does not read as its
header says is reported as damaged, never a traceback.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import canonicalize_name

from lambdalayer.check.libraries import PlacedElf
from lambdalayer.check.modules import top_level_modules
from lambdalayer.distinfo import parse_metadata, parse_record_paths, parse_wheel_tags
from lambdalayer.elf import ELF_MAGIC, ElfInfo, read_elf
from lambdalayer.limits import UNZIPPED_LIMIT
from lambdalayer.placement import READ_ERRORS, PlacedFile, Placement, PlacementReader
from lambdalayer.targets import Layout, Target, in_site_directory
from lambdalayer.zipnames import printable

SITE = re.compile(r"^python/lib/python(\d+\.\d+)/site-packages/")
METADATA_LIMIT = 4 * 1024 * 1024  # a METADATA, RECORD or WHEEL file is kB; more is hostile
_IN_MEMORY = 16 * 1024 * 1024  # larger ELF files are parsed from a temporary file


@dataclass
class LayerView:
    """The parts of a placement the checks look at."""

    placement: Placement
    files: list[PlacedFile]
    distributions: dict[str, str] = field(default_factory=dict)  # name → version
    owners: dict[str, str] = field(default_factory=dict)  # member → distribution
    wheel_tags: dict[str, list[str]] = field(default_factory=dict)
    top_level_owners: dict[str, str] = field(default_factory=dict)  # module or dir → distribution
    damaged: dict[str, str] = field(default_factory=dict)  # member (printable) → why it is not read
    requires: dict[str, tuple[str, ...]] = field(
        default_factory=dict
    )  # distribution → Requires-Dist

    @property
    def path(self) -> Path:
        """What the placement is known as (the zip, the directory)."""
        return self.placement.shown

    @property
    def unsafe(self) -> tuple[str, ...]:
        """Member names never placed: they would land outside."""
        return self.placement.unsafe

    @property
    def declared_bytes(self) -> int:
        """Every member's size as declared, placed or not."""
        return self.placement.declared_bytes

    def read(self, reader: PlacementReader, file: PlacedFile, limit: int) -> bytes | None:
        """A file's bytes (at most ``limit``), or ``None`` with the reason kept in :attr:`damaged`."""
        if file.size > limit:
            self.damaged[printable(file.arcname)] = (
                f"is {file.size:,} bytes, over the {limit:,} such a file may be"
            )
            return None
        return self.head(reader, file, limit)

    def head(self, reader: PlacementReader, file: PlacedFile, length: int) -> bytes | None:
        """A file's first ``length`` bytes, or ``None`` with the reason kept in :attr:`damaged`."""
        try:
            return reader.read(file, length)
        except READ_ERRORS as error:
            self.damaged[printable(file.arcname)] = f"cannot be read: {error}"
            return None

    def top_level_names(self, target: Target, *, function: bool = False) -> set[str]:
        """Every importable top-level name of the placement (see :func:`top_level_modules`)."""
        prefixes = self.site_prefixes(target, function=function)
        return set(top_level_modules((file.arcname for file in self.files), prefixes))

    @property
    def is_layer(self) -> bool:
        """Whether the files are a layer's (under ``python/``)."""
        return any(file.arcname.startswith("python/") for file in self.files)

    def site_prefixes(self, target: Target, *, function: bool = False) -> list[str]:
        """Where importable modules sit: the zip's root for a function, python/... for a layer,
        an image's site-packages."""
        if self.placement.layout is Layout.IMAGE:
            return [target.site_packages_prefix(Layout.IMAGE)]
        if function:
            return [""]
        prefixes = sorted(
            {match.group(0) for file in self.files if (match := SITE.match(file.arcname))}
        )
        return [*prefixes, "python/"]

    def tags_of(self, distribution: str | None) -> list[str]:
        """The tags ``distribution``'s WHEEL file names (none when unknown)."""
        if distribution is None:
            return []
        wanted = canonicalize_name(distribution)
        return [
            tag
            for dist_dir, listed in self.wheel_tags.items()
            if canonicalize_name(self.owners.get(dist_dir, "")) == wanted
            for tag in listed
        ]

    def pure(self, distribution: str | None) -> bool:
        """Whether ``distribution`` came from a pure wheel (every WHEEL tag ``*-none-any``):
        one file for every platform, so files for other OSes and CPUs are expected in it."""
        tags = self.tags_of(distribution)
        return bool(tags) and all(tag.endswith("-none-any") for tag in tags)

    def owner(self, member: str) -> str | None:
        """The distribution a member belongs to: its RECORD, else the one owning its top-level module.

        Bytecode the build compiled (``__pycache__/six.cpython-312.pyc``) and files a wheel's
        RECORD leaves out are attributed to the distribution of their top-level name.
        """
        exact = self.owners.get(member)
        if exact is not None:
            return exact
        head, _, rest = in_site_directory(member).partition("/")
        if head == "__pycache__":
            head = rest.split(".", 1)[0]
        return self.top_level_owners.get(head.removesuffix(".py"))


def view_of(placement: Placement) -> LayerView:
    """The distributions and owners of a placement's files (their ``*.dist-info`` read)."""
    view = LayerView(placement, list(placement.files), damaged=dict(placement.set_apart))
    with placement.reader() as reader:
        for file in view.files:
            _read_dist_info(view, reader, file)
    return view


def _read_dist_info(view: LayerView, reader: PlacementReader, file: PlacedFile) -> None:
    """Record what a ``*.dist-info/{METADATA,RECORD,WHEEL}`` file says."""
    name = file.arcname
    if not name.endswith((".dist-info/METADATA", ".dist-info/RECORD", ".dist-info/WHEEL")):
        return
    dist_dir = name.rsplit("/", 1)[0]
    base = dist_dir.rsplit("/", 1)[0] + "/" if "/" in dist_dir else ""
    data = view.read(reader, file, METADATA_LIMIT)
    if data is None:
        return
    if name.endswith("METADATA"):
        metadata = parse_metadata(data)
        if metadata is not None:
            view.distributions[metadata.name] = metadata.version
            view.owners[dist_dir] = metadata.name
            view.requires[metadata.name] = metadata.requires
    elif name.endswith("WHEEL"):
        view.wheel_tags[dist_dir] = parse_wheel_tags(data)
    else:
        owner = str(canonicalize_name(dist_dir.rsplit("/", 1)[-1].split("-")[0]))
        for record_path in parse_record_paths(data):
            view.owners[base + record_path] = owner
            head = record_path.split("/", 1)[0]
            if not head.startswith(("..", "__pycache__")):
                view.top_level_owners.setdefault(head.removesuffix(".py"), owner)


def placed_elves(view: LayerView, mount: str, *, checked: bool) -> list[PlacedElf]:
    """Every readable ELF file of a placement, at the path Lambda has it (``/opt/...``).

    The facts a producer knows (a build's fragments) are taken as they are; only the other
    files are read.
    """
    placed = []
    with view.placement.reader() as reader:
        for file in view.files:
            elf = file.elf if file.elf_known else _read_elf(view, reader, file)
            if elf is not None:
                name = file.arcname
                placed.append(PlacedElf(f"{mount}/{name}", name, view.owner(name), elf, checked))
    return placed


def _read_elf(view: LayerView, reader: PlacementReader, file: PlacedFile) -> ElfInfo | None:
    """The ELF facts of one file, read from memory or, when large, from a temporary file."""
    if file.size > UNZIPPED_LIMIT:
        return None  # over Lambda's quota by itself: the size check reports it, nothing reads it
    try:
        if reader.read(file, 4) != ELF_MAGIC:
            return None
        with reader.open(file) as stream:
            if file.size <= _IN_MEMORY:
                return read_elf(stream.read())
            with tempfile.TemporaryFile() as spool:
                shutil.copyfileobj(stream, spool, 1 << 20)
                return read_elf(spool)
    except READ_ERRORS as error:
        if isinstance(error, ValueError) and str(error).startswith("unreadable ELF"):
            return None
        view.damaged[printable(file.arcname)] = f"cannot be read: {error}"
        return None
