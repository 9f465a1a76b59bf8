"""Importing a layer's modules the way Lambda would, with a CPython of the runtime's X.Y.

The layers are extracted into a temporary ``opt/`` (later ones over earlier ones, as
Lambda does), function zips into ``task/``, everything made read-only; a child
interpreter started with ``-I -S -B`` (no host site-packages, no user site, no bytecode
writes) puts Lambda's paths first and imports each module. A module that crashes the
interpreter, or does not finish within the deadline, is reported as such and the rest
are tried in a fresh child.

The child always runs confined (:mod:`lambdalayer.environment.sandbox`): a layer is anyone's
code. Its root is a Lambda image (:class:`SandboxRun` with the image's root: its own
interpreter and libraries, under qemu for the other CPU), or, as the last fallback, this
machine's system directories read-only with a CPython of the runtime's X.Y found here.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import IO

from lambdalayer.environment.limits import Cgroups, ProcessLimit
from lambdalayer.environment.sandbox import (
    SANDBOX_TMP,
    Confinement,
    Launch,
    Mount,
    Sandbox,
    Symlink,
    host_system,
    start,
)
from lambdalayer.environment.sandbox import command as sandbox_command
from lambdalayer.errors import LambdaLayerError, UnsafeArchiveError, option
from lambdalayer.fsutil import read_small_file
from lambdalayer.importresult import ImportResult
from lambdalayer.interpreters import Interpreter
from lambdalayer.limits import IMAGE_LIMIT
from lambdalayer.placement import READ_ERRORS, PlacedFile, Placement, PlacementReader
from lambdalayer.targets import Layout, Target
from lambdalayer.unpack import MAX_LINK_TARGET, Quota, Unpacker

DEFAULT_IMPORT_DEADLINE = 300.0  # seconds for one child's imports; then the module is a finding
# Lambda's environment for the Python runtimes (AWS: "Defined runtime environment variables").
LAMBDA_ENVIRONMENT = {
    "LAMBDA_TASK_ROOT": "/var/task",
    "LAMBDA_RUNTIME_DIR": "/var/runtime",
    "LD_LIBRARY_PATH": "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib",
    "PATH": "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin",
    "PYTHONPATH": "/var/runtime",
    "LANG": "en_US.UTF-8",
    "TZ": ":UTC",
    "HOME": SANDBOX_TMP,
}


def _child_source() -> str:
    """The child program's source (:mod:`lambdalayer.environment._import_child`), passed with ``-c``."""
    return (
        resources.files("lambdalayer.environment").joinpath("_import_child.py").read_text("utf-8")
    )


@dataclass(frozen=True)
class SandboxRun:
    """Where the imports run: a root, the interpreter inside it, and the sandbox.

    ``root`` is an image's root filesystem, or ``None`` for this machine's system
    directories (``host_mounts`` and ``host_symlinks``, read-only) with one of its CPythons.
    """

    root: Path | None
    interpreter: str  # inside the root, e.g. /var/lang/bin/python3.12
    sandbox: Sandbox
    host_mounts: tuple[Mount, ...] = ()
    host_symlinks: tuple[Symlink, ...] = ()
    label: str | None = None  # what the root is, when not an image given by the user

    @classmethod
    def on_this_machine(cls, interpreter: Interpreter, sandbox: Sandbox) -> SandboxRun:
        """This machine's ``/usr`` and loader directories, read-only, with ``interpreter``.

        Of the interpreter's own install only its program, its standard library and its
        ``libpython`` are mounted (at their own paths): never the directory above them, which
        may be a home directory holding ``~/.aws`` or ``~/.docker``.
        """
        version = interpreter.version_text
        prefix = interpreter.prefix or interpreter.path.resolve().parent.parent
        # The program itself, not what started it (a pyenv shim is a script that runs pyenv).
        own_program = prefix / "bin" / f"python{version}"
        executable = (own_program if own_program.is_file() else interpreter.path).resolve()
        own = [
            executable,
            prefix / "lib" / f"python{version}",
            *sorted((prefix / "lib").glob(f"libpython{version}*.so*")),
        ]
        mounts, symlinks = host_system(own)
        return cls(None, str(executable), sandbox, mounts, symlinks)

    def describe(self, target: Target) -> str:
        """``inside the image ROOT for CPU (bubblewrap + qemu-aarch64-static, /var/lang/bin/python3.12)``."""
        how = f"{self.sandbox.describe()}, {self.interpreter}"
        if self.label is not None:
            return f"{self.label} ({how})"
        if self.root is None:
            return (
                f"on this machine's libraries, not Lambda's ({how}): a library this machine has and"
                f" Lambda lacks is caught only by the static check above, or by"
                f" {option('ImportOptions.image')}"
            )
        return f"inside the image {self.root} for {target.machine} ({how})"


