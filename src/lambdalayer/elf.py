"""Reading binaries in a layer: ELF machine and required GLIBC versions (pyelftools).

Also recognises the binaries that can never run on Lambda (Mach-O, PE), which is what a
layer built on a Mac or Windows by hand tends to contain.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

from elftools.common.exceptions import ELFError
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


@dataclass(frozen=True)
class ElfInfo:
    """What matters about one ELF file for Lambda.

    ``needed`` are its ``DT_NEEDED`` sonames in order; ``search_paths`` its ``DT_RUNPATH``
    (or, without one, ``DT_RPATH``) entries as written (``$ORIGIN`` unexpanded);
    ``version_needs`` maps each library to the symbol versions it must define;
    ``version_defs`` are the versions this file itself defines.
    """

    machine: str
    glibc_needed: tuple[int, int] | None
    symbol_versions: tuple[str, ...] = ()
    soname: str | None = None
    needed: tuple[str, ...] = ()
    search_paths: tuple[str, ...] = ()
    version_needs: tuple[tuple[str, tuple[str, ...]], ...] = ()
    version_defs: tuple[str, ...] = ()
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


def read_elf(data: bytes) -> ElfInfo:
    """Parse an ELF file's bytes; raises :class:`ValueError` if it is not readable ELF."""
    try:
        elf = ELFFile(io.BytesIO(data))
        machine_name = str(elf["e_machine"])
        versions: set[str] = set()
        highest: tuple[int, int] | None = None
        needs: dict[str, list[str]] = {}
        defs: list[str] = []
        for section in elf.iter_sections():
            if isinstance(section, GNUVerDefSection):
                for _verdef, auxiliaries in section.iter_versions():
                    defs += [str(aux.name) for aux in list(auxiliaries)[:1]]
            if not isinstance(section, GNUVerNeedSection):
                continue
            for verneed, auxiliaries in section.iter_versions():
                library = needs.setdefault(str(verneed.name), [])
                for aux in auxiliaries:
                    name = str(aux.name)
                    library.append(name)
                    match = _GLIBC.match(name)
                    if match:
                        versions.add(name)
                        found = (int(match.group(1)), int(match.group(2)))
                        highest = found if highest is None or found > highest else highest
        soname, needed, search_paths = _dynamic(elf)
        misaligned = _misaligned_segments(elf)
    except (ELFError, ValueError, KeyError, IndexError, AssertionError) as error:
        raise ValueError(f"unreadable ELF: {error}") from error
    return ElfInfo(
        machine=MACHINES.get(machine_name, machine_name),
        glibc_needed=highest,
        symbol_versions=tuple(sorted(versions)),
        soname=soname,
        needed=tuple(needed),
        search_paths=tuple(search_paths),
        version_needs=tuple((library, tuple(names)) for library, names in sorted(needs.items())),
        version_defs=tuple(defs),
        misaligned_segments=misaligned,
    )
