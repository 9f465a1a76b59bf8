"""A manifest's globs against an artefact's files: one at a time (as before) and compiled
together (:func:`lambdalayer.trim.manifest.matcher`), side by side, medians of --runs.

A manifest may hold 2,000 globs (``MAX_GLOBS``); each is tried against every file of every
artefact a build trims. Printed: the seconds each way and the ratio (compiled / one at a
time), for the files and globs given.

    nice -n 10 python benchmarks/trim_globs.py --files 10000 --globs 2000 --runs 3
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from lambdalayer.trim.manifest import matcher, matches


def _seconds(work: Callable[[], int]) -> tuple[float, int]:
    start = time.perf_counter()
    found = work()
    return time.perf_counter() - start, found


def main() -> None:
    """Print the medians and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--globs", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    units = [f"pkg{n % 50}/sub{n % 37}/mod{n}.py" for n in range(args.files)]
    globs = [f"pkg{n}/*/x*y[ab]?{n}.json" for n in range(args.globs)] + ["pkg7/sub7/*.py"]
    one_at_a_time, together = [], []
    for _ in range(args.runs):  # interleaved, so both sides see the same machine
        seconds, before = _seconds(lambda: sum(any(matches(g, u) for g in globs) for u in units))
        one_at_a_time.append(seconds)
        # the expression's compiling counted in
        seconds, after = _seconds(lambda: sum(map(matcher(globs), units)))
        together.append(seconds)
        assert before == after, (before, after)  # the same files either way
    old, new = statistics.median(one_at_a_time), statistics.median(together)
    print(f"{args.files:,} files x {len(globs):,} globs, {args.runs} runs (medians):")
    print(f"  one glob at a time   {old:8.2f} s")
    print(f"  compiled together    {new:8.2f} s")
    print(f"  ratio (together / one at a time) {new / old:.3f}")


if __name__ == "__main__":
    main()
