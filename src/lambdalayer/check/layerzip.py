"""A layer (or function) zip as the checks see it: members, distributions, owners, ELF files.

Reads ``*.dist-info`` with the formats' parsers (:mod:`lambdalayer.distinfo`); member
names that are not safe (:mod:`lambdalayer.zipnames`) are set apart and never read.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import canonicalize_name

from lambdalayer.check.libraries import PlacedElf
from lambdalayer.distinfo import parse_metadata, parse_record_paths, parse_wheel_tags
from lambdalayer.elf import ELF_MAGIC, ElfInfo, read_elf
from lambdalayer.errors import InputError
from lambdalayer.targets import Target
from lambdalayer.zipnames import is_safe

SITE = re.compile(r"^python/lib/python(\d+\.\d+)/site-packages/")


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
        match = SITE.match(member)
        relative = member[match.end() :] if match else member.removeprefix("python/")
        head, _, rest = relative.partition("/")
        if head == "__pycache__":
            head = rest.split(".", 1)[0]
        return self.top_level_owners.get(head.removesuffix(".py"))


def read_layer_zip(path: Path) -> LayerZip:
    """The members, distributions and owners of a zip; unsafe member names are set apart."""
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as error:
        raise InputError(f"{path} is not a readable zip: {error}") from error
    with archive:
        infos = [info for info in archive.infolist() if not info.is_dir()]
        layer = LayerZip(path, [info for info in infos if is_safe(info.filename)])
        layer.unsafe = [name for name in archive.namelist() if not is_safe(name)]
        for info in layer.infos:
            name = info.filename
            if not name.endswith((".dist-info/METADATA", ".dist-info/RECORD", ".dist-info/WHEEL")):
                continue
            dist_dir = name.rsplit("/", 1)[0]
            base = dist_dir.rsplit("/", 1)[0] + "/" if "/" in dist_dir else ""
            data = archive.read(info)
            if name.endswith("METADATA"):
                metadata = parse_metadata(data)
                if metadata is not None:
                    layer.distributions[metadata.name] = metadata.version
                    layer.owners[dist_dir] = metadata.name
            elif name.endswith("WHEEL"):
                layer.wheel_tags[dist_dir] = parse_wheel_tags(data)
            else:
                owner = str(canonicalize_name(dist_dir.rsplit("/", 1)[-1].split("-")[0]))
                for record_path in parse_record_paths(data):
                    layer.owners[base + record_path] = owner
                    head = record_path.split("/", 1)[0]
                    if not head.startswith(("..", "__pycache__")):
                        layer.top_level_owners.setdefault(head.removesuffix(".py"), owner)
    return layer


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
    with zipfile.ZipFile(layer.path) as archive:
        for info in layer.infos:
            name = info.filename
            if name in known:
                elf: ElfInfo | None = known[name]
            elif name in known_members:
                continue
            else:
                elf = _read_member_elf(archive, info)
            if elf is not None:
                placed.append(PlacedElf(f"{mount}/{name}", name, layer.owner(name), elf, checked))
    return placed


def _read_member_elf(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> ElfInfo | None:
    with archive.open(info) as stream:
        if stream.read(4) != ELF_MAGIC:
            return None
    try:
        return read_elf(archive.read(info))
    except ValueError:
        return None
