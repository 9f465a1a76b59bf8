"""Needed libraries, resolved the way Lambda's dynamic loader would, without running anything.

For every ELF file of a layer, each ``DT_NEEDED`` soname is looked for where the loader
looks on Lambda: the file's own ``DT_RUNPATH``/``DT_RPATH`` (``$ORIGIN`` expanded to
where the file lands under ``/opt`` or ``/var/task``), then Lambda's ``LD_LIBRARY_PATH``
(which includes ``/opt/lib`` and ``/var/task/lib``: other layers and the function zip
count), then the runtime's own library set — data per OS and CPU
(``data/runtime_libraries/``), never this machine's libraries. The chain is followed
through bundled libraries (``cv2.abi3.so`` → ``libQt5Gui…so`` → ``libGL.so.1``), and the
symbol versions a file needs from a runtime library (``GLIBCXX_3.4.29``) are compared
with what that library defines there.

- a library the runtime is known not to have (``data/libraries.toml``) is an error that
  names the chain, the package, and the remedy when one is known;
- a library that is neither in the layers nor known on the runtime is a warning.
"""

from __future__ import annotations

import posixpath
import re
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lambdalayer.check.findings import Finding, Kind, Severity
from lambdalayer.elf import ElfInfo
from lambdalayer.libraryset import RuntimeLibraries, runtime_libraries, version_tuple
from lambdalayer.targets import Target

# Lambda's LD_LIBRARY_PATH for the Python runtimes, in order (AWS: "Defined runtime
# environment variables").
LAMBDA_LIBRARY_PATH = (
    "/var/lang/lib",
    "/lib64",
    "/usr/lib64",
    "/var/runtime",
    "/var/runtime/lib",
    "/var/task",
    "/var/task/lib",
    "/opt/lib",
)
_VERSION = re.compile(r"([A-Z][A-Z_]*?)_(\d+(?:\.\d+)*)")
_EXTENSION_MODULE = re.compile(r"\.(abi3|cpython-[^./]+)\.so\Z")


@dataclass(frozen=True)
class PlacedElf:
    """An ELF file of a zip, with the absolute path it has on Lambda."""

    path: str  # e.g. /opt/python/lib/python3.12/site-packages/cv2/cv2.abi3.so
    member: str
    package: str | None
    info: ElfInfo
    checked: bool  # part of the zip being checked (findings are reported for these only)


def _expanded(elf: PlacedElf) -> list[str]:
    """``elf``'s own search paths with ``$ORIGIN`` expanded to where it lands."""
    origin = posixpath.dirname(elf.path)
    return [
        posixpath.normpath(entry.replace("${ORIGIN}", origin).replace("$ORIGIN", origin))
        for entry in elf.info.search_paths
    ]


@dataclass(frozen=True)
class _Loaded:
    """A file the loader mapped, and the one whose need made it map it (``l_loader``)."""

    elf: PlacedElf
    loader: _Loaded | None


SYSTEM = "system"  # found in the runtime's own directories (/lib64, /usr/lib64)
_SYSTEM_DIRS = ("/lib64", "/usr/lib64")


def _search_dirs(node: _Loaded) -> list[str]:
    """Where glibc's loader looks for a need of ``node``, in order (``elf/dl-load.c``): the
    ``DT_RPATH`` of the file and of every file up its loading chain, unless the file has a
    ``DT_RUNPATH`` (a file's ``DT_RPATH`` counts only when it has no ``DT_RUNPATH``); then
    ``LD_LIBRARY_PATH``; then the file's own ``DT_RUNPATH`` (never its loaders')."""
    dirs: list[str] = []
    if not node.elf.info.runpath:
        chain: _Loaded | None = node
        while chain is not None:
            dirs += [] if chain.elf.info.runpath else _expanded(chain.elf)
            chain = chain.loader
    dirs += LAMBDA_LIBRARY_PATH
    if node.elf.info.runpath:
        dirs += _expanded(node.elf)
    return dirs


def _find(
    node: _Loaded, soname: str, by_path: Mapping[str, PlacedElf], present: Mapping[str, object]
) -> PlacedElf | str | None:
    """The file a need resolves to, :data:`SYSTEM` for the runtime's own, or ``None``."""
    if "/" in soname:
        directory = posixpath.dirname(node.elf.path)
        return by_path.get(posixpath.normpath(posixpath.join(directory, soname)))
    for directory in _search_dirs(node):
        found = by_path.get(f"{directory}/{soname}")
        if found is not None:
            return found
        if directory in _SYSTEM_DIRS and soname in present:
            return SYSTEM
    return SYSTEM if soname in present else None


@dataclass
class _Load:
    """What loading one file (a program run, a module ``dlopen``-ed) maps, as ld.so does:
    breadth first, each need matched first against what is already mapped (by the name it
    was needed as, or its ``DT_SONAME``)."""

    unresolved: list[tuple[_Loaded, str]]
    resolved: list[tuple[_Loaded, str, PlacedElf | str]]
    mapped: set[str]


