"""Reading binaries in a layer: ELF machine and required GLIBC versions (pyelftools).

Also recognises the binaries that can never run on Lambda (Mach-O, PE), which is what a
layer built on a Mac or Windows by hand tends to contain.
"""

from __future__ import annotations

import io
import os
import re
import struct
from dataclasses import dataclass
from typing import BinaryIO

from elftools.common.exceptions import ELFError
from elftools.construct.core import ConstructError
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerDefSection, GNUVerNeedSection

# e_machine names as pyelftools reports them → the wheel/uname spelling.
MACHINES = {"EM_X86_64": "x86_64", "EM_AARCH64": "aarch64", "EM_386": "i686", "EM_ARM": "armv7l"}
_MACHO_MAGICS = (
    b"\xfe\xed\xfa\xce",
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",
)
_GLIBC = re.compile(r"^GLIBC_(\d+)\.(\d+)(?:\.\d+)?$")
ELF_MAGIC = b"\x7fELF"
# The smallest record of each version table (Elf_Verneed/Vernaux 16 bytes, Elf_Verdef 20):
# a count in a header can never be more than the section's size allows.
_VERSION_RECORD = 16
# What a hostile file can raise from inside the parser; every one means "not readable ELF".
_PARSE_ERRORS = (
    ELFError,
    ConstructError,
    ValueError,
    KeyError,
    IndexError,
    AssertionError,
    ZeroDivisionError,
    struct.error,
    OverflowError,
    TypeError,
    AttributeError,
    EOFError,
    RecursionError,
)


@dataclass(frozen=True)
class ElfInfo:
    """What matters about one ELF file for Lambda.

    ``needed`` are its ``DT_NEEDED`` sonames in order; ``search_paths`` its ``DT_RUNPATH``
    (or, without one, ``DT_RPATH``) entries as written (``$ORIGIN`` unexpanded);
    ``version_needs`` maps each library to the symbol versions it must define.
    """

    machine: str
    glibc_needed: tuple[int, int] | None
    soname: str | None = None
    needed: tuple[str, ...] = ()
    search_paths: tuple[str, ...] = ()
    version_needs: tuple[tuple[str, tuple[str, ...]], ...] = ()
    misaligned_segments: int = 0  # PT_LOAD segments the loader refuses (offset ≢ address mod align)


def foreign_binary_kind(head: bytes) -> str | None:
    """``"Mach-O"`` or ``"PE"`` for binaries of other operating systems, else ``None``."""
    if head[:4] in _MACHO_MAGICS:
        return "Mach-O"
    if head[:2] == b"MZ":
        return "PE"
    return None


def _dynamic(elf: ELFFile) -> tuple[str | None, list[str], list[str]]:
    """(soname, needed, search paths) from the dynamic section."""
    soname: str | None = None
    needed: list[str] = []
    rpath: list[str] = []
    runpath: list[str] = []
    for section in elf.iter_sections():
        if not isinstance(section, DynamicSection):
            continue
        for tag in section.iter_tags():
            kind = tag.entry.d_tag
            # pyelftools sets the string of a string-valued tag as an attribute named after it.
            if kind == "DT_NEEDED":
                needed.append(str(getattr(tag, "needed", "")))
            elif kind == "DT_SONAME":
                soname = str(getattr(tag, "soname", ""))
            elif kind == "DT_RPATH":
                rpath += [part for part in str(getattr(tag, "rpath", "")).split(":") if part]
            elif kind == "DT_RUNPATH":
                runpath += [part for part in str(getattr(tag, "runpath", "")).split(":") if part]
    # The loader ignores DT_RPATH when DT_RUNPATH is present.
    return soname, needed, runpath or rpath


