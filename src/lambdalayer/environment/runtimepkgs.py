"""The runtime's own packages in ``/var/runtime``: boto3 and what it needs, and awslambdaric.

Every Python runtime ships them beside the function (``data/runtime_packages.toml`` says
which versions, and where that is known from); Lambda's ``sys.path`` puts ``/var/runtime``
after ``/opt``, so a handler imports boto3 from there unless a layer brings its own. The
import check mounts a tree of them at ``/var/runtime`` when a module needs one (a root
synthesized from the runtime's libraries has none; a real Lambda image has its own), and
``invoke`` runs the handler with that tree's awslambdaric.

The tree is prepared like a layer (:func:`lambdalayer.prepare.prepare`): the pins resolved
for the target with uv, the wheels fetched by sha256, laid out (``Layout.RUNTIME``),
compiled when a CPython of the runtime's version is here (the runtime's own are), kept
under ``<cache>/runtime/<key>/``.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from lambdalayer.cache import Bucket, Cache, key_of
from lambdalayer.environment.imports import place_files
from lambdalayer.inputs.requirements import Requirements
from lambdalayer.interpreters import Interpreter, find_interpreter
from lambdalayer.net.index import IndexConfig
from lambdalayer.prepare import BuildRecipe, Preparation, prepare
from lambdalayer.progress import Notify, quiet
from lambdalayer.recipe import BytecodeMode
from lambdalayer.resolve.stage import Resolve
from lambdalayer.runtimepackages import RuntimePackages, RuntimeTree, runtime_packages
from lambdalayer.targets import Layout, Target


def _key(target: Target, packages: RuntimePackages, compiler: Interpreter | None) -> str:
    """What a tree is made of: the target, the runtime's packages, the compiling CPython."""
    return key_of(target, packages, compiler)


def runtime_tree(
    target: Target, cache_dir: Path, index: IndexConfig, notify: Notify = quiet
) -> RuntimeTree | None:
    """The tree of the runtime's packages for ``target`` (made once, then from the cache).

    ``None`` when the data does not know the runtime; raises a
    :class:`~lambdalayer.errors.LambdaLayerError` when the packages cannot be had (no
    index, no wheel for the target).
    """
    packages = runtime_packages(target)
    if packages is None:
        return None
    # Compiled like the runtime's own (pip compiles what it installs), when a CPython of the
    # runtime's version is here: else every cold start of invoke compiles awslambdaric anew.
    compiler = find_interpreter(target.runtime.python_version)
    cache, key = Cache.at(cache_dir), _key(target, packages, compiler)
    final = cache.hold(Bucket.RUNTIME, key)
    if cache.admit(Bucket.RUNTIME, key) and (final / "complete").is_file():
        return RuntimeTree(final / "tree", packages)
    notify(f"fetching {target.runtime.name}'s own packages for /var/runtime (boto3, awslambdaric)")
    wanted = Requirements(
        specifiers=tuple(f"{name}=={version}" for name, version in packages.pins.items())
    )
    bytecode = BytecodeMode.NONE if compiler is None else BytecodeMode.UNCHECKED_HASH
    python = compiler.path if compiler is not None else None
    recipe = BuildRecipe(Layout.RUNTIME, bytecode=bytecode, python=python)
    source = Resolve(wanted, index, allow_build=False)
    contents = prepare(Preparation(target, source, recipe, cache_dir=cache_dir)).contents
    final.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=final.parent, prefix=".build-"))
    try:
        place_files([contents.placement], scratch / "tree", link=True)
        (scratch / "complete").write_text(packages.describe() + "\n", "utf-8")
        cache.seal(Bucket.RUNTIME, key, scratch)
        try:
            scratch.rename(final)
        except OSError:  # another check made the same tree first
            shutil.rmtree(scratch, ignore_errors=True)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return RuntimeTree(final / "tree", packages)
