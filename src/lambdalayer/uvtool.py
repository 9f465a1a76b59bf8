"""uv, the one module that knows it: its executable, how it is asked, and what it answers.

The executable is the one the ``uv`` package installed (found once, safely from any thread:
``uv.find_uv_bin()`` reads ``sysconfig`` config vars, whose lazy first initialisation is not
thread-safe; two builds of a matrix asking at once saw ``EXE`` as ``None``).

What uv answers is read as data where uv gives data: a resolution is its pylock.toml, and
its exit code says what kind of failure a failure is (1: no solution for the requirements;
2: uv could not do its work — the network, a file). What it says only in prose (which
package has no wheel, which host could not be reached) is read here and nowhere else
(:func:`uv_failure`), each wording with a test (tests/test_uvtool.py).
"""

from __future__ import annotations

import functools
import os
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from lambdalayer.cache import Bucket
from lambdalayer.network import child_environment
from lambdalayer.targets import Target

_LOCK = threading.Lock()
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
NO_SOLUTION = 1  # uv's exit code when the requirements have no solution (2: it could not work)
_NAME = r"([A-Za-z0-9][A-Za-z0-9._-]*)"
# Every form uv words "no wheel" in, each naming the package (and a version when pinned):
# "X==1.0 has no usable wheels", "all versions of X have no usable wheels" (an unpinned
# requirement, a range, or a dependency of another package), and its hint "Wheels are
# required for `X`".
# A name stands at the start of a word, never inside a specifier ("pyqldb<=3.2.3 has no
# usable wheels": the name is pyqldb, 3.2.3 is its bound); a specifier after it other than
# one "==" pin is a range (no one version).
_SPECIFIER = r"(?:[<>=!~]=?[^\s,]+)"
_NO_WHEELS = re.compile(
    r"(?<![\w.<>=!~,*-])"
    + _NAME
    + r"(?:==([^\s,<>=!~]+)(?=\s)|("
    + _SPECIFIER
    + r"(?:,"
    + _SPECIFIER
    + r")*))? has no usable wheels"
)
_NO_WHEELS_AT_ALL = re.compile(
    r"all versions of " + _NAME + r" have no usable wheels|Wheels are required for `" + _NAME + "`"
)
_NOT_FOUND = re.compile(_NAME + r" was not found in the package registry")
_NO_VERSION = re.compile(r"there is no version of " + _NAME)
_UNREACHABLE_URL = re.compile(
    r"(?:Failed to fetch|unable to access|error sending request for url)[: (']+(\w+://[^\s)']+)"
)
_UNRESOLVED_HOST = re.compile(r"Could not resolve host: ([^\s']+)")
_UNREACHABLE = (
    "dns error",
    "Could not resolve host",
    "Connection refused",
    "tcp connect error",
    "timed out",
)


@dataclass(frozen=True)
class UvFailure:
    """A failed uv run, as data: ``no_solution`` from its exit code; from its words, the
    package the index lacks (``not_found``), the one with no usable wheel (``no_wheels``:
    name and pinned version), the one with no version at all (``no_version``), and the host
    it could not reach (``unreachable``: ``""`` when the network failed but no host is named)."""

    no_solution: bool
    lines: tuple[str, ...]
    text: str
    not_found: str | None = None
    no_wheels: tuple[str, str | None] | None = None
    no_version: str | None = None
    unreachable: str | None = None
    # each package uv says has no usable wheel, in order: (name, pinned version, range)
    every_no_wheels: tuple[tuple[str, str | None, str | None], ...] = ()

    def mentions(self, name: str) -> bool:
        """Whether uv's explanation names the package ``name``."""
        return re.search(rf"\b{re.escape(name)}\b", self.text) is not None

    def required_version(self, name: str) -> str | None:
        """The version of ``name`` the explanation says was required (``you require X==V``)."""
        pinned = re.search(rf"you require {re.escape(name)}==([^\s,]+)", self.text)
        return pinned.group(1) if pinned else None


