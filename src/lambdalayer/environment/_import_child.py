"""The child program of the import check: runs inside the target interpreter, never imported.

Passed to ``python -I -S -B -c`` as source text (so it also runs inside an image, where
this package is not installed); it must stay valid on every runtime's Python (3.10+) and
use the standard library only. Arguments: the results file, Lambda's ``sys.path`` entries
joined by ``os.pathsep``, then the modules (``module`` or ``module:callable``). One JSON
line per module goes to the results file, flushed at once, so that a module that crashes
the interpreter still leaves the results of the ones before it.

Started as root inside a sandbox that cannot map users itself (``unshare``, ``proot``),
it is told by ``LAMBDALAYER_RUN_AS`` to become that unprivileged user before anything of
the layer runs; when it cannot, it stops without importing anything.
"""

import importlib
import json
import os
import sys
import traceback


def drop_privileges() -> None:
    """Become the unprivileged user the sandbox names, when started as root."""
    user = os.environ.pop("LAMBDALAYER_RUN_AS", "")
    if user and os.geteuid() == 0:
        os.setgroups([])
        os.setgid(int(user))
        os.setuid(int(user))
        if os.geteuid() == 0:
            raise SystemExit("could not drop root")


def main() -> None:
    """Import each module named on the command line and record the outcome."""
    drop_privileges()
    results, paths, modules = sys.argv[1], sys.argv[2], sys.argv[3:]
    sys.path[:0] = [path for path in paths.split(os.pathsep) if path]
    with open(results, "a", encoding="utf-8") as out:  # noqa: PTH123 - kept to plain builtins
        for spec in modules:
            name, _, attribute = spec.partition(":")
            try:
                module = importlib.import_module(name)
                error = None
                if attribute and not callable(getattr(module, attribute, None)):
                    error = f"{name} has no callable {attribute!r}"
            except BaseException as exc:
                error = traceback.format_exception_only(type(exc), exc)[-1].strip()
            out.write(json.dumps([spec, error]) + "\n")
            out.flush()


if __name__ == "__main__":
    main()