def _load(
    root: PlacedElf, by_path: Mapping[str, PlacedElf], present: Mapping[str, object]
) -> _Load:
    first = _Loaded(root, None)
    names = {root.info.soname} if root.info.soname else set()
    done = _Load([], [], {root.path})
    queue = deque([first])
    while queue:
        node = queue.popleft()
        for soname in node.elf.info.needed:
            if soname in names:
                continue
            found = _find(node, soname, by_path, present)
            if found is None:
                done.unresolved.append((node, soname))
                continue
            names.add(soname)
            done.resolved.append((node, soname, found))
            if isinstance(found, str) or found.path in done.mapped:
                continue
            done.mapped.add(found.path)
            names |= {found.info.soname} if found.info.soname else set()
            queue.append(_Loaded(found, node))
    return done


def _display(path: str) -> str:
    """A short name for a path on Lambda: relative to site-packages or the layer's root."""
    match = re.match(
        r"^/opt/python/lib/python\d+\.\d+/site-packages/|^/opt/python/|^/opt/|^/var/task/", path
    )
    return path[match.end() :] if match else path


@dataclass
class _Graph:
    by_path: dict[str, PlacedElf]
    parents: dict[str, list[str]]

    def chain(self, path: str) -> list[str]:
        """The shortest chain of files from one nothing else needs down to ``path``."""
        previous: dict[str, str | None] = {path: None}
        queue = deque([path])
        root = path
        while queue:
            current = queue.popleft()
            parents = [parent for parent in self.parents.get(current, []) if parent not in previous]
            if not self.parents.get(current):
                root = current
                break
            for parent in parents:
                previous[parent] = current
                queue.append(parent)
        chain = [root]
        while (step := previous.get(chain[-1])) is not None:
            chain.append(step)
        return chain


@dataclass(frozen=True)
class _Problem:
    severity: Severity
    soname: str
    needed_by: str  # path of the file that needs it
    detail: str  # what is wrong, for the message


# glibc's loader, when a library lacks a symbol version a file needs (dl-version.c):
# "/usr/lib64/libssl.so.3: version `OPENSSL_3.2.0' not found (required by /opt/…/_x.so)".
_LOADER_VERSION_ERROR = re.compile(
    r"([^\s:]+\.so[.\d]*): version `([A-Z][A-Z_]*?_[\d.]+)' not found"
)


def stand_in_verdict(error: str, target: Target) -> tuple[bool, str] | None:
    """For an import that failed because a library of the root lacks a symbol version, when
    that library is this machine's build standing in for Lambda's: whether Lambda's own has
    the version by the runtime's data (``None`` as the first item: no data), and what to say;
    ``None`` when the error is not that."""
    found = _LOADER_VERSION_ERROR.search(error)
    if found is None:
        return None
    soname, name = posixpath.basename(found.group(1)), found.group(2)
    family, _, wanted = name.rpartition("_")
    libraries = runtime_libraries(target)
    have = libraries.present.get(soname, {}).get(family)
    data = f"data/runtime_libraries/{libraries.name}.toml, from {libraries.source}"
    if have is None:
        return False, (
            f"not verified: it needs {name} from {soname}; this machine's {soname} stood in"
            f" for Lambda's and lacks it, and there is no data on which {family} versions"
            f" Lambda's {soname} defines ({data})"
        )
    shown = f"{family}_{'.'.join(map(str, have))}"
    if version_tuple(wanted) > have:
        return None
    return True, (
        f"not verified here: it needs {name} from {soname}; this machine's {soname} stood in"
        f" for Lambda's and lacks it, while Lambda's defines up to {shown} ({data})"
    )


def _version_problems(
    elf: PlacedElf, soname: str, libraries: RuntimeLibraries, target: Target
) -> list[_Problem]:
    defined = libraries.present.get(soname, {})
    problems = []
    for library, names in elf.info.version_needs:
        if library != soname:
            continue
        for name in names:
            match = _VERSION.fullmatch(name)
            if match is None or match.group(1) == "GLIBC":  # GLIBC has its own check
                continue
            family, wanted = match.group(1), version_tuple(match.group(2))
            have = defined.get(family)
            if have is not None and wanted > have:
                problems.append(
                    _Problem(
                        Severity.ERROR,
                        soname,
                        elf.path,
                        f"needs {name} from {soname}; {target.runtime.name} ({libraries.os}) has"
                        " up to"
                        f" {family}_{'.'.join(map(str, have))} (data/runtime_libraries/"
                        f"{libraries.name}.toml)",
                    )
                )
    return problems


