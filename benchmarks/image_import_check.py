"""Time the in-image import check of a pandas layer on stand-in Lambda images, both CPUs.

    python benchmarks/image_import_check.py [--runs 3] [PACKAGE ...]

Builds the layer (default: pandas) for python3.12 x86_64 and python3.11 arm64 (the
stand-in arm64 image is Debian's CPython 3.11 from its arm64 packages; needs
``dpkg --add-architecture arm64`` and ``apt-get update``), then runs
``check --image DIR`` on each and prints the median wall time of the import stage, with
the check on this machine's CPython beside it for x86_64 (the baseline it replaces).
Stand-ins come from tests/standin.py; bubblewrap and qemu-user-static must be installed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from standin import arm64_standin, download_arm64_packages, x86_64_standin

from lambdalayer.builder import BuildRequest, build
from lambdalayer.check.request import CheckRequest, ImportOptions
from lambdalayer.check.rules import check
from lambdalayer.environment.roots import HOST
from lambdalayer.inputs.requirements import gather
from lambdalayer.interpreters import find_interpreter
from lambdalayer.layer.output import ZipOutput
from lambdalayer.placement import read_zip
from lambdalayer.resolve.stage import Resolve
from lambdalayer.targets import Layout, get_target


def _median_seconds(runs: int, action) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main() -> None:
    """Build, then time the import checks."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("packages", nargs="*", default=["pandas"])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lambdalayer-bench-") as scratch:
        work = Path(scratch)
        python312 = find_interpreter("3.12")
        if python312 is None:
            raise SystemExit("needs a CPython 3.12 here for the x86_64 stand-in")
        images = {
            "x86_64": (
                get_target("python3.12", "x86_64"),
                x86_64_standin(work / "x86", python312.path.resolve().parent.parent, "3.12"),
            ),
            "arm64": (
                get_target("python3.11", "arm64"),
                arm64_standin(work / "arm", download_arm64_packages(work / "debs")),
            ),
        }
        print(f"{'target':<20} {'where':<34} {'modules':>7} {'median s':>9}")
        for arch, (target, root) in images.items():
            layer = work / f"{arch}.zip"
            requirements = gather(args.packages, []).requirements
            assert requirements is not None
            build(BuildRequest(target, Resolve(requirements), ZipOutput(layer), check=False))
            placement = read_zip(layer, Layout.SITE_PACKAGES)  # read once, checked each run
            in_image = CheckRequest(target, imports=ImportOptions(image=root))
            seconds, report = _median_seconds(
                args.runs, lambda p=placement, r=in_image: check(p, r)
            )
            imported = sum(result.ok for result in report.imports)  # type: ignore[attr-defined]
            print(
                f"{target.name:<20} {'stand-in image (' + arch + ')':<34} {imported:>3}/{len(report.imports):<3} {seconds:>9.2f}"
            )  # type: ignore[attr-defined]
            if arch == "x86_64":
                on_host = CheckRequest(target, imports=ImportOptions(image=HOST))
                host_seconds, host = _median_seconds(
                    args.runs, lambda p=placement, r=on_host: check(p, r)
                )
                print(
                    f"{target.name:<20} {'this machine (baseline)':<34} {sum(r.ok for r in host.imports):>3}/{len(host.imports):<3} {host_seconds:>9.2f}"
                )  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
