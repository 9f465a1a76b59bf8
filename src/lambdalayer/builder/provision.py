"""A CPython for the layer's CPU, installed through uv when none is here — as the bytecode's is.

The check itself fetches nothing (:mod:`lambdalayer.check`): this runs before it. An arm64
layer checked on x86_64 needs an aarch64 CPython (run through qemu-user in the root of
Lambda's library set); ``uv python install cpython-3.12-linux-aarch64-gnu`` gets one where
uv can download. When it cannot, the imports are not verified, and the report says so
with the command that gets it; the failure is remembered for an hour (a cache entry), so
that an offline machine does not wait for uv's retries on every check.
"""

from __future__ import annotations

import platform
import time
from dataclasses import replace
from pathlib import Path

from lambdalayer.cache.buckets import Bucket
from lambdalayer.cache.store import entry_path
from lambdalayer.check.request import ImportOptions
from lambdalayer.environment.image import cached_image
from lambdalayer.environment.synthroot import has_libraries_for
from lambdalayer.fsutil import atomic_write_bytes
from lambdalayer.interpreters import (
    emulator,
    find_interpreter,
    provision_interpreter,
    uv_python_request,
)
from lambdalayer.progress import Notify
from lambdalayer.targets import Target
from lambdalayer.uvtool import uv_binary

RETRY_AFTER_SECONDS = 3600  # a failed install is tried again after this long
_FAILURE_LIMIT = 4096  # bytes of a remembered failure read back


def with_interpreter(
    options: ImportOptions, target: Target, cache_dir: Path, notify: Notify
) -> ImportOptions:
    """``options`` with a CPython for ``target``'s CPU (another than this machine's) installed
    through uv when none is here and one could run (qemu-user and that CPU's libraries);
    else as they were, or skipped saying why and how to get one."""
    version, machine = target.runtime.python_version, target.machine
    if options.python is not None or options.image is not None or options.skipped:
        return options
    if cached_image(cache_dir, target) is not None or find_interpreter(version, machine=machine):
        return options
    if machine == platform.machine():
        return options  # this machine's CPython: the bytecode stage provisions it for a build
    if emulator(machine) is None or not has_libraries_for(machine):
        return options  # what is missing first is said by the root's own reason
    request = uv_python_request(version, machine)
    failure = _remembered_failure(cache_dir, request)
    if failure is None:
        notify(
            f"no {machine} CPython {version} here: installing one with uv python install {request}"
        )
        provisioned = provision_interpreter(version, uv_binary(), machine=machine)
        if provisioned.interpreter is not None:
            return replace(options, python=provisioned.interpreter.path)
        failure = provisioned.failure or "failed"
        _remember_failure(cache_dir, request, failure)
    return replace(
        options,
        skipped=f"no {machine} CPython {version} here, and installing one failed ({failure})",
        skipped_how=f"uv python install {request} where uv can download (or put a CPython"
        f" {version} built for {machine} on PATH)",
    )


def _failure_path(cache_dir: Path, request: str) -> Path:
    return entry_path(cache_dir, Bucket.PROVISIONS, request)


def _remembered_failure(cache_dir: Path, request: str) -> str | None:
    """The failure of an install of ``request`` tried less than an hour ago, if any."""
    path = _failure_path(cache_dir, request)
    try:
        if time.time() - path.stat().st_mtime > RETRY_AFTER_SECONDS:
            return None
        with path.open("rb") as stream:
            return stream.read(_FAILURE_LIMIT).decode("utf-8", "replace") or None
    except OSError:
        return None


def _remember_failure(cache_dir: Path, request: str, failure: str) -> None:
    try:
        path = _failure_path(cache_dir, request)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, failure.encode("utf-8")[:_FAILURE_LIMIT])
    except OSError:
        return  # not remembered: tried again next time
