"""Which distribution provides a missing import name: what a hint tells the user to add.

``No module named 'yaml'`` wants PyYAML, ``ruamel.yaml`` the distribution ruamel.yaml,
``cv2`` opencv-python-headless: a project named after the module may not exist, or be
another one. Every hint about a module no requirement provides names what to add through
:func:`what_to_add`, from, in order:

1. ``data/module_providers.toml``, generated from real wheels by
   ``scripts/module_providers.py`` (the import names each wheel's files install);
2. the configured index, asked by the caller (the check fetches nothing) whether it has a
   project named after the dotted name or one of its prefixes (``dottedish.yaml``, then
   ``dottedish``): :func:`index_candidates` are the names to ask, the answers come back in
   :attr:`~lambdalayer.check.request.ImportOptions.projects`, or from an :data:`AskIndex`
   the caller hands the check (:func:`index_asker`: a layer's build, ``check``, an image's
   build alike), called between the imports and their judging (the imports run once); such
   a project is named as one the index has, its providing the module not verified;
3. else the hint says no project is known to provide it, never inventing one.
"""

from __future__ import annotations

import re
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from importlib import resources

from packaging.utils import canonicalize_name

from lambdalayer.errors import LambdaLayerError
from lambdalayer.net.index import IndexConfig, has_files
from lambdalayer.progress import Notify

# Top-level names wheels install by mistake (their project's own tests, docs, examples):
# never a distribution's module, so no hint names a provider of one, and one importing
# proves nothing about the distribution's own modules (hydra-core 0.11's ``tests``).
STRAY_TOP_LEVEL = frozenset(
    {"tests", "test", "testing", "docs", "doc", "examples", "example", "benchmarks", "scripts"}
)
# The missing name comes from the layer's code (``import a.b.c…``, a raised
# ModuleNotFoundError's name): only its first few prefixes are asked, and a check asks
# the index about so many names at most, one request each, in turn.
MAX_PREFIXES = 4
MAX_ASKED = 32
# ... and for so long, all together: past it the names left are not asked (an index that
# answers slowly bounds a failing check's time at about this, plus the one question under
# way, for a hint) ...
ASKING_SECONDS = 60.0
# ... each page read to so many bytes at most (PyPI's largest, botocore's, ~2 MB in 2026;
# a larger one is the index not answering), not the 256 MB of any other index document.
ASKED_PAGE_BYTES = 16 * 1024 * 1024
# The caller's question to its index: (project, has a file to install) for each name it
# could answer for, in order; a name no URL answered for is left out.
AskIndex = Callable[[Sequence[str]], tuple[tuple[str, bool], ...]]
_PROJECT = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?", re.ASCII)  # PEP 508 names


@cache
def _table() -> dict[str, tuple[str, ...]]:
    text = resources.files("lambdalayer").joinpath("data/module_providers.toml").read_text("utf-8")
    return {name: tuple(dists) for name, dists in tomllib.loads(text)["providers"].items()}


def providers(name: str) -> tuple[str, ...]:
    """The distributions known to provide the import name ``name`` (or the package it is
    in: ``google.protobuf.message`` is protobuf's), the most-downloaded first; () if none."""
    parts = name.split(".")
    table = _table()
    for depth in range(len(parts), 0, -1):
        found = table.get(".".join(parts[:depth]))
        if found:
            return found
    return ()


def index_candidates(name: str) -> tuple[str, ...]:
    """The project names to ask the index about for an import name no table knows: the
    dotted name, then each shorter prefix (``a.b.c``, ``a.b``, ``a``), as the index spells
    them (PEP 503); a prefix that is no valid project name is never asked, nor one deeper
    than :data:`MAX_PREFIXES` parts."""
    if providers(name):
        return ()
    parts = name.split(".")[:MAX_PREFIXES]
    prefixes = (".".join(parts[:depth]) for depth in range(len(parts), 0, -1))
    return tuple(
        dict.fromkeys(
            canonicalize_name(prefix) for prefix in prefixes if _PROJECT.fullmatch(prefix)
        )
    )


def what_to_add(name: str, on_index: Mapping[str, bool] | None = None) -> str:
    """What a hint tells the user to add for the missing import name ``name``, and why
    (:func:`to_add`'s two parts: ``PyYAML``; ``the distribution that provides x (no project
    is known to provide it: ...)``).

    ``on_index``: the index's answers for :func:`index_candidates` (project name → whether
    it has one); ``None`` when it was not asked.
    """
    what, why = to_add(name, on_index)
    return f"{what} ({why})" if why else what


def to_add(name: str, on_index: Mapping[str, bool] | None = None) -> tuple[str, str]:
    """What to add for the missing import name ``name`` (a finding's fix says it), and the
    caveat or reason its message says once beside it ("" when there is none) — see
    :func:`what_to_add`."""
    known = providers(name)
    if known:
        if len(known) == 1:
            return known[0], ""
        return f"{known[0]} (or {', '.join(known[1:4])}: each provides {name})", ""
    candidates = index_candidates(name)
    if on_index is not None:
        found = next((project for project in candidates if on_index.get(project)), None)
        if found is not None:
            return found, (
                f"a project of that name is on the index; that it provides {name} is not verified"
            )
    if not candidates:
        where = "no project name can be made from it"
    elif on_index is None:
        where = "the index was not asked"
    elif not all(project in on_index for project in candidates):
        where = (
            f"the index did not answer, or was not asked (a check asks it about {MAX_ASKED}"
            f" names at most, for {ASKING_SECONDS:.0f} s at most)"
        )
    else:
        where = f"the index has no project named {' or '.join(candidates)}"
    return f"the distribution that provides {name}", (
        f"no project is known to provide it: lambdalayer's table of {len(_table()):,} import"
        f" names has none, and {where}"
    )


def index_answers(
    projects: Sequence[str], index: IndexConfig, seconds: float = ASKING_SECONDS
) -> tuple[tuple[str, bool], ...]:
    """Whether the index has each project (on any of its URLs) with a file to install
    (:func:`~lambdalayer.net.index.has_files`: a page of none, or no page, is not a project
    to add): yes once a URL lists one (the next are not asked), no only when every URL
    answered no; a project not answered so is left out (said as "the index did not
    answer"); at most :data:`MAX_ASKED` are asked, for at most ``seconds`` in all, each
    page read to :data:`ASKED_PAGE_BYTES` at most, and a URL that did not answer one (its
    retries spent, or past that size) is not asked the next."""
    answers: list[tuple[str, bool]] = []
    silent: set[str] = set()
    deadline = time.monotonic() + seconds
    for project in list(dict.fromkeys(projects))[:MAX_ASKED]:
        if time.monotonic() > deadline:
            break
        answered = 0
        for base in index.urls:
            if base in silent:
                continue
            try:
                listed = has_files(base, project, ASKED_PAGE_BYTES)
            except LambdaLayerError:
                silent.add(base)
                continue
            if listed:
                answers.append((project, True))
                break
            answered += 1
        else:
            if answered == len(index.urls):  # every URL said no
                answers.append((project, False))
    return tuple(answers)


def index_asker(index: IndexConfig, notify: Notify) -> AskIndex:
    """The :data:`AskIndex` a caller hands the check: :func:`index_answers` from ``index``,
    said through ``notify`` when asked (only when a missing module's name is in no table)."""

    def ask(projects: Sequence[str]) -> tuple[tuple[str, bool], ...]:
        notify(f"asking the index about {', '.join(projects)} (a missing module's hint)")
        return index_answers(projects, index)

    return ask
