"""Whether a ``.pyc`` is bytecode the target's CPython imports without its source.

Level ``bytecode-only`` moves a module's ``__pycache__/<stem>.<tag>.pyc`` into its source's
place, where the sourceless loader imports it. A traced line names bytecode the runtime
read; a line written by hand names any file of that name — a wheel's stale bytecode of
another Python, a truncated or empty file. The loader reads a 16-byte header first (PEP
552): the magic number of the CPython that compiled it (two bytes little endian, then
``b"\\r\\n"``), a flags word (bit 0: hash-based, bit 1: check the source; no other bit
set), then a timestamp and size or a hash — which the sourceless loader does not check.
The magic number wanted is the target runtime's (``data/runtimes.toml``), never this
machine's. After the header comes the module's code object, marshalled: its first byte is
marshal's code type (``b"c"``, with or without the ``FLAG_REF`` bit) in every CPython 3 —
a file that ends at its header, or holds anything else there, fails to load on Lambda. (The
rest of the marshal stream is the target CPython's format, not read here.)
"""

from __future__ import annotations

from lambdalayer.targets import Runtime, runtimes

HEADER_BYTES = 16
READ_BYTES = HEADER_BYTES + 1  # the header and the marshalled code object's type byte
_FLAGS = 0b11  # hash-based, check-source: any other bit set and CPython refuses the file
_TYPE_CODE, _FLAG_REF = ord("c"), 0x80  # marshal's code object (CPython's Python/marshal.c)


def runtime_of_tag(cache_tag: str | None) -> Runtime | None:
    """The runtime whose CPython imports ``__pycache__`` bytecode tagged ``cache_tag``."""
    return next((runtime for runtime in runtimes() if runtime.cache_tag == cache_tag), None)


def _whose(number: int) -> str:
    """Which runtime's CPython writes magic number ``number``, as a message says it."""
    known = [runtime.python_version for runtime in runtimes() if runtime.bytecode_magic == number]
    return f"CPython {known[0]}'s" if known else "no Lambda runtime's CPython's"


def header_problem(header: bytes, runtime: Runtime) -> str | None:
    """Why a ``.pyc`` whose first bytes are ``header`` (its first :data:`READ_BYTES`, when
    it has so many) is not bytecode ``runtime``'s CPython imports without its source (what a
    message says of it); ``None`` when it is."""
    if not header:
        return "is empty"
    if len(header) < HEADER_BYTES:
        return f"is {len(header)} bytes long, shorter than a .pyc's {HEADER_BYTES}-byte header"
    wanted = runtime.bytecode_magic
    number = int.from_bytes(header[:2], "little")
    if header[2:4] != b"\r\n":
        return f"does not start with a CPython magic number ({runtime.name} wants {wanted})"
    if number != wanted:
        return (
            f"has the magic number {number} ({_whose(number)} bytecode), not {runtime.name}'s"
            f" {wanted}"
        )
    flags = int.from_bytes(header[4:8], "little")
    if flags & ~_FLAGS:
        return f"has the header flags {flags:#x}: CPython refuses any but 0x0 to 0x3"
    return _code_problem(header)


def _code_problem(start: bytes) -> str | None:
    """Why what follows a good header in ``start`` is not a marshalled code object."""
    if len(start) == HEADER_BYTES:
        return "ends at its header: no code follows it (a truncated .pyc)"
    if start[HEADER_BYTES] & ~_FLAG_REF != _TYPE_CODE:
        return (
            f"holds no code object after its header (marshal type byte"
            f" {start[HEADER_BYTES]:#04x}, not a code object's {_TYPE_CODE:#04x})"
        )
    return None