def _problem(node: _Loaded, soname: str, libraries: RuntimeLibraries, target: Target) -> _Problem:
    """A need the loader does not find: an error when the runtime is known to lack it, or
    when a program needs it and the runtime's listing is complete; else a warning."""
    where = f"{target.runtime.name} ({libraries.os}, {target.machine})"
    root = node
    while root.loader is not None:
        root = root.loader
    if soname in libraries.absent:
        return _Problem(
            Severity.ERROR, soname, node.elf.path, f"needs {soname}, which {where} does not have"
        )
    if root.elf.info.program and libraries.complete:
        return _Problem(
            Severity.ERROR,
            soname,
            node.elf.path,
            f"the program {_display(root.elf.path)} needs {soname}, which {where} does not have"
            " (its library listing has no such file)",
        )
    return _Problem(
        Severity.WARNING,
        soname,
        node.elf.path,
        f"needs {soname}, which is neither in the layers nor known to be on {where}",
    )


def _fix(problem: _Problem, package: str | None, libraries: RuntimeLibraries) -> str:
    remedy = libraries.remedies.get(package or "")
    if remedy is not None:
        return f"use {remedy} instead of {package}: the same package without the libraries a desktop has"
    if problem.severity is Severity.WARNING:
        return (
            "if the import fails on Lambda, bundle the library in a layer's lib/ (it is on"
            " LD_LIBRARY_PATH as /opt/lib) or use a wheel that bundles it"
        )
    if "from" in problem.detail:
        return "use an older version of the package, built for the runtime's compilers, or a newer runtime"
    return (
        f"bundle {problem.soname} in a layer's lib/ (on LD_LIBRARY_PATH as /opt/lib), or use a"
        " variant of the package that does not need it"
    )


def _chain_rank(chain: list[str]) -> tuple[int, int]:
    """Chains that start at an extension module (what ``import`` loads) first, then the shortest."""
    starts_at_module = bool(_EXTENSION_MODULE.search(chain[0]))
    return (0 if starts_at_module else 1, len(chain))


def _roots(placed: Sequence[PlacedElf]) -> list[PlacedElf]:
    """The files something loads by path (programs, extension modules): those no other file
    needs by name (its file name or ``DT_SONAME``)."""
    needed = {soname.rsplit("/", 1)[-1] for elf in placed for soname in elf.info.needed}
    return [
        elf
        for elf in placed
        if posixpath.basename(elf.path) not in needed and elf.info.soname not in needed
    ]


def _loads(
    placed: Sequence[PlacedElf], libraries: RuntimeLibraries
) -> tuple[list[_Load], dict[str, list[str]]]:
    """Every load from a root, and who maps what. A file only needed by name that no root
    reaches is never mapped (the need that would map it is reported, not what it needs)."""
    by_path = {elf.path: elf for elf in placed}
    loads = [_load(root, by_path, libraries.present) for root in _roots(placed)]
    parents: dict[str, list[str]] = {}
    for load in loads:
        for node, _soname, found in load.resolved:
            if not isinstance(found, str) and found.path != node.elf.path:
                parents.setdefault(found.path, []).append(node.elf.path)
    return loads, parents


def needed_library_findings(placed: Sequence[PlacedElf], target: Target) -> list[Finding]:
    """Findings for every needed library that Lambda's loader would not find (see module docs)."""
    libraries = runtime_libraries(target)
    by_path = {elf.path: elf for elf in placed}
    loads, parents = _loads(placed, libraries)
    graph = _Graph(by_path, parents)
    problems: dict[tuple[str, str], _Problem] = {}
    for load in loads:
        for node, soname in load.unresolved:
            if node.elf.checked:
                found = _problem(node, soname, libraries, target)
                known = problems.get((node.elf.path, soname))
                if known is None or found.severity > known.severity:
                    problems[(node.elf.path, soname)] = found
        for node, soname, found_at in load.resolved:
            if node.elf.checked and found_at == SYSTEM:
                for problem in _version_problems(node.elf, soname, libraries, target):
                    problems.setdefault((node.elf.path, problem.detail), problem)
    grouped: dict[tuple[Severity, str, str | None], list[_Problem]] = {}
    for problem in problems.values():
        key = (problem.severity, problem.detail, by_path[problem.needed_by].package)
        grouped.setdefault(key, []).append(problem)
    return [_finding(graph, by_path, libraries, key, items) for key, items in grouped.items()]


def _finding(
    graph: _Graph,
    by_path: Mapping[str, PlacedElf],
    libraries: RuntimeLibraries,
    key: tuple[Severity, str, str | None],
    problems: list[_Problem],
) -> Finding:
    severity, detail, package = key
    # the chain from an extension module, the shortest, then by name: the same on any run
    first = min(
        problems,
        key=lambda item: (*_chain_rank(graph.chain(item.needed_by)), graph.chain(item.needed_by)),
    )
    chain = " → ".join([*map(_display, graph.chain(first.needed_by)), first.soname])
    more = f" (and {len(problems) - 1} more files)" if len(problems) > 1 else ""
    return Finding(
        severity,
        Kind.LIBRARY,
        f"{detail}: {chain}{more}",
        by_path[first.needed_by].member,
        package,
        _fix(first, package, libraries),
    )