def image_interpreter(root: Path, version: str) -> str | None:
    """The runtime's interpreter inside an image: Lambda's /var/lang, else a stand-in's /usr."""
    for place in (
        f"/var/lang/bin/python{version}",
        f"/usr/bin/python{version}",
        f"/usr/local/bin/python{version}",
    ):
        if os.path.lexists(root / place.lstrip("/")):
            return place
    return None


@dataclass(frozen=True)
class Deployment:
    """What a function is deployed with, placed where Lambda puts it for the imports.

    ``layers`` go to ``/opt`` in order (a later one's file wins), ``functions`` to
    ``/var/task``, an ``image``'s files as the image has them (see :func:`run_imports`);
    ``runtime``: the runtime's packages, mounted at ``/var/runtime``.
    """

    layers: tuple[Placement, ...] = ()
    functions: tuple[Placement, ...] = ()
    image: Placement | None = None
    runtime: Path | None = None


@dataclass(frozen=True)
class _Places:
    """Where the sandbox's mounts come from: the placed files, the results, the runtime's packages."""

    opt: Path
    task: Path
    results: Path
    runtime: Path | None = None


def place_files(placements: Sequence[Placement], destination: Path, *, link: bool) -> None:
    """Write every placed file under ``destination`` by the one safe unpacker
    (:mod:`lambdalayer.unpack`); a later placement's file replaces an earlier one's, as
    Lambda extracts layers in order.

    With ``link``, a file with an extracted copy (a build's fragments) is hard-linked
    (copied across filesystems) instead of written again. A zip member that says it is a
    symbolic link becomes one when it stays inside. Unsafe names were never placed (the
    check reports them as errors); a placement with members set apart (no unzip places them
    alike) is refused.
    """
    with Unpacker(destination, Quota(IMAGE_LIMIT), str(destination)) as unpacker:
        for placement in placements:
            unpacker.what = str(placement.shown)
            for name, why in placement.set_apart.items():  # no unzip places these alike
                raise unpacker.refuse(name, why)
            with placement.reader() as reader:
                for file in placement.files:
                    _place(unpacker, reader, file, link=link)


def _place(unpacker: Unpacker, reader: PlacementReader, file: PlacedFile, *, link: bool) -> None:
    """One file through the unpacker; a member that does not read as declared is an error."""
    try:
        if file.symlink:
            target = reader.read(file, MAX_LINK_TARGET + 1)
            unpacker.symlink(file.arcname, target.decode("utf-8", "surrogateescape"))
        elif link and file.extracted is not None:
            unpacker.adopt(file.arcname, file.extracted)
        else:
            with reader.open(file) as stream:
                unpacker.file(file.arcname, stream, file.size, file.mode or 0o644)
    except READ_ERRORS as error:
        raise UnsafeArchiveError(
            f"{unpacker.what} cannot be unpacked: {error}", hint="the zip is damaged; rebuild it"
        ) from error


def set_tree_mode(root: Path, *, writable: bool) -> None:
    """Read-only files and directories; back to writable directories for the clean-up.

    Files are left read-only afterwards: they may be hard links to the fragment cache,
    whose files are read-only too, and a read-only file in a writable directory can be
    deleted.
    """
    for directory, dirs, names in os.walk(root):
        for name in dirs:
            (Path(directory) / name).chmod(0o755 if writable else 0o555)
        if not writable:
            for name in names:
                (Path(directory) / name).chmod(0o444)