def uv_failure(returncode: int, stderr: str) -> UvFailure:
    """What a uv run that exited with ``returncode`` said on ``stderr``, read once."""
    text = ANSI_ESCAPE.sub("", stderr)
    no_solution = returncode == NO_SOLUTION
    not_found = _NOT_FOUND.search(text) if no_solution else None
    pinned = _NO_WHEELS.search(text) if no_solution else None
    at_all = _NO_WHEELS_AT_ALL.search(text) if no_solution and pinned is None else None
    no_wheels = (
        (pinned.group(1), pinned.group(2))
        if pinned
        else ((at_all.group(1) or at_all.group(2)), None)
        if at_all
        else None
    )
    no_version = _NO_VERSION.search(text) if no_solution else None
    every: list[tuple[str, str | None, str | None]] = []
    if no_solution:
        found = [(m.start(), m.group(1), m.group(2), m.group(3)) for m in _NO_WHEELS.finditer(text)]
        found += [
            (m.start(), m.group(1) or m.group(2), None, None)
            for m in _NO_WHEELS_AT_ALL.finditer(text)
        ]
        for _start, name, version, within in sorted(found, key=lambda item: item[0]):
            if all(name != known[0] for known in every):
                every.append((name, version, within))
    return UvFailure(
        no_solution,
        tuple(uv_message(text)),
        text,
        not_found.group(1) if not_found else None,
        no_wheels,
        no_version.group(1) if no_version else None,
        _unreachable(text),
        tuple(every),
    )


def _unreachable(text: str) -> str | None:
    """The host uv could not reach, when its words say the network failed."""
    if not any(sign in text for sign in _UNREACHABLE):
        return None
    url = _UNREACHABLE_URL.search(text)
    host = urlsplit(url.group(1)).hostname if url else None
    named = _UNRESOLVED_HOST.search(text)
    return host or (named.group(1) if named else "")


@functools.cache
def _find() -> str:
    from uv import find_uv_bin  # noqa: PLC0415 - only needed when uv actually runs

    return str(find_uv_bin())


def uv_binary() -> str:
    """The path of the uv executable."""
    with _LOCK:
        return _find()


def uv_message(stderr: str) -> list[str]:
    """uv's error as lines: colours and warnings dropped, its line breaks kept.

    >>> uv_message("warning: x\\nerror: No solution\\n  cause: Because ...")
    ['No solution', 'cause: Because ...']
    """
    lines = []
    for raw in ANSI_ESCAPE.sub("", stderr).splitlines():
        line = raw.strip()
        if not line or line.startswith(("warning:", "hint:", "Resolved")):
            continue
        lines.append(line.removeprefix("error:").strip())
    return lines or ["uv failed without a message"]


def uv_environment(
    cache_dir: Path | None = None, environ: Mapping[str, str] = os.environ
) -> dict[str, str]:
    """The environment uv runs in: never downloads an interpreter, no colours in its messages.

    With ``cache_dir`` (lambdalayer's), uv keeps its own cache in ``cache_dir/uv`` unless
    ``UV_CACHE_DIR`` says otherwise, so a build writes nowhere but its output and the cache.
    """
    environment = {
        **environ,
        **child_environment(environ),  # --proxy, REQUESTS_CA_BUNDLE, --native-tls as uv reads them
        "UV_PYTHON_DOWNLOADS": "never",
        "NO_COLOR": "1",
    }
    if cache_dir is not None and not environ.get("UV_CACHE_DIR"):
        environment["UV_CACHE_DIR"] = str(cache_dir / Bucket.UV.info.directory)
    return environment


def pip_compile_command(
    requirements_in: Path,
    target: Target,
    output: Path,
    *,
    only_binary: bool = True,
    extra: Sequence[str] = (),
) -> list[str]:
    """``uv pip compile`` to a PEP 751 lock for the target's Python version and platform, quietly.

    The one place that knows how lambdalayer asks uv for a resolution (the resolver, and
    the source builder looking for an sdist, both use it).
    """
    return [
        uv_binary(),
        "pip",
        "compile",
        str(requirements_in),
        "--python-version",
        target.runtime.python_version,
        "--python-platform",
        target.uv_platform,
        *(["--only-binary", ":all:"] if only_binary else []),
        "--format",
        "pylock.toml",
        "-o",
        str(output),
        "--no-header",
        "--no-annotate",
        "--no-progress",
        "--no-python-downloads",
        "--quiet",
        *extra,
    ]
