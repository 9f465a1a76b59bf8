"""The runtime's bootstrap where the root has none of its own: runs inside the sandbox.

What a Lambda Python image's ``/var/runtime/bootstrap`` does before it hands over to AWS's
runtime interface client (awslambdaric, at ``/var/runtime``): the function's code first on
``sys.path``, then the layers' two directories — unless the function set ``PYTHONPATH``
itself, in which case Lambda does not add them — then ``/var/lang``'s site-packages,
``/var/runtime`` and the standard library. Then ``awslambdaric``'s main, with the handler
of ``_HANDLER``. The standard library only, valid on every runtime's Python.
"""

import os
import site
import sys


def lambda_path() -> list[str]:
    """``sys.path`` as the runtime has it."""
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    own = os.environ.get("PYTHONPATH", "")
    set_by_function = own not in ("", "/var/runtime")
    here = os.path.dirname(os.path.abspath(__file__))  # noqa: PTH100, PTH120 - plain builtins
    head = [os.environ.get("LAMBDA_TASK_ROOT", "/var/task")]
    if set_by_function:
        head += [path for path in own.split(os.pathsep) if path]
    else:
        head += [f"/opt/python/lib/python{version}/site-packages", "/opt/python"]
    head += [f"/var/lang/lib/python{version}/site-packages", "/var/runtime"]
    rest = [path for path in sys.path if path and path not in head and path != here]
    return head + rest


def site_directories() -> list[str]:
    """The directories whose ``.pth`` files run: the function's, and the layers' two unless
    the function set ``PYTHONPATH`` (then Lambda does not add them at all)."""
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    own = os.environ.get("PYTHONPATH", "")
    directories = [os.environ.get("LAMBDA_TASK_ROOT", "/var/task")]
    if own in ("", "/var/runtime"):
        directories += [f"/opt/python/lib/python{version}/site-packages", "/opt/python"]
    return directories


def main() -> None:
    """Run the runtime interface client for ``$_HANDLER``."""
    sys.path[:] = lambda_path()
    for directory in site_directories():
        site.addsitedir(directory)  # already on sys.path: only its .pth files are new
    from awslambdaric import __main__ as ric  # noqa: PLC0415 - only once sys.path is Lambda's

    ric.main([sys.argv[0], os.environ["_HANDLER"]])


if __name__ == "__main__":
    main()
