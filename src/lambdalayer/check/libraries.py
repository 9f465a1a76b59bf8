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


def _search_dirs(elf: PlacedElf) -> list[str]:
    origin = posixpath.dirname(elf.path)
    own = [
        posixpath.normpath(entry.replace("${ORIGIN}", origin).replace("$ORIGIN", origin))
        for entry in elf.info.search_paths
    ]
    return [*own, *LAMBDA_LIBRARY_PATH]


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


def _resolve(elf: PlacedElf, soname: str, by_path: Mapping[str, PlacedElf]) -> PlacedElf | None:
    if "/" in soname:
        return by_path.get(posixpath.normpath(posixpath.join(posixpath.dirname(elf.path), soname)))
    for directory in _search_dirs(elf):
        found = by_path.get(f"{directory}/{soname}")
        if found is not None:
            return found
    return None


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
                        f" {family}_{'.'.join(map(str, have))}",
                    )
                )
    return problems


def _problems(
    elf: PlacedElf, graph: _Graph, libraries: RuntimeLibraries, target: Target
) -> list[_Problem]:
    problems: list[_Problem] = []
    where = f"{target.runtime.name} ({libraries.os}, {target.machine})"
    for soname in elf.info.needed:
        found = _resolve(elf, soname, graph.by_path)
        if found is not None:
            continue
        if soname in libraries.present:
            problems += _version_problems(elf, soname, libraries, target)
        elif soname in libraries.absent:
            problems.append(
                _Problem(
                    Severity.ERROR, soname, elf.path, f"needs {soname}, which {where} does not have"
                )
            )
        else:
            problems.append(
                _Problem(
                    Severity.WARNING,
                    soname,
                    elf.path,
                    f"needs {soname}, which is neither in the layers nor known to be on {where}",
                )
            )
    return problems


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


def needed_library_findings(placed: Sequence[PlacedElf], target: Target) -> list[Finding]:
    """Findings for every needed library that Lambda's loader would not find (see module docs)."""
    libraries = runtime_libraries(target)
    by_path = {elf.path: elf for elf in placed}
    parents: dict[str, list[str]] = {}
    for elf in placed:
        for soname in elf.info.needed:
            found = _resolve(elf, soname, by_path)
            if found is not None and found.path != elf.path:
                parents.setdefault(found.path, []).append(elf.path)
    graph = _Graph(by_path, parents)
    grouped: dict[tuple[Severity, str, str | None], list[_Problem]] = {}
    for elf in placed:
        if not elf.checked:
            continue
        for problem in _problems(elf, graph, libraries, target):
            key = (problem.severity, problem.detail, by_path[problem.needed_by].package)
            grouped.setdefault(key, []).append(problem)
    findings = []
    for (severity, detail, package), problems in grouped.items():
        first = min(problems, key=lambda item: _chain_rank(graph.chain(item.needed_by)))
        chain = " → ".join([*map(_display, graph.chain(first.needed_by)), first.soname])
        more = f" (and {len(problems) - 1} more files)" if len(problems) > 1 else ""
        findings.append(
            Finding(
                severity,
                Kind.LIBRARY,
                f"{detail}: {chain}{more}",
                by_path[first.needed_by].member,
                package,
                _fix(first, package, libraries),
            )
        )
    return findings
