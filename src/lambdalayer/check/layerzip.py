"""A layer (or function) zip as the checks see it: members, distributions, owners, ELF files.

Reads ``*.dist-info`` with the formats' parsers (:mod:`lambdalayer.distinfo`); member
names that are not safe (:mod:`lambdalayer.zipnames`) are set apart and never read, and
so are members no unzip reads alike: an unknown compression method, encryption, a name
given twice, a file where a directory must be. Every read is bounded (a member's
declared size, and a cap for the small text files), and a member that does not inflate
to what its header says is reported as damaged, never a traceback.
"""

from __future__ import annotations

import re
import shutil
import struct
import tempfile
import zipfile
import zlib
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import canonicalize_name

from lambdalayer.check.libraries import PlacedElf
from lambdalayer.check.modules import top_level_modules
from lambdalayer.distinfo import parse_metadata, parse_record_paths, parse_wheel_tags
from lambdalayer.elf import ELF_MAGIC, ElfInfo, read_elf
from lambdalayer.limits import UNZIPPED_LIMIT
from lambdalayer.targets import Target, in_site_directory
from lambdalayer.zipnames import is_safe, open_zip, printable

SITE = re.compile(r"^python/lib/python(\d+\.\d+)/site-packages/")
METADATA_LIMIT = 4 * 1024 * 1024  # a METADATA, RECORD or WHEEL file is kB; more is hostile
_IN_MEMORY = 16 * 1024 * 1024  # larger ELF members are parsed from a temporary file
_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}
# What reading a damaged member raises: bad CRC, corrupt deflate, a header that disagrees.
READ_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    OSError,
    NotImplementedError,
    RuntimeError,
    ValueError,
    struct.error,
)