def run_imports(
    target: Target,
    modules: Sequence[str],
    deployment: Deployment,
    runner: SandboxRun,
    deadline: float = DEFAULT_IMPORT_DEADLINE,
    scratch_dir: Path | None = None,
) -> list[ImportResult]:
    """Import ``modules`` under Lambda's path order from read-only copies of the files.

    Inside ``runner``'s sandbox: the layers at ``/opt``, the function at ``/var/task``, an
    image's files at their paths, Lambda's environment. A module given as
    ``module:attribute`` must also have that callable (a handler). A child that has not
    finished after ``deadline`` seconds is ended; the module it was importing is reported
    as not finishing. The copies are made under ``scratch_dir`` (where a build's fragments
    are, so that they are links).
    """
    if scratch_dir is not None:
        scratch_dir.mkdir(parents=True, exist_ok=True)
    # proot cannot make a mount read-only: its copies must not be links into the cache.
    link = runner.sandbox.enforces_read_only
    with tempfile.TemporaryDirectory(prefix="lambdalayer-import-", dir=scratch_dir) as scratch:
        root = Path(scratch)
        opt, task, results_dir = root / "opt", root / "task", root / "results"
        place_files(deployment.layers, opt, link=link)
        place_files(deployment.functions, task, link=link)
        if deployment.image is not None:
            _place_image(deployment.image, target, opt, task, link=link)
        results_dir.mkdir()
        results_dir.chmod(0o777)  # the child writes it as the sandbox's unprivileged user
        set_tree_mode(opt, writable=False)
        set_tree_mode(task, writable=False)
        try:
            places = _Places(opt, task, results_dir, deployment.runtime)
            return _run_children(target, modules, places, runner, deadline)
        finally:
            for tree in (opt, task, root / "proot-root"):
                set_tree_mode(tree, writable=True)


def _place_image(image: Placement, target: Target, opt: Path, task: Path, *, link: bool) -> None:
    """An image's files: its function's code at ``/var/task``; its site-packages where a
    layer's would be (an image has no layers): on ``sys.path`` just before
    ``/var/lang/lib/pythonX.Y/site-packages``, whose files from the base stay visible, as
    they are beside what pip installs there. The files keep their own paths in the
    placement (the findings name them); only where the sandbox shows them differs."""
    prefix = target.site_packages_prefix(Layout.IMAGE)
    code_prefix = Layout.IMAGE.function_code
    site = tuple(file for file in image.files if file.arcname.startswith(prefix))
    code = tuple(file for file in image.files if file.arcname.startswith(code_prefix))
    where = opt / target.site_packages_prefix(Layout.SITE_PACKAGES)
    place_files([replace(image, files=_below(site, prefix))], where, link=link)
    place_files([replace(image, files=_below(code, code_prefix))], task, link=link)


def _below(files: tuple[PlacedFile, ...], prefix: str) -> tuple[PlacedFile, ...]:
    """``files`` at their paths below ``prefix`` (where that directory is mounted)."""
    return tuple(
        replace(file, entry=replace(file.entry, arcname=file.arcname.removeprefix(prefix)))
        for file in files
    )


def _child_command(
    target: Target,
    places: _Places,
    runner: SandboxRun,
    results_name: str,
    modules: Sequence[str],
    control: Mapping[str, str],
) -> Launch:
    opt, task, results_dir = places.opt, places.task, places.results
    version = target.runtime.python_version
    inside_results = f"{SANDBOX_TMP}/lambdalayer-results"
    paths = [
        "/var/task",
        *target.lambda_paths("/opt"),
        f"/var/lang/lib/python{version}/site-packages",
        "/var/runtime",
    ]
    argv = (
        runner.interpreter,
        "-I",
        "-S",
        "-B",
        "-c",
        _child_source(),
        f"{inside_results}/{results_name}",
        os.pathsep.join(paths),
        *modules,
    )
    mounts = (
        *runner.host_mounts,
        Mount(opt, "/opt"),
        Mount(task, "/var/task"),
        Mount(results_dir, inside_results, writable=True),
        *([Mount(places.runtime, "/var/runtime")] if places.runtime else []),
    )
    confinement = Confinement(
        runner.root,
        mounts,
        argv,
        results_dir.parent,
        LAMBDA_ENVIRONMENT,
        "/var/task",
        runner.host_symlinks,
        control=control,
    )
    return sandbox_command(runner.sandbox, confinement)


def _run_child(
    launch: Launch, processes: ProcessLimit, stderr: IO[bytes], deadline: float
) -> int | None:
    """Run one import child to its end; its exit code, or ``None`` when the deadline passed."""
    process = start(launch, stdout=subprocess.DEVNULL, stderr=stderr, before=processes.groups.join)
    try:
        return process.wait(timeout=deadline)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return None
    finally:
        processes.groups.kill()


