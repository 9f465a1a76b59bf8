"""Reading binaries in a layer: ELF machine and required GLIBC versions (pyelftools).

Also recognises the binaries that can never run on Lambda (Mach-O, PE), which is what a
layer built on a Mac or Windows by hand tends to contain.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerNeedSection

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
    """What matters about one ELF file for Lambda."""

    machine: str
    glibc_needed: tuple[int, int] | None
    symbol_versions: tuple[str, ...] = ()


def foreign_binary_kind(head: bytes) -> str | None:
    """``"Mach-O"`` or ``"PE"`` for binaries of other operating systems, else ``None``."""
    if head[:4] in _MACHO_MAGICS:
        return "Mach-O"
    if head[:2] == b"MZ":
        return "PE"
    return None


def read_elf(data: bytes) -> ElfInfo:
    """Parse an ELF file's bytes; raises :class:`ValueError` if it is not readable ELF."""
    try:
        elf = ELFFile(io.BytesIO(data))
        machine_name = str(elf["e_machine"])
        versions: set[str] = set()
        highest: tuple[int, int] | None = None
        for section in elf.iter_sections():
            if not isinstance(section, GNUVerNeedSection):
                continue
            for _verneed, auxiliaries in section.iter_versions():
                for aux in auxiliaries:
                    name = str(aux.name)
                    match = _GLIBC.match(name)
                    if match:
                        versions.add(name)
                        found = (int(match.group(1)), int(match.group(2)))
                        highest = found if highest is None or found > highest else highest
    except (ELFError, ValueError, KeyError, IndexError) as error:
        raise ValueError(f"unreadable ELF: {error}") from error
    return ElfInfo(
        machine=MACHINES.get(machine_name, machine_name),
        glibc_needed=highest,
        symbol_versions=tuple(sorted(versions)),
    )
