"""Reading (and stripping) the binaries in a layer: a small ELF reader of our own.

What the checks need of an ELF file is a handful of tables: the header (machine), the
program headers (load segments), the section headers, the dynamic section (``DT_NEEDED``,
``DT_SONAME``, ``DT_RUNPATH``/``DT_RPATH``) and the GNU version-needs table (the
``GLIBC_2.28`` a file requires). Each is read with :mod:`struct` at an offset bounded by
the file's size before it is used, so a hostile file is refused (one :class:`ValueError`)
instead of walked: a table that claims more than the file holds, a count of billions, a
chain of records that loops. Both classes (32/64-bit) and byte orders are read.

:func:`strip_unneeded` removes what the loader never maps — debug sections, ``.symtab`` and
its ``.strtab``, ``.comment`` — by rewriting the section header table, never a loaded
segment: the same bytes from any machine, with no strip program.

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

ELF_MAGIC = b"\x7fELF"
# e_machine → the wheel/uname spelling (others are named EM_<number>).
MACHINES = {62: "x86_64", 183: "aarch64", 3: "i686", 40: "armv7l", 243: "riscv64"}
_MACHO_MAGICS = (
    b"\xfe\xed\xfa\xce",
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",
)
_GLIBC = re.compile(r"GLIBC_(\d+)\.(\d+)(?:\.\d+)?")
_VERSION_RECORD = 16  # Elf_Verneed and Elf_Vernaux are 16 bytes each (Elf_Verdef 20)
_MAX_STRING = 4096  # a soname, a version name or a run path: longer is hostile

SHT_SYMTAB, SHT_STRTAB, SHT_RELA, SHT_DYNAMIC, SHT_NOBITS, SHT_REL = 2, 3, 4, 6, 8, 9
SHT_GNU_VERDEF, SHT_GNU_VERNEED = 0x6FFFFFFD, 0x6FFFFFFE
SHF_ALLOC = 0x2
PT_LOAD = 1
PT_INTERP = 3
DT_NULL, DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH = 0, 1, 14, 15, 29
# Sections the loader never maps, which strip_unneeded removes (by name).
_UNNEEDED = re.compile(
    r"(\.z?debug.*|\.comment|\.gnu_debuglink|\.gnu_debugdata|\.GCC\.command\.line)"
)


@dataclass(frozen=True)
class ElfInfo:
    """What matters about one ELF file for Lambda.

    ``needed`` are its ``DT_NEEDED`` sonames in order; ``search_paths`` its ``DT_RUNPATH``
    (or, without one, ``DT_RPATH``) entries as written (``$ORIGIN`` unexpanded), and
    ``runpath`` says which of the two they are (the loader searches them differently);
    ``version_needs`` maps each library to the symbol versions it must define; ``program``:
    it names an interpreter (``PT_INTERP``): an executable, not only a library.
    """

    machine: str
    glibc_needed: tuple[int, int] | None
    soname: str | None = None
    needed: tuple[str, ...] = ()
    search_paths: tuple[str, ...] = ()
    version_needs: tuple[tuple[str, tuple[str, ...]], ...] = ()
    misaligned_segments: int = 0  # PT_LOAD segments the loader refuses (offset ≢ address mod align)
    runpath: bool = False
    program: bool = False


@dataclass(frozen=True)
class _Section:
    index: int
    name: int  # offset in the section name table
    kind: int
    flags: int
    addr: int
    offset: int
    size: int
    link: int
    info: int
    align: int
    entsize: int


@dataclass(frozen=True)
class _Segment:
    kind: int
    offset: int
    vaddr: int
    filesz: int
    align: int


class _Elf:
    """The tables of one ELF file, every one bounded by the file's size."""

    def __init__(self, stream: BinaryIO) -> None:
        stream.seek(0, os.SEEK_END)
        self.size = stream.tell()
        self.stream = stream
        ident = self.read(0, 16)
        if ident[:4] != ELF_MAGIC or ident[4] not in (1, 2) or ident[5] not in (1, 2):
            raise ValueError("not an ELF file of a known class and byte order")
        self.wide = ident[4] == 2
        self.order = "<" if ident[5] == 1 else ">"
        fields = "HHIQQQIHHHHHH" if self.wide else "HHIIIIIHHHHHH"
        header = self.unpack(fields, 16)
        self.machine = header[1]
        self.phoff, self.shoff = header[4], header[5]
        self.phentsize, self.phnum = header[8], header[9]
        self.shentsize, self.shnum, self.shstrndx = header[10], header[11], header[12]
        self.header_size = header[7]
        self.sections = self._sections()
        self.segments = self._segments()

    def read(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0 or offset + length > self.size:
            raise ValueError("a read reaches past the end of the file")
        self.stream.seek(offset)
        data = self.stream.read(length)
        if len(data) != length:
            raise ValueError("the file ended early")
        return data

    def unpack(self, fields: str, offset: int) -> tuple[int, ...]:
        layout = struct.Struct(self.order + fields)
        return layout.unpack(self.read(offset, layout.size))

    def _table(self, offset: int, count: int, entry_size: int, wanted: int) -> None:
        if count and (entry_size < wanted or offset + count * entry_size > self.size):
            raise ValueError("a header table reaches past the end of the file")

    def _sections(self) -> list[_Section]:
        fields = "IIQQQQIIQQ" if self.wide else "IIIIIIIIII"
        self._table(self.shoff, self.shnum, self.shentsize, struct.calcsize("<" + fields))
        sections = []
        for index in range(self.shnum):
            name, kind, flags, addr, offset, size, link, info, align, entsize = self.unpack(
                fields, self.shoff + index * self.shentsize
            )
            if kind != SHT_NOBITS and offset + size > self.size:
                raise ValueError(f"section {index} reaches past the end of the file")
            sections.append(
                _Section(index, name, kind, flags, addr, offset, size, link, info, align, entsize)
            )
        return sections

    def _segments(self) -> list[_Segment]:
        fields = "IIQQQQQQ" if self.wide else "IIIIIIII"
        self._table(self.phoff, self.phnum, self.phentsize, struct.calcsize("<" + fields))
        segments = []
        for index in range(self.phnum):
            values = self.unpack(fields, self.phoff + index * self.phentsize)
            if self.wide:
                kind, _flags, offset, vaddr, _paddr, filesz, _memsz, align = values
            else:
                kind, offset, vaddr, _paddr, filesz, _memsz, _flags, align = values
            segments.append(_Segment(kind, offset, vaddr, filesz, align))
        return segments

    def string(self, table: _Section, offset: int) -> str:
        """The NUL-terminated string at ``offset`` of a string table section."""
        if table.kind != SHT_STRTAB or offset >= table.size:
            raise ValueError("a string offset outside its string table")
        chunk = self.read(table.offset + offset, min(_MAX_STRING, table.size - offset))
        end = chunk.find(b"\0")
        if end < 0:
            raise ValueError("a string without its end")
        return chunk[:end].decode("utf-8", "replace")

    def linked(self, section: _Section) -> _Section:
        if not 0 < section.link < len(self.sections):
            raise ValueError("a section linked to no section")
        return self.sections[section.link]

    def section_name(self, section: _Section) -> str:
        if not 0 < self.shstrndx < len(self.sections):
            return ""
        return self.string(self.sections[self.shstrndx], section.name)


def foreign_binary_kind(head: bytes) -> str | None:
    """``"Mach-O"`` or ``"PE"`` for binaries of other operating systems, else ``None``."""
    if head[:4] in _MACHO_MAGICS:
        return "Mach-O"
    if head[:2] == b"MZ":
        return "PE"
    return None


def _dynamic(elf: _Elf) -> tuple[str | None, list[str], list[str], bool]:
    """(soname, needed, search paths, whether they are DT_RUNPATH) from the dynamic section."""
    soname: str | None = None
    needed: list[str] = []
    rpath: list[str] = []
    runpath: list[str] = []
    fields = "qQ" if elf.wide else "iI"
    for section in elf.sections:
        if section.kind != SHT_DYNAMIC:
            continue
        if section.entsize < struct.calcsize("<" + fields):
            raise ValueError("a dynamic section with entries too small")
        strings = elf.linked(section)
        for number in range(section.size // section.entsize):
            tag, value = elf.unpack(fields, section.offset + number * section.entsize)
            if tag == DT_NULL:
                break
            if tag == DT_NEEDED:
                needed.append(elf.string(strings, value))
            elif tag == DT_SONAME:
                soname = elf.string(strings, value)
            elif tag == DT_RPATH:
                rpath += [part for part in elf.string(strings, value).split(":") if part]
            elif tag == DT_RUNPATH:
                runpath += [part for part in elf.string(strings, value).split(":") if part]
    # The loader ignores DT_RPATH when DT_RUNPATH is present.
    return soname, needed, runpath or rpath, bool(runpath)


def _version_needs(elf: _Elf) -> dict[str, list[str]]:
    """Library → the versions needed from it; every walk (definitions too) bounded by its section."""
    needs: dict[str, list[str]] = {}
    for section in elf.sections:
        if section.kind not in (SHT_GNU_VERNEED, SHT_GNU_VERDEF):
            continue
        budget = section.size // _VERSION_RECORD  # records a walk may visit at most
        if section.info > budget:
            raise ValueError("a version section counts more versions than it can hold")
        strings = elf.linked(section)
        offset = 0
        needed = section.kind == SHT_GNU_VERNEED
        for _entry in range(section.info):
            if offset + (16 if needed else 20) > section.size:
                raise ValueError("a version record outside its section")
            if needed:  # Elf_Verneed: version, count, file, aux, next
                _version, count, file, aux, following = elf.unpack("HHIII", section.offset + offset)
                names = _auxiliaries(elf, section, strings, offset + aux, count, needed=True)
                needs.setdefault(elf.string(strings, file), []).extend(names)
                budget -= len(names)
            else:  # Elf_Verdef: version, flags, index, count, hash, aux, next
                values = elf.unpack("HHHHIII", section.offset + offset)
                count, aux, following = values[3], values[5], values[6]
                # a definition's first name is the version; the rest are its parents
                budget -= len(
                    _auxiliaries(elf, section, strings, offset + aux, min(count, 1), needed=False)
                )
            if budget < 0:
                raise ValueError("a version section loops over its own records")
            if not following:
                break
            offset += following
    return needs


def _auxiliaries(
    elf: _Elf, section: _Section, strings: _Section, offset: int, count: int, *, needed: bool
) -> list[str]:
    """The names of a version entry's auxiliary records (Elf_Vernaux, or Elf_Verdaux)."""
    fields = "IHHII" if needed else "II"  # hash, flags, other, name, next | name, next
    names = []
    for _aux in range(count):
        if offset < 0 or offset + struct.calcsize("<" + fields) > section.size:
            raise ValueError("a version record outside its section")
        values = elf.unpack(fields, section.offset + offset)
        name, following = (values[3], values[4]) if needed else (values[0], values[1])
        names.append(elf.string(strings, name))
        if not following:
            break
        offset += following
    return names


def _misaligned_segments(elf: _Elf) -> int:
    """How many loadable segments break ``p_offset ≡ p_vaddr (mod p_align)``.

    The dynamic loader refuses such a file ("ELF load command address/offset not
    page-aligned"); some strip programs produce it from 64 KiB-aligned aarch64 objects.
    """
    return sum(
        segment.offset % segment.align != segment.vaddr % segment.align
        for segment in elf.segments
        if segment.kind == PT_LOAD and segment.align > 1
    )


def _open(data: bytes | BinaryIO) -> _Elf:
    stream = io.BytesIO(data) if isinstance(data, bytes | bytearray | memoryview) else data
    try:
        return _Elf(stream)
    except (struct.error, OverflowError) as error:
        raise ValueError(f"unreadable ELF: {error}") from error


def read_elf(data: bytes | BinaryIO) -> ElfInfo:
    """Parse an ELF file (its bytes, or a seekable binary stream); :class:`ValueError` if unreadable.

    Hostile files are expected: every table is bounded by the file's size before it is
    walked, every chain of records by its section, and every failure is the one
    :class:`ValueError`.
    """
    try:
        elf = _open(data)
        needs = _version_needs(elf)
        soname, needed, search_paths, runpath = _dynamic(elf)
    except (ValueError, struct.error, OverflowError) as error:
        raise ValueError(
            f"unreadable ELF: {error}".replace("ELF: unreadable ELF: ", "ELF: ")
        ) from error
    versions = {name for names in needs.values() for name in names if _GLIBC.fullmatch(name)}
    glibc = [(int(m.group(1)), int(m.group(2))) for v in versions if (m := _GLIBC.fullmatch(v))]
    return ElfInfo(
        machine=MACHINES.get(elf.machine, f"EM_{elf.machine}"),
        glibc_needed=max(glibc, default=None),
        soname=soname,
        needed=tuple(needed),
        search_paths=tuple(search_paths),
        version_needs=tuple((library, tuple(names)) for library, names in sorted(needs.items())),
        misaligned_segments=_misaligned_segments(elf),
        runpath=runpath,
        program=any(segment.kind == PT_INTERP for segment in elf.segments),
    )


SHF_INFO_LINK = 0x40
_SHN_LORESERVE = 0xFF00


def _unneeded(elf: _Elf) -> set[int]:
    """The sections :func:`strip_unneeded` removes: never loaded, and nothing kept links to them."""
    removed = {
        section.index
        for section in elf.sections
        if section.index
        and not section.flags & SHF_ALLOC
        and section.index != elf.shstrndx
        and (section.kind == SHT_SYMTAB or _UNNEEDED.fullmatch(elf.section_name(section)))
    }
    for section in elf.sections:  # a removed symbol table's strings, relocations of what goes
        if section.index in removed and section.kind == SHT_SYMTAB and section.link != elf.shstrndx:
            removed.add(section.link)
        relocates = section.kind in (SHT_REL, SHT_RELA) and not section.flags & SHF_ALLOC
        if relocates and (section.info in removed or section.link in removed):
            removed.add(section.index)
    kept = [section for section in elf.sections if section.index not in removed]
    if any(section.link in removed for section in kept):
        return set()  # something kept needs it: leave the file as it is
    return removed


def strip_unneeded(data: bytes) -> bytes | None:
    """``data`` without the sections the loader never maps (debug info, ``.symtab`` and its
    ``.strtab``, ``.comment``), or ``None`` when there are none or the file's layout does not
    allow removing them safely.

    Only the section header table is rewritten and the removed sections' bytes dropped: the
    header, the program headers and every loaded segment keep their bytes and offsets, and
    sections still needed that sat after the removed ones move up. Removed sections must come
    after every loaded section in the table, so symbol tables' section numbers stay right.
    Raises :class:`ValueError` for a file that is not readable ELF.
    """
    elf = _open(data)
    if not 0 < elf.shstrndx < min(len(elf.sections), _SHN_LORESERVE):
        return None
    removed = _unneeded(elf)
    loaded = [section.index for section in elf.sections if section.flags & SHF_ALLOC]
    if not removed or min(removed) < max(loaded, default=0):
        return None
    cut = min(elf.sections[index].offset for index in removed)
    ends = [segment.offset + segment.filesz for segment in elf.segments if segment.filesz]
    ends.append(elf.phoff + elf.phnum * elf.phentsize)
    if max(ends) > cut or elf.header_size > cut:
        return None
    out = bytearray(data[:cut])
    kept = [section for section in elf.sections if section.index not in removed]
    offsets = {}
    for section in kept:
        if section.kind == SHT_NOBITS or section.offset + section.size <= cut:
            offsets[section.index] = min(section.offset, len(out))
        elif section.offset >= cut and not section.flags & SHF_ALLOC:
            out += bytes(-len(out) % max(1, section.align))
            offsets[section.index] = len(out)
            out += data[section.offset : section.offset + section.size]
        else:
            return None  # a kept section across the cut: not a layout to rewrite
    return _with_section_table(elf, out, kept, offsets)


def _with_section_table(
    elf: _Elf, out: bytearray, kept: list[_Section], offsets: dict[int, int]
) -> bytes:
    """``out`` followed by a section header table of the ``kept`` sections, renumbered."""
    number = {section.index: position for position, section in enumerate(kept)}
    fields = struct.Struct(elf.order + ("IIQQQQIIQQ" if elf.wide else "IIIIIIIIII"))
    out += bytes(-len(out) % (8 if elf.wide else 4))
    table_offset = len(out)
    for section in kept:
        info = section.info
        if section.kind in (SHT_REL, SHT_RELA) or section.flags & SHF_INFO_LINK:
            info = number.get(info, 0)
        out += fields.pack(
            section.name,
            section.kind,
            section.flags,
            section.addr,
            offsets[section.index],
            section.size,
            number.get(section.link, 0),
            info,
            section.align,
            section.entsize,
        )
        out += bytes(elf.shentsize - fields.size)
    # e_shoff, then e_shnum and e_shstrndx in the ELF header
    shoff_at, count_at = (0x28, 0x3C) if elf.wide else (0x20, 0x30)
    struct.pack_into(elf.order + ("Q" if elf.wide else "I"), out, shoff_at, table_offset)
    struct.pack_into(elf.order + "H", out, count_at, len(kept))
    struct.pack_into(elf.order + "H", out, count_at + 2, number[elf.shstrndx])
    return bytes(out)