def _run_children(
    target: Target,
    modules: Sequence[str],
    places: _Places,
    runner: SandboxRun,
    deadline: float,
) -> list[ImportResult]:
    results: list[ImportResult] = []
    remaining = list(modules)
    while remaining:
        name = f"results-{len(results)}.jsonl"
        processes = ProcessLimit(Cgroups(), user_namespace=runner.sandbox.own_user_namespace)
        launch = _child_command(target, places, runner, name, remaining, processes.variables())
        stderr_path = places.results.parent / f"stderr-{len(results)}.txt"
        try:
            with stderr_path.open("wb") as stderr_file:
                code = _run_child(launch, processes, stderr_file, deadline)
        finally:
            processes.groups.close()
        timed_out, returncode = code is None, -9 if code is None else code
        stderr = _tail(stderr_path)
        done = _read_results(places.results / name, remaining)
        results += done
        remaining = remaining[len(done) :]
        if not remaining:
            break
        stderr_tail = (stderr.strip().splitlines() or [""])[-1]
        if timed_out:
            reason = f"did not finish within {deadline:g} s (the import check's deadline)"
        elif returncode == 0:  # it ended well, yet its results are not all there: overwritten
            reason = "its result was overwritten from inside the sandbox (by a module imported)"
        elif not done and not results:
            raise LambdaLayerError(
                f"the import check could not start ({runner.sandbox.describe()},"
                f" {runner.interpreter}): exit code {returncode} {stderr_tail}".strip(),
                hint="check that the image is for the target's CPU and has the runtime's Python",
            )
        else:
            reason = f"the interpreter died (exit code {returncode}) {stderr_tail}".strip()
        results.append(ImportResult(remaining.pop(0), reason))
    return results


RESULTS_LIMIT = 16 * 1024 * 1024  # one JSON line per module: kB, never more


def _read_results(path: Path, expected: Sequence[str]) -> list[ImportResult]:
    """The results the child wrote, in order, as far as they are the child's own.

    The directory is writable from inside the sandbox, so the layer's code may have written
    there too: the file is opened without following a link (a link planted there never makes
    this process read a file of this machine's), read to a bound, and taken line by line
    only while each line is ``[module, error]`` for the next module expected.
    """
    try:
        data = read_small_file(path, RESULTS_LIMIT)
    except OSError:
        return []
    done: list[ImportResult] = []
    for line, module in zip(data.splitlines(), expected, strict=False):
        try:
            found = json.loads(line)
        except (ValueError, RecursionError):
            break
        if not (
            isinstance(found, list)
            and len(found) in (2, 3)
            and found[0] == module
            and (found[1] is None or isinstance(found[1], str))
            and (len(found) == 2 or isinstance(found[2], dict))
        ):
            break
        facts = found[2] if len(found) == 3 else {}
        done.append(
            ImportResult(
                module,
                found[1] if found[1] is None else found[1][:4096],
                _name(facts.get("missing")),
                _names(facts.get("wanted")),
                _name(facts.get("piece")),
                _name(facts.get("no_callable")),
                _name(facts.get("imported")),
                _name(facts.get("where")),
                _all_names(facts.get("seen")),
                _all_names(facts.get("absent")) or (),
            )
        )
    return done


def _name(value: object) -> str | None:
    """A module or attribute name the child reported, if it is one (bounded), else ``None``."""
    return value[:512] if isinstance(value, str) and value else None


def _names(value: object, limit: int = 64) -> tuple[str, ...]:
    """The names in a reported list (at most ``limit``), skipping what is not one."""
    items = value[:limit] if isinstance(value, list) else []
    return tuple(name for item in items if (name := _name(item)))


def _all_names(value: object, limit: int = 16384) -> tuple[str, ...] | None:
    """Every name of a reported list, or ``None`` when it is no list or longer than ``limit``
    (a partial list of what an import saw would key a reused result wrongly)."""
    if not isinstance(value, list) or len(value) > limit:
        return None
    names = _names(value, limit)
    return names if len(names) == len(value) else None


def _tail(path: Path, limit: int = 4096) -> str:
    """The last ``limit`` bytes of a child's stderr (a layer may print without end)."""
    with path.open("rb") as stream:
        stream.seek(max(0, path.stat().st_size - limit))
        return stream.read().decode("utf-8", "replace")
