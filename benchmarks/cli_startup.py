"""How long ``lambdalayer --version`` and ``--help`` take, against Python starting and
doing nothing, side by side in one run (issue #33: within 100 ms of ``python -c pass``).

    python benchmarks/cli_startup.py [--runs 21]

Each command runs ``--runs`` times, interleaved (one of each in turn, so that the machine's
load falls on all alike); the medians are printed, and each command's median minus the
baseline's. The commands run through the installed ``lambdalayer`` script next to this
interpreter, as a user runs them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

SCRIPT = str(Path(sys.executable).with_name("lambdalayer"))
BASELINE = "python -c pass (baseline)"
COMMANDS = {
    BASELINE: [sys.executable, "-c", "pass"],
    "lambdalayer --version": [SCRIPT, "--version"],
    "lambdalayer --help": [SCRIPT, "--help"],
    "lambdalayer build --help": [SCRIPT, "build", "--help"],
}
GOAL_MS = 100


def _time(command: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system) of one run of ``command``."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{command} exited with {process.returncode}")
    return time.perf_counter() - started, usage.ru_utime + usage.ru_stime


def main() -> int:
    """Run the benchmark; exit 1 when ``--version`` or ``--help`` misses the goal."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    runs = parser.parse_args().runs
    wall: dict[str, list[float]] = {name: [] for name in COMMANDS}
    cpu: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(runs):
        for name, command in COMMANDS.items():
            seconds, used = _time(command)
            wall[name].append(seconds)
            cpu[name].append(used)
    print(f"{runs} runs each, interleaved; medians in ms (wall: elapsed; CPU: user + system)")
    print(f"{'command':<28} {'wall':>8} {'over':>8} {'ratio':>6} {'CPU':>8} {'over':>8}")
    wall_ms = {name: statistics.median(values) * 1000 for name, values in wall.items()}
    cpu_ms = {name: statistics.median(values) * 1000 for name, values in cpu.items()}
    base_wall, base_cpu = wall_ms[BASELINE], cpu_ms[BASELINE]
    for name in COMMANDS:
        print(
            f"{name:<28} {wall_ms[name]:>8.1f} {wall_ms[name] - base_wall:>+8.1f}"
            f" {wall_ms[name] / base_wall:>5.2f}x {cpu_ms[name]:>8.1f}"
            f" {cpu_ms[name] - base_cpu:>+8.1f}"
        )
    missed = [
        name
        for name in ("lambdalayer --version", "lambdalayer --help")
        if wall_ms[name] - base_wall > GOAL_MS
    ]
    verdict = "missed by " + ", ".join(missed) if missed else "met"
    print(f"goal: --version and --help within {GOAL_MS} ms (wall) of the baseline: {verdict}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
