"""Deflate level per kind of file: size against time, measured on a built layer's members.

    python benchmarks/zlib_levels.py layer.zip [--levels 1,6,9] [--repeat 3]

For each kind (native .so, bytecode .pyc, Python .py, data) prints the compressed bytes and
the median seconds (one core) of compressing every member of that kind at each level,
and the ratios against level 6 (what lambdalayer uses for every kind).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import zipfile
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from lambdalayer.check.sizes import KINDS, kind_of


def deflated_size(data: bytes, level: int) -> int:
    packer = zlib.compressobj(level, zlib.DEFLATED, -15)
    return len(packer.compress(data) + packer.flush())


def main() -> None:
    """Read the layer, compress each kind at each level, print the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("layer", type=Path)
    parser.add_argument("--levels", default="1,6,9")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    levels = [int(level) for level in args.levels.split(",")]
    by_kind: dict[str, list[bytes]] = {kind: [] for kind in KINDS}
    with zipfile.ZipFile(args.layer) as archive:
        for info in archive.infolist():
            if not info.is_dir():
                by_kind[kind_of(info.filename)].append(archive.read(info))
    print(
        f"{'kind':<9} {'files':>6} {'bytes':>12}  "
        + "  ".join(f"{'L' + str(lv) + ' bytes':>13} {'s':>6}" for lv in levels)
    )
    for kind, members in by_kind.items():
        results = {}
        for level in levels:
            times = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                size = sum(deflated_size(data, level) for data in members)
                times.append(time.perf_counter() - started)
            results[level] = (size, statistics.median(times))
        raw = sum(map(len, members))
        row = "  ".join(f"{results[lv][0]:>13,} {results[lv][1]:>6.2f}" for lv in levels)
        print(f"{kind:<9} {len(members):>6} {raw:>12,}  {row}")
        if 6 in results and results[6][0]:
            ratios = ", ".join(
                f"L{lv}: size {results[lv][0] / results[6][0]:.3f}, time {results[lv][1] / max(results[6][1], 1e-9):.2f}"
                for lv in levels
                if lv != 6
            )
            print(f"{'':<9} vs L6: {ratios}")


if __name__ == "__main__":
    main()
