"""Which runtime and CPU a zip is for, decided once for every command: never a silent guess.

In order: what the caller was told (the flags); the zip comment lambdalayer writes; what the
zip itself shows — the ``python/lib/pythonX.Y/`` directory, extension modules' ABI tags
(``.cpython-312-x86_64-linux-gnu.so``) and its ELF files' machine. A runtime that nothing
shows is an error asking for the runtime; a CPU that nothing shows (a pure-Python layer,
which runs on both) is x86_64, and the answer says so. ``check``, ``report``, ``sbom``,
``invoke`` (its zips) and ``publish`` (what a version records as compatible) all ask
:func:`target_for_zips`.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lambdalayer.elf import ELF_MAGIC
from lambdalayer.errors import InputError, option
from lambdalayer.layercomment import RecordedTarget, recorded_target
from lambdalayer.targets import DEFAULT_ARCH, Layout, Target, get_target
from lambdalayer.zipnames import open_zip

_SITE = re.compile(r"^python/lib/python(3\.\d+)/")
_EXTENSION = re.compile(r"\.cpython-3(\d+)[a-z]*-(x86_64|aarch64)-linux-gnu\.so\Z")
_ELF_HEADS = 20  # ELF members read (20 bytes each) before the machine is taken as known
_ELF_MACHINES = {62: "x86_64", 183: "aarch64"}  # e_machine: EM_X86_64, EM_AARCH64


@dataclass(frozen=True)
class ZipTarget:
    """The target a zip is checked for, where that came from, and whether it is a function zip."""

    target: Target
    source: str
    function: bool = False


def _shown(path: Path) -> tuple[set[str], set[str], list[str]]:
    """(Python versions, CPUs, what showed them) from the zip's names and ELF headers."""
    versions: set[str] = set()
    machines: set[str] = set()
    clues: list[str] = []
    try:
        with open_zip(path) as archive:
            names = archive.namelist()
            versions |= {m.group(1) for name in names if (m := _SITE.match(name))}
            if versions:
                clues.append(f"python/lib/python{'/'.join(sorted(versions))}/ in the zip")
            tagged = [m for name in names if (m := _EXTENSION.search(name))]
            if tagged:
                versions |= {f"3.{m.group(1)}" for m in tagged}
                machines |= {m.group(2) for m in tagged}
                clues.append("its extension modules' tags")
            heads = 0
            for info in archive.infolist():
                if heads >= _ELF_HEADS or not re.search(r"\.so(\.[0-9.]+)?\Z", info.filename):
                    continue
                heads += 1
                with archive.open(info) as stream:
                    head = stream.read(20)
                if head[:4] == ELF_MAGIC and len(head) == 20:
                    code = int.from_bytes(head[18:20], "big" if head[5] == 2 else "little")
                    machine = _ELF_MACHINES.get(code)
                    if machine:
                        machines.add(machine)
            if heads and machines and "its extension modules' tags" not in clues:
                clues.append("its ELF files")
    except (
        InputError,
        OSError,
        zipfile.BadZipFile,
        ValueError,
        EOFError,
        NotImplementedError,
        RuntimeError,
    ):
        pass  # an unreadable zip is the check's own error to report
    return versions, machines, clues


def target_for_zip(path: Path, runtime: str | None, arch: str | None) -> ZipTarget:
    """The target to check ``path`` for: the flags, else the zip's comment, else what it shows."""
    found = target_for_zips([path], runtime, arch)
    if found is None:  # pragma: no cover - required: an error instead
        raise InputError(f"cannot tell which runtime {path.name} is for")
    return found


def target_for_zips(
    paths: Sequence[Path],
    runtime: str | None,
    arch: str | None,
    *,
    required: bool = True,
    shown: bool = True,
) -> ZipTarget | None:
    """The target of zips deployed together: the runtime and CPU given, else what the first
    zip that records one recorded, else (``shown``) what the first zip shows. Nothing to go
    by: an error when ``required``, else ``None`` (the caller's own default applies)."""
    readable = [path for path in paths if path.is_file()]
    recorded = next((found for path in readable if (found := recorded_target(path))), None)
    if recorded is None and runtime is not None and arch is not None:
        return ZipTarget(get_target(runtime, arch), "as given")
    if recorded is None and not (shown and readable):
        if required:
            raise InputError(
                "cannot tell which runtime the zips are for", hint="give the runtime they run on"
            )
        return None
    return _target(readable[0], runtime, arch, recorded, required=required)


def _target(
    path: Path,
    runtime: str | None,
    arch: str | None,
    recorded: RecordedTarget | None,
    *,
    required: bool,
) -> ZipTarget | None:
    function = bool(recorded and recorded.layout is Layout.FUNCTION)
    if recorded is not None and (runtime is None or arch is None):
        target = get_target(runtime or recorded.target.runtime.name, arch or recorded.target.arch)
        return ZipTarget(target, _how(target, recorded.target, runtime, arch), function)
    if runtime is not None and arch is not None:
        return ZipTarget(get_target(runtime, arch), "as given", function)
    versions, machines, clues = _shown(path)
    if runtime is None and len(versions) != 1 and not required:
        return None
    if runtime is None and len(versions) != 1:
        seen = (
            f"it shows Python {', '.join(sorted(versions))}"
            if versions
            else "nothing in it names a Python version"
        )
        raise InputError(
            f"cannot tell which runtime {path.name} is for: {seen}",
            hint=f"give the runtime it will run on, e.g. {option('Target.runtime', 'python3.12')}",
        )
    chosen_runtime = runtime or f"python{next(iter(versions))}"
    chosen_arch = arch or (next(iter(machines)) if len(machines) == 1 else None)
    source = f"from {' and '.join(clues)}" if clues and runtime is None else "as given"
    if chosen_arch is None:
        chosen_arch = DEFAULT_ARCH
        source += (
            f"; {DEFAULT_ARCH}, as nothing in it is for one CPU"
            if not machines
            else (f"; {DEFAULT_ARCH}: it holds files for {' and '.join(sorted(machines))}")
        )
    return ZipTarget(get_target(chosen_runtime, chosen_arch), source, function)


def _how(target: Target, recorded: Target, runtime: str | None, arch: str | None) -> str:
    """How ``target`` was decided, when the zip records one: what was given and what the
    zip says, in the words a check's first line prints (a disagreement said, never hidden)."""
    given = [part for part in (runtime and target.runtime.name, arch and target.arch) if part]
    if not given:
        return "recorded in the zip by lambdalayer"
    if target == recorded:
        return f"{' and '.join(given)} as given, the rest recorded in the zip by lambdalayer"
    return (
        f"{' and '.join(given)} as given; the zip records {recorded.name} (lambdalayer built it"
        " for that target)"
    )
