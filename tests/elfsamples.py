"""Real ELF shared objects for tests: compiled by the machine's gcc, or a minimal header.

``compile_shared_object`` runs gcc for the machine's own CPU. ``minimal_elf`` writes the
64-byte ELF header of a shared object for any machine (used for aarch64 on an x86_64
builder, where no cross compiler is installed): enough for anything that reads the
header, which is what the layer builder and its tests look at.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

EM_X86_64 = 62
EM_AARCH64 = 183
MACHINE_CODES = {"x86_64": EM_X86_64, "aarch64": EM_AARCH64}


def minimal_elf(machine: str) -> bytes:
    """A 64-bit little-endian ELF header of type ET_DYN for ``machine``."""
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    return ident + struct.pack(
        "<HHIQQQIHHHHHH", 3, MACHINE_CODES[machine], 1, 0, 0, 0, 0, 64, 0, 0, 0, 0, 0
    )


def elf_machine(data: bytes) -> int | None:
    """e_machine of an ELF file's bytes, or None if it is not ELF."""
    if data[:4] != b"\x7fELF" or len(data) < 20:
        return None
    return int(struct.unpack_from("<H", data, 18)[0])


def compile_shared_object(source: str, out: Path) -> bytes:
    """Compile C ``source`` into a shared object with gcc; returns its bytes."""
    gcc = shutil.which("gcc")
    if gcc is None:  # pragma: no cover - gcc is part of the machine
        raise RuntimeError("gcc is needed to build test shared objects")
    c_file = out.with_suffix(".c")
    c_file.write_text(source)
    subprocess.run([gcc, "-shared", "-fPIC", "-O1", "-o", str(out), str(c_file)], check=True)
    return out.read_bytes()


def misaligned_elf(machine: str = "aarch64") -> bytes:
    """An ELF shared object whose one PT_LOAD segment breaks offset ≡ vaddr (mod 64 KiB).

    What llvm-strip 14 made of numpy's 64 KiB-aligned aarch64 extension modules; the
    loader refuses it ("ELF load command address/offset not page-aligned").
    """
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    header = ident + struct.pack(
        "<HHIQQQIHHHHHH", 3, MACHINE_CODES[machine], 1, 0, 64, 0, 0, 64, 56, 1, 0, 0, 0
    )
    # p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align
    segment = struct.pack("<IIQQQQQQ", 1, 5, 0x1000, 0x2010, 0x2010, 16, 16, 0x10000)
    return header + segment + bytes(0x1000 - 120) + bytes(16)
