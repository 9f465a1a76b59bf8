"""``prepare(Preparation) -> Prepared``: resolve, fetch, fragments — written once.

    Preparation
      → Locked        (resolve: a pylock as it is, the resolution cache, or uv; explained in
                       the background while the rest runs)
      → FetchReport   (the lock's wheels, by sha256, from the cache or the index)
      → LayerContents (fragments: each wheel assembled, slimmed, compiled; cached — the files
                       placed for the layout, with the function's code where it goes)
      → Prepared

>>> prepared = prepare(Preparation(get_target("python3.12"), Resolve(requirements), BuildRecipe()))  # doctest: +SKIP
>>> prepared.contents.placement.names[:1]  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from lambdalayer.cache import cache_root
from lambdalayer.fsutil import atomic_write_bytes, ensure_writable_parent, remove_empty_dirs
from lambdalayer.interpreters import Interpreter
from lambdalayer.layer.bytecode import bytecode_compiler
from lambdalayer.layer.contents import LayerContents, layer_contents
from lambdalayer.layer.fragments import Recipe
from lambdalayer.lock import dump_pylock
from lambdalayer.net.fetch import DEFAULT_JOBS, FetchReport, WheelCache, fetch
from lambdalayer.progress import Notify, quiet
from lambdalayer.recipe import BytecodeMode, SlimOptions
from lambdalayer.resolve.provided import Provided
from lambdalayer.resolve.stage import Locked, LockSource, explained, locked
from lambdalayer.targets import Layout, Target
from lambdalayer.timings import Stopwatch
from lambdalayer.trim.apply import describe_files, plan_trim, trimmed_placement
from lambdalayer.trim.manifest import Manifest


@dataclass(frozen=True)
class FunctionCode:
    """A function's own code: its directory, and the handler the check imports."""

    source: Path
    handler: str | None = None


@dataclass(frozen=True)
class BuildRecipe:
    """How the wheels become files: layout, slimming, bytecode, the function's code.

    ``python`` is the CPython that compiles the bytecode (and imports in the check);
    ``None``: one of the runtime's X.Y found here, or installed by uv.
    """

    layout: Layout = Layout.SITE_PACKAGES
    slim: SlimOptions = field(default_factory=SlimOptions)
    bytecode: BytecodeMode = BytecodeMode.UNCHECKED_HASH
    python: Path | None = None
    function: FunctionCode | None = None


@dataclass(frozen=True)
class Preparation:
    """What to prepare: requirements (or a lock) for one target, made into files how.

    ``provided``: what is already beneath (another layer, the runtime), read by the caller:
    its pins hold the resolution and its packages are left out.
    """

    target: Target
    source: LockSource
    recipe: BuildRecipe = field(default_factory=BuildRecipe)
    provided: tuple[Provided, ...] = ()
    cache_dir: Path = field(default_factory=cache_root)
    jobs: int = DEFAULT_JOBS


@dataclass(frozen=True)
class Prepared:
    """What the preparation produced: the lock (explained), the wheels, the placed files."""

    locked: Locked
    fetched: FetchReport
    contents: LayerContents
    recipe: Recipe  # what decided the fragments' bytes (the compiler among it)

    @property
    def compiler(self) -> Interpreter | None:
        """The CPython that compiled the bytecode (``None``: no bytecode)."""
        return self.recipe.compiler

    @property
    def bytecode(self) -> BytecodeMode:
        """The bytecode the files hold."""
        return self.recipe.bytecode if self.recipe.compiler is not None else BytecodeMode.NONE


def prepare(
    preparation: Preparation, notify: Notify = quiet, watch: Stopwatch | None = None
) -> Prepared:
    """Resolve, fetch and make the fragments of ``preparation`` (each stage timed on ``watch``).

    The explanation of a fresh resolution (why a package is below its newest release; index
    pages only) runs in the background while the wheels are fetched and prepared.
    """
    watch = watch or Stopwatch()
    target, source, cache_dir = preparation.target, preparation.source, preparation.cache_dir
    made = preparation.recipe
    # The compiling CPython first: without one the preparation stops before any download.
    compiler = bytecode_compiler(made.bytecode, target.runtime, made.python, notify)
    with _Background() as background:
        with watch("resolve"):
            lock = locked(source, target, preparation.provided, cache_dir, notify)
        explaining = background.submit(explained, lock, source, target, cache_dir)
        wheels = [package.wheels[0] for package in lock.lock.packages]
        with watch("fetch"):
            cache = WheelCache(cache_dir)
            fetched = fetch(wheels, cache, jobs=preparation.jobs, notify=notify, index=source.index)
        recipe = Recipe(target, made.layout, made.slim, made.bytecode, compiler)
        with watch("fragments"):
            code = made.function.source if made.function else None
            contents = layer_contents(fetched.wheels, recipe, cache_dir, code, notify)
        return Prepared(explaining.result(), fetched, contents, recipe)


def trimmed(prepared: Prepared, manifest: Manifest) -> Prepared:
    """The prepared files with only what a trim manifest keeps, and its finder
    (``build --trim``, ``image build --trim``)."""
    placement = prepared.contents.placement
    plan = plan_trim(describe_files(placement), manifest, prepared.recipe.target.cache_tag)
    contents = replace(prepared.contents, placement=trimmed_placement(placement, plan, manifest))
    return replace(prepared, contents=contents)


class _Background(ThreadPoolExecutor):
    """One thread for what the preparation need not wait for: explaining the resolution
    (index pages only), while the wheels are fetched and prepared."""

    def __init__(self) -> None:
        super().__init__(max_workers=1, thread_name_prefix="lambdalayer-explain")

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown(wait=True, cancel_futures=True)


@contextlib.contextmanager
def reserved_lock(path: Path | None) -> Iterator[None]:
    """The lock's directory exists and is writable; created directories go if the block fails."""
    created = ensure_writable_parent(path) if path is not None else []
    try:
        yield
    except BaseException:
        remove_empty_dirs(created)
        raise


def write_lock(path: Path, prepared: Prepared) -> None:
    """The artefact's lock, recording which bytecode its files hold."""
    lock = replace(prepared.locked.lock, bytecode=prepared.bytecode.value)
    atomic_write_bytes(path, dump_pylock(lock).encode("utf-8"))