def _misaligned_segments(elf: ELFFile) -> int:
    """How many loadable segments break ``p_offset ≡ p_vaddr (mod p_align)``.

    The dynamic loader refuses such a file ("ELF load command address/offset not
    page-aligned"); some strip programs produce it from 64 KiB-aligned aarch64 objects.
    """
    count = 0
    for segment in elf.iter_segments():
        align = int(segment["p_align"])
        if segment["p_type"] == "PT_LOAD" and align > 1:
            count += int(segment["p_offset"]) % align != int(segment["p_vaddr"]) % align
    return count


def _size_of(stream: BinaryIO) -> int:
    stream.seek(0, os.SEEK_END)
    size = stream.tell()
    stream.seek(0)
    return size


def _check_bounds(elf: ELFFile, size: int) -> None:
    """Refuse tables and sections that claim more than the file holds (before walking them)."""
    header = elf.header
    tables = (
        (header["e_shoff"], elf.num_sections(), header["e_shentsize"]),
        (header["e_phoff"], elf.num_segments(), header["e_phentsize"]),
    )
    for offset, count, entry_size in tables:
        if count and (entry_size <= 0 or offset + count * entry_size > size):
            raise ValueError("a header table reaches past the end of the file")
    for section in elf.iter_sections():
        kind = section["sh_type"]
        if kind != "SHT_NOBITS" and section["sh_offset"] + section["sh_size"] > size:
            raise ValueError(f"section {section.name!r} reaches past the end of the file")
        if kind == "SHT_DYNAMIC" and section["sh_entsize"] <= 0:
            raise ValueError("a dynamic section with entries of size 0")
        if isinstance(section, (GNUVerNeedSection, GNUVerDefSection)) and (
            section.num_versions() > section["sh_size"] // _VERSION_RECORD
        ):
            raise ValueError(f"section {section.name!r} counts more versions than it can hold")


def _version_needs(elf: ELFFile) -> dict[str, list[str]]:
    """Library → the versions needed from it; every walk (definitions too) bounded by its section."""
    needs: dict[str, list[str]] = {}
    for section in elf.iter_sections():
        if not isinstance(section, (GNUVerNeedSection, GNUVerDefSection)):
            continue
        budget = section["sh_size"] // _VERSION_RECORD  # records a walk may visit at most
        for version, auxiliaries in section.iter_versions():
            names = []
            for aux in auxiliaries:
                budget -= 1
                if budget < 0:
                    raise ValueError(f"section {section.name!r} loops over its own records")
                names.append(str(aux.name))
                if isinstance(section, GNUVerDefSection):
                    break  # a definition's first name is the version; the rest are parents
            if not isinstance(section, GNUVerDefSection):
                needs.setdefault(str(version.name), []).extend(names)
    return needs


def read_elf(data: bytes | BinaryIO) -> ElfInfo:
    """Parse an ELF file (its bytes, or a seekable binary stream); :class:`ValueError` if unreadable.

    Hostile files are expected: every count is bounded by the file's size before it is
    walked, and every failure inside the parser becomes the one :class:`ValueError`.
    """
    stream = io.BytesIO(data) if isinstance(data, bytes) else data
    try:
        size = _size_of(stream)
        elf = ELFFile(stream)
        _check_bounds(elf, size)
        machine_name = str(elf["e_machine"])
        needs = _version_needs(elf)
        versions = {name for names in needs.values() for name in names if _GLIBC.match(name)}
        glibc = [(int(m.group(1)), int(m.group(2))) for v in versions if (m := _GLIBC.match(v))]
        highest = max(glibc, default=None)
        soname, needed, search_paths = _dynamic(elf)
        misaligned = _misaligned_segments(elf)
    except _PARSE_ERRORS as error:
        raise ValueError(f"unreadable ELF: {error}") from error
    return ElfInfo(
        machine=MACHINES.get(machine_name, machine_name),
        glibc_needed=highest,
        soname=soname,
        needed=tuple(needed),
        search_paths=tuple(search_paths),
        version_needs=tuple((library, tuple(names)) for library, names in sorted(needs.items())),
        misaligned_segments=misaligned,
    )
