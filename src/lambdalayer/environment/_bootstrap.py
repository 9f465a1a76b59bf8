"""The runtime's bootstrap where the root has none of its own: runs inside the sandbox.

The same steps, in the same order, as AWS's ``/var/runtime/bootstrap.py`` in the Lambda
Python images (python3.11's, as listed from ``public.ecr.aws/lambda/python:3.11``; earlier
runtimes' lacks the ``/var/lang`` site-packages step), so ``sys.path`` is built by the
same calls and not written out by hand:

1. The script sits in ``/var/runtime`` there, so ``sys.path[0]`` is ``/var/runtime``; the
   interpreter adds ``PYTHONPATH`` (only when the function set it: Lambda sets none before
   the bootstrap starts) and its standard library after it. ``awslambdaric`` is imported
   now, before anything of the function's is on the path.
2. ``set_default_sys_path``: unless ``PYTHONPATH`` is set, ``/var/lang``'s site-packages,
   ``/opt/python`` and ``/opt/python/lib/pythonX.Y/site-packages`` are put first; then
   ``LAMBDA_TASK_ROOT`` before them all.
3. ``add_default_site_directories``: ``site.addsitedir`` of ``LAMBDA_TASK_ROOT`` and (unless
   ``PYTHONPATH`` is set) of the two ``/opt`` directories, so their ``.pth`` files are
   processed (and a directory that does not exist is appended once more, as there).
4. ``set_default_pythonpath``: ``PYTHONPATH`` becomes ``LAMBDA_RUNTIME_DIR`` when unset.
5. ``awslambdaric``'s main, with the handler of ``_HANDLER``.

The standard library only, valid on every runtime's Python.
"""

import os
import site
import sys

RUNTIME_DIR = "/var/runtime"
VAR_LANG_FIRST = (3, 11)  # the runtimes whose bootstrap puts /var/lang's site-packages first


def is_pythonpath_set() -> bool:
    """Whether the function set ``PYTHONPATH`` (any value, even empty, counts there too)."""
    return "PYTHONPATH" in os.environ


def _version() -> str:
    return f"{sys.version_info[0]}.{sys.version_info[1]}"


def opt_site_packages() -> str:
    """The layers' site-packages directory for this Python."""
    return f"/opt/python/lib/python{_version()}/site-packages"


def set_default_sys_path() -> None:
    """The function's code first, then (unless ``PYTHONPATH`` is set) the layers' paths."""
    if not is_pythonpath_set():
        if sys.version_info[:2] >= VAR_LANG_FIRST:
            sys.path.insert(0, f"/var/lang/lib/python{_version()}/site-packages")
        sys.path.insert(0, "/opt/python")
        sys.path.insert(0, opt_site_packages())
    sys.path.insert(0, os.environ["LAMBDA_TASK_ROOT"])


def add_default_site_directories() -> None:
    """The code's and the layers' directories as site directories (their ``.pth`` files)."""
    site.addsitedir(os.environ["LAMBDA_TASK_ROOT"])
    if not is_pythonpath_set():
        site.addsitedir(opt_site_packages())
        site.addsitedir("/opt/python")


def set_default_pythonpath() -> None:
    """What the function sees in ``PYTHONPATH`` when it set none."""
    if not is_pythonpath_set():
        os.environ["PYTHONPATH"] = os.environ.get("LAMBDA_RUNTIME_DIR", RUNTIME_DIR)


def main() -> None:
    """Run the runtime interface client for ``$_HANDLER`` as the runtime's bootstrap does."""
    here = os.path.dirname(os.path.abspath(__file__))  # noqa: PTH100, PTH120 - plain builtins
    if sys.path and sys.path[0] in (here, ""):
        sys.path[0] = RUNTIME_DIR  # where AWS's bootstrap.py is, and so sys.path[0] there
    from awslambdaric import __main__ as ric  # noqa: PLC0415 - imported where AWS's is

    set_default_sys_path()
    add_default_site_directories()
    set_default_pythonpath()
    ric.main([os.environ["LAMBDA_TASK_ROOT"], os.environ["_HANDLER"]])


if __name__ == "__main__":
    main()
