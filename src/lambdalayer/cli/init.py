"""The ``init`` command: write the project's configuration, then say the next command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lambdalayer.cli.common import EXIT_OK, print_json, stderr, warn
from lambdalayer.errors import InputError
from lambdalayer.fsutil import atomic_write_bytes
from lambdalayer.inputs.scaffold import detect_targets, plan_init
from lambdalayer.targets import ARCH_ALIASES, DEFAULT_ARCH, default_runtime

DESCRIPTION = "Write the project's lambdalayer configuration, found the way 'build' finds inputs."
EPILOG = """\
examples:
  lambdalayer init                                   # in the project's directory
  lambdalayer init --runtime python3.12 --arch arm64 --project services/api

The inputs are what 'lambdalayer build' would read here (uv.lock, poetry.lock,
pylock.toml, pyproject.toml, requirements.txt). The runtime and CPU come from the flags,
else from the Python functions of a SAM template, serverless.yml, cdk.out or CDK app here
(each function's own: functions on different runtimes or CPUs give a 'targets' list,
e.g. targets = ["python3.12-arm64", "python3.11-x86_64"]), else you are asked (on a
terminal), else the defaults. pyproject.toml gets a [tool.lambdalayer] table; without
one, lambdalayer.toml is written. An existing configuration is never overwritten.
"""


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """``init``'s arguments."""
    parser.add_argument("--project", type=Path, metavar="DIR", help="the project (default: here)")
    parser.add_argument("--runtime", metavar="NAME", help="e.g. python3.12 or 3.12")
    parser.add_argument("--arch", metavar="ARCH", help=f"CPU: {ARCH_ALIASES}")


def _ask(question: str, default: str) -> str:
    if not sys.stdin.isatty():
        return default
    answer = input(f"{question} [{default}]: ").strip()
    return answer or default


def execute(args: argparse.Namespace) -> int:
    """Run ``init``."""
    project_dir = args.project or Path.cwd()
    detected = detect_targets(project_dir)
    if detected.warnings and not (args.runtime or args.arch or detected.targets):
        raise InputError(
            detected.warnings[0],
            hint="give the targets: lambdalayer init --runtime RUNTIME --arch CPU (or resolve"
            " the template's parameters with defaults)",
        )
    if args.runtime or args.arch or not detected.targets:
        runtime = args.runtime or _ask("Lambda runtime", default_runtime().name)
        arch = args.arch or _ask("CPU (x86_64 or arm64)", DEFAULT_ARCH)
        chosen = [(runtime, arch)]
        source = None
    else:
        chosen, source = list(detected.targets), detected.source
    plan = plan_init(project_dir, chosen)
    atomic_write_bytes(plan.path, plan.text.encode("utf-8"))
    where = f" (runtimes and CPUs of its functions from {source})" if source else ""
    if args.json:
        print_json(
            {
                "ok": True,
                "path": str(plan.path),
                "input": str(plan.input_file),
                "configuration": plan.table,
                "from": source,
                "notes": list(detected.notes),
                "warnings": list(detected.warnings),
            }
        )
        return EXIT_OK
    for note in detected.notes:
        stderr(f"note: {note}")
    for warning in detected.warnings:
        warn(f"warning: {warning}")
    if detected.warnings and source:
        warn(
            "hint: add its target to targets = [...] in the file written, or init again with"
            " --runtime and --arch"
        )
    print(f"wrote {plan.path}{where}, building from {plan.input_file.name}:")
    for line in plan.table.splitlines():
        print(f"  {line}")
    print(
        f"next: lambdalayer build --project {project_dir}"
        if args.project
        else "next: lambdalayer build"
    )
    return EXIT_OK
