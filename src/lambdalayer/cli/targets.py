"""The ``targets`` command: the runtimes and CPUs lambdalayer builds for."""

from __future__ import annotations

import argparse

from lambdalayer.cli.common import EXIT_OK, print_json
from lambdalayer.targets import runtimes

DESCRIPTION = "The Lambda Python runtimes lambdalayer builds for: Python, OS, glibc floor, CPUs."
EPILOG = """\
examples:
  lambdalayer targets
  lambdalayer targets --json

Every command accepts a runtime as python3.12, 3.12 or py312, and a CPU as x86_64 (amd64)
or arm64 (aarch64). The table is data (data/runtimes.toml): a new runtime is one entry.
"""


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """``targets``' arguments."""


def execute(args: argparse.Namespace) -> int:
    """Run ``targets``."""
    rows = [
        {
            "runtime": runtime.name,
            "python": runtime.python_version,
            "os": runtime.os,
            "glibc": ".".join(map(str, runtime.glibc)),
            "architectures": list(runtime.architectures),
        }
        for runtime in runtimes()
    ]
    if args.json:
        print_json({"ok": True, "targets": rows})
        return EXIT_OK
    print(f"{'runtime':<12} {'python':<7} {'os':<18} {'glibc':<6} architectures")
    for runtime in runtimes():
        glibc = ".".join(map(str, runtime.glibc))
        arches = ", ".join(runtime.architectures)
        print(
            f"{runtime.name:<12} {runtime.python_version:<7} {runtime.os:<18} {glibc:<6} {arches}"
        )
    return EXIT_OK
