"""The child program of the import check: runs inside the target interpreter, never imported.

Passed to ``python -I -S -B -c`` as source text (so it also runs inside an image, where
this package is not installed); it must stay valid on every runtime's Python (3.10+) and
use the standard library only. Arguments: the results file, Lambda's ``sys.path`` entries
joined by ``os.pathsep``, then the modules (``module`` or ``module:callable``). One JSON
line per module goes to the results file, flushed at once, so that a module that crashes
the interpreter still leaves the results of the ones before it: ``[spec, error, facts]``,
the error as Python prints its last line and the facts as data (see :func:`facts`), so
that nothing need read the message again.

Lambda's bootstrap then makes ``/var/task`` and the ``/opt`` directories site directories,
so their ``.pth`` files run before the first import (:func:`add_site_directories`).

Started as root inside a sandbox that cannot map users itself (``unshare``, ``proot``),
it is told by ``LAMBDALAYER_RUN_AS`` to become that unprivileged user before anything of
the layer runs; when it cannot, it stops without importing anything.
"""

import importlib
import json
import os
import re
import resource
import signal
import sys
import traceback

PR_SET_PDEATHSIG = 1
_CANNOT_IMPORT = re.compile(r"cannot import name '(\w+)'")
_STATEMENT = re.compile(r"^\s*(?:from\s+([\w.]+)\s+import\b|import\s+([\w.]+))")


def limit_processes() -> None:
    """Lambda's limit on processes and threads, as ``RLIMIT_NPROC``, when the sandbox asks
    (it runs in a user namespace of its own, where the kernel counts only its processes)."""
    maximum = os.environ.pop("LAMBDALAYER_MAX_PROCESSES", "")
    if maximum:
        resource.setrlimit(resource.RLIMIT_NPROC, (int(maximum), int(maximum)))


def drop_privileges() -> None:
    """Become the unprivileged user the sandbox names, when started as root."""
    user = os.environ.pop("LAMBDALAYER_RUN_AS", "")
    if user and os.geteuid() == 0:
        os.setgroups([])
        os.setgid(int(user))
        os.setuid(int(user))
        if os.geteuid() == 0:
            raise SystemExit("could not drop root")
        # The kernel cleared the parent-death signal with the change of user: set it again,
        # so that the sandbox ends with the program that started it (lambdalayer also ends
        # what is left through the sandbox's cgroup, where it has one).
        try:
            import ctypes  # noqa: PLC0415 - here only: a minimal image may lack _ctypes

            ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except (ImportError, OSError, AttributeError):
            pass


def facts(exc: BaseException) -> dict[str, object]:
    """What a failed import says as data: the module the exception itself did not find
    (``missing``), every module not found along its chain of causes (``wanted``: pandas
    raises its own ImportError from python-dateutil's ModuleNotFoundError), and, for a name
    a namespace package lacks (``from google.cloud import bigquery_storage``), that piece."""
    wanted = []
    seen = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, ModuleNotFoundError) and cause.name:
            wanted.append(cause.name)
        cause = cause.__cause__ or cause.__context__
    missing = exc.name if isinstance(exc, ModuleNotFoundError) else None
    piece = None
    if isinstance(exc, ImportError) and not missing and exc.name and exc.path is None:
        # Python 3.12 says which name (name_from); before, only its message does.
        name_from = getattr(exc, "name_from", None)
        found = _CANNOT_IMPORT.match(str(exc))
        name = name_from or (found.group(1) if found else None)
        piece = f"{exc.name}.{name}" if name else None
    frames = traceback.extract_tb(exc.__traceback__)
    where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else None
    statement = _STATEMENT.match(frames[-1].line or "") if frames else None
    dotted = (statement.group(1) or statement.group(2)) if statement else None
    imported = dotted if missing and dotted and dotted.startswith(missing + ".") else None
    return {
        "missing": missing,
        "wanted": wanted,
        "piece": piece,
        "imported": imported,
        "where": where,
    }


class NotFound:
    """The last finder on ``sys.meta_path``: it finds nothing and notes what no finder found
    (a top-level name an import looked for in vain: its result may change when it appears)."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> None:
        self.names.add(fullname.partition(".")[0])


def seen_facts(not_found: NotFound) -> dict[str, object]:
    """What every import so far could see: the top-level names loaded (``seen``) and those
    looked for in vain (``absent``); the check keys a reused result by both."""
    seen = sorted({name.partition(".")[0] for name in list(sys.modules)})
    absent = sorted(not_found.names - set(seen))
    return {"seen": seen, "absent": absent}


def add_site_directories(paths: list[str]) -> None:
    """The function's and the layers' directories as site directories, as Lambda's
    bootstrap makes them (``add_default_site_directories``: ``/var/task``, then the two
    ``/opt`` directories): their ``.pth`` files run before any import, as there
    (setuptools' ``distutils-precedence.pth`` installs its ``distutils`` shim so)."""
    import site  # noqa: PLC0415 - only now: -S started the interpreter without it

    for directory in [path for path in paths if path == "/var/task" or path.startswith("/opt/")]:
        site.addsitedir(directory)


def main() -> None:
    """Import each module named on the command line and record the outcome."""
    limit_processes()
    drop_privileges()
    results, paths, modules = sys.argv[1], sys.argv[2], sys.argv[3:]
    sys.path[:0] = [path for path in paths.split(os.pathsep) if path]
    add_site_directories(sys.path)
    not_found = NotFound()
    sys.meta_path.append(not_found)
    with open(results, "a", encoding="utf-8") as out:  # noqa: PTH123 - kept to plain builtins
        for spec in modules:
            name, _, attribute = spec.partition(":")
            found: dict[str, object] = {}
            try:
                module = importlib.import_module(name)
                error = None
                if attribute and not callable(getattr(module, attribute, None)):
                    error = f"{name} has no callable {attribute!r}"
                    found = {"no_callable": attribute}
            except BaseException as exc:
                error = traceback.format_exception_only(type(exc), exc)[-1].strip()
                found = facts(exc)
            found.update(seen_facts(not_found))
            out.write(json.dumps([spec, error, found]) + "\n")
            out.flush()


if __name__ == "__main__":
    main()
