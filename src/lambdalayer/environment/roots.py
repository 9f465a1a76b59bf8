"""Where code of a layer or function runs: a Lambda image's root, the root synthesized from
the runtime's library set, or this machine's libraries — each confined by a sandbox.

:func:`code_root` is the one choice, best first: an image given (a directory, or pulled),
an image of the target pulled into the cache before, the root synthesized from the
runtime's library set with a CPython of the runtime's X.Y found here, and — only when asked
for (:data:`HOST`) — this machine's own system directories read-only.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from pathlib import Path

from lambdalayer.environment.image import cached_image, image_root
from lambdalayer.environment.imports import SandboxRun, image_interpreter
from lambdalayer.environment.sandbox import find_sandbox
from lambdalayer.environment.synthroot import has_libraries_for, synthesized_root
from lambdalayer.errors import InputError
from lambdalayer.interpreters import emulator, find_interpreter
from lambdalayer.targets import Target

HOST = Path("host")  # ``--image host``: this machine's own libraries, never a synthesized root


@dataclass(frozen=True)
class CodeRoot:
    """The root chosen: how to run there (``None``: why not), and whether it is an image's
    (which has its own ``/var/runtime``) and was given (not found in the cache)."""

    run: SandboxRun | None
    why_not: str | None = None
    image: Path | None = None
    label: str = ""  # where the code runs, said in a report (see SandboxRun.describe)
    how: str | None = None  # when it cannot run: the one thing that makes it run


def code_root(
    target: Target,
    image: Path | None,
    python: Path | None,
    sandbox: str | None,
    cache_dir: Path | None,
) -> CodeRoot:
    """Where code for ``target`` runs (see the module's docstring); ``image``: a root given,
    :data:`HOST`, or ``None`` for the best there is."""
    if image is None and cache_dir is not None:
        image = cached_image(cache_dir, target)
    if image is not None and image != HOST:
        run, why_not = image_run(image, target, sandbox)
        how = None if run else _how(why_not)
        return CodeRoot(run, why_not, image, run.describe(target) if run else "", how)
    run, why_not = host_run(target, python, sandbox, None if image == HOST else cache_dir)
    how = None if run else _how(why_not)
    return CodeRoot(run, why_not, None, run.describe(target) if run else "", how)


def _how(why_not: str | None) -> str | None:
    """What gets the code run, as this module's reasons say it: their last parenthesised
    part (``… (uv python install cpython-3.12-linux-aarch64-gnu …); imports not checked``)."""
    text = (why_not or "").removesuffix("; imports not checked")
    depth = 0
    for at in range(len(text) - 1, -1, -1):
        depth += {")": 1, "(": -1}.get(text[at], 0)
        if depth == 0:
            return text[at + 1 : -1] if at < len(text) - 1 and text[at] == "(" else None
    return None


def image_run(
    image: Path, target: Target, sandbox: str | None
) -> tuple[SandboxRun | None, str | None]:
    """How to run the imports inside ``image``, or why they cannot run here."""
    root = image_root(image)
    version = target.runtime.python_version
    interpreter = image_interpreter(root, version)
    if interpreter is None:
        return (
            None,
            f"{root} has no python{version} (looked in /var/lang/bin, /usr/bin, /usr/local/bin)",
        )
    try:
        chosen = find_sandbox(target.machine, sandbox)
    except InputError as error:
        return None, f"{error.message} ({error.hint})" if error.hint else error.message
    return SandboxRun(root, interpreter, chosen), None


def _no_interpreter(target: Target) -> str:
    """Why there is no CPython to import with, and how to get one."""
    version = target.runtime.python_version
    machine = target.machine
    if machine == platform.machine():
        return (
            f"no CPython {version} found on PATH, in pyenv or in uv's installs (uv python install"
            f" cpython-{version}-linux-{machine}-gnu); imports not checked"
        )
    if emulator(machine) is None:
        return (
            f"no qemu-{machine}-static here to run an {machine} CPython (apt-get install"
            " qemu-user-static); imports not checked"
        )
    if not has_libraries_for(machine):
        return (
            f"this machine has no {machine} libraries to make Lambda's {target.arch} root from"
            f" (Debian, Ubuntu: dpkg --add-architecture {target.arch}; apt-get install"
            f" libc6:{target.arch} libssl3:{target.arch} …); imports not checked"
        )
    return (
        f"no {machine} CPython {version} found here, to run through qemu-{machine}-static (uv"
        f" python install cpython-{version}-linux-{machine}-gnu); imports not checked"
    )


def host_run(
    target: Target, python: Path | None, sandbox: str | None, cache_dir: Path | None
) -> tuple[SandboxRun | None, str | None]:
    """How to run the imports with a CPython found here (confined), or why they cannot run.

    With ``cache_dir``, in the root synthesized from the runtime's library set; without
    one (or when it cannot be made), on this machine's own libraries.
    """
    version = target.runtime.python_version
    interpreter = find_interpreter(version, explicit=python, machine=target.machine)
    if interpreter is None:
        return None, _no_interpreter(target)
    try:
        chosen = find_sandbox(target.machine, sandbox, host_root=True)
    except InputError as error:
        reason = f"{error.message} ({error.hint})" if error.hint else error.message
        return None, f"{reason}; imports not checked"
    root = synthesized_root(target, interpreter, cache_dir) if cache_dir is not None else None
    if root is not None:
        inside = f"/var/lang/bin/python{version}"
        return SandboxRun(
            root.rootfs, inside, chosen, label=root.describe(target, interpreter)
        ), None
    if interpreter.machine != platform.machine():
        return None, (
            f"an {interpreter.machine} CPython runs only in the root synthesized from the"
            " runtime's library set, not on this machine's libraries; imports not checked"
        )
    return SandboxRun.on_this_machine(interpreter, chosen), None