@dataclass
class LayerZip:
    """The parts of a zip the checks look at."""

    path: Path
    infos: list[zipfile.ZipInfo]
    distributions: dict[str, str] = field(default_factory=dict)  # name → version
    owners: dict[str, str] = field(default_factory=dict)  # member → distribution
    wheel_tags: dict[str, list[str]] = field(default_factory=dict)
    unsafe: list[str] = field(default_factory=list)  # member names never extracted
    top_level_owners: dict[str, str] = field(default_factory=dict)  # module or dir → distribution
    damaged: dict[str, str] = field(default_factory=dict)  # member (printable) → why it is not read
    requires: dict[str, tuple[str, ...]] = field(
        default_factory=dict
    )  # distribution → Requires-Dist
    declared_bytes: int = 0  # every member's size as its header declares it

    def read(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes | None:
        """A member's bytes (at most ``limit``), or ``None`` with the reason kept in :attr:`damaged`."""
        if info.file_size > limit:
            self.damaged[printable(info.filename)] = (
                f"is {info.file_size:,} bytes, over the {limit:,} such a file may be"
            )
            return None
        return self.head(archive, info, limit)

    def head(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, length: int) -> bytes | None:
        """A member's first ``length`` bytes, or ``None`` with the reason kept in :attr:`damaged`."""
        try:
            with archive.open(info) as stream:
                return stream.read(length)
        except READ_ERRORS as error:
            self.damaged[printable(info.filename)] = f"cannot be read: {error}"
            return None

    def top_level_names(self, target: Target, *, function: bool = False) -> set[str]:
        """Every importable top-level name of the zip (see :func:`top_level_modules`)."""
        prefixes = self.site_prefixes(target, function=function)
        return set(top_level_modules((info.filename for info in self.infos), prefixes))

    @property
    def is_layer(self) -> bool:
        return any(info.filename.startswith("python/") for info in self.infos)

    def site_prefixes(self, target: Target, *, function: bool = False) -> list[str]:
        """Where importable modules sit: the zip's root for a function, python/... for a layer."""
        if function:
            return [""]
        prefixes = sorted(
            {match.group(0) for info in self.infos if (match := SITE.match(info.filename))}
        )
        return [*prefixes, "python/"]

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


def _set_apart(infos: list[zipfile.ZipInfo]) -> dict[str, str]:
    """Members that no unzip reads alike, with the reason (they are never read or extracted)."""
    reasons: dict[str, str] = {}
    counts = Counter(info.filename for info in infos)
    directories = {name.rstrip("/") for name in counts if name.endswith("/")}
    files = {name for name in counts if not name.endswith("/")}
    parents = {name.rsplit("/", 1)[0] for name in files if "/" in name}
    for info in infos:
        name = info.filename
        if info.compress_type not in _METHODS:
            reasons[name] = (
                f"uses compression method {info.compress_type}: only stored and deflate unzip"
                " everywhere"
            )
        elif info.flag_bits & 0x1:
            reasons[name] = "is encrypted: Lambda cannot extract it"
        elif counts[name] > 1:
            reasons[name] = (
                f"appears {counts[name]} times: which copy lands depends on the unzip program"
            )
        elif name in files and (name in directories or name in parents):
            reasons[name] = "is a file where other members need a directory of that name"
    return reasons


def read_layer_zip(path: Path) -> LayerZip:
    """The members, distributions and owners of a zip; unsafe or unreadable members are set apart."""
    with open_zip(path) as archive:
        everything = archive.infolist()
        set_apart = _set_apart(everything)
        infos = [info for info in everything if not info.is_dir()]
        readable = [
            info for info in infos if is_safe(info.filename) and info.filename not in set_apart
        ]
        layer = LayerZip(path, readable)
        layer.unsafe = [info.filename for info in everything if not is_safe(info.filename)]
        layer.unsafe += [""] * archive.nameless
        layer.damaged = {printable(name): why for name, why in set_apart.items() if is_safe(name)}
        layer.declared_bytes = sum(info.file_size for info in infos)
        for info in layer.infos:
            _read_dist_info(layer, archive, info)
    return layer


def _read_dist_info(layer: LayerZip, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    """Record what a ``*.dist-info/{METADATA,RECORD,WHEEL}`` member says."""
    name = info.filename
    if not name.endswith((".dist-info/METADATA", ".dist-info/RECORD", ".dist-info/WHEEL")):
        return
    dist_dir = name.rsplit("/", 1)[0]
    base = dist_dir.rsplit("/", 1)[0] + "/" if "/" in dist_dir else ""
    data = layer.read(archive, info, METADATA_LIMIT)
    if data is None:
        return
    if name.endswith("METADATA"):
        metadata = parse_metadata(data)
        if metadata is not None:
            layer.distributions[metadata.name] = metadata.version
            layer.owners[dist_dir] = metadata.name
            layer.requires[metadata.name] = metadata.requires
    elif name.endswith("WHEEL"):
        layer.wheel_tags[dist_dir] = parse_wheel_tags(data)
    else:
        owner = str(canonicalize_name(dist_dir.rsplit("/", 1)[-1].split("-")[0]))
        for record_path in parse_record_paths(data):
            layer.owners[base + record_path] = owner
            head = record_path.split("/", 1)[0]
            if not head.startswith(("..", "__pycache__")):
                layer.top_level_owners.setdefault(head.removesuffix(".py"), owner)


def read_elves(
    layer: LayerZip,
    mount: str,
    *,
    checked: bool,
    known: Mapping[str, ElfInfo] | None = None,
    known_members: Collection[str] = (),
) -> list[PlacedElf]:
    """Every readable ELF file of a zip, placed where Lambda extracts it (``/opt``, ``/var/task``).

    ``known`` gives the ELF facts of members already read (a build's fragments); a member
    of ``known_members`` that is not in ``known`` is not ELF. Only the rest is inflated.
    """
    placed = []
    known = known or {}
    with open_zip(layer.path) as archive:
        for info in layer.infos:
            name = info.filename
            if name in known:
                elf: ElfInfo | None = known[name]
            elif name in known_members:
                continue
            else:
                elf = _read_member_elf(layer, archive, info)
            if elf is not None:
                placed.append(PlacedElf(f"{mount}/{name}", name, layer.owner(name), elf, checked))
    return placed


def _read_member_elf(
    layer: LayerZip, archive: zipfile.ZipFile, info: zipfile.ZipInfo
) -> ElfInfo | None:
    """The ELF facts of one member, read from memory or, when large, from a temporary file."""
    if info.file_size > UNZIPPED_LIMIT:
        return None  # over Lambda's quota by itself: the size check reports it, nothing reads it
    try:
        with archive.open(info) as stream:
            if stream.read(4) != ELF_MAGIC:
                return None
        with archive.open(info) as stream:
            if info.file_size <= _IN_MEMORY:
                return read_elf(stream.read())
            with tempfile.TemporaryFile() as spool:
                shutil.copyfileobj(stream, spool, 1 << 20)
                return read_elf(spool)
    except READ_ERRORS as error:
        if isinstance(error, ValueError) and str(error).startswith("unreadable ELF"):
            return None
        layer.damaged[printable(info.filename)] = f"cannot be read: {error}"
        return None
