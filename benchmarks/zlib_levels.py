"""Compressors and levels per kind of file: size against time, on a built layer's members.

    python benchmarks/zlib_levels.py layer.zip [--repeat 3]

For each kind (native .so, bytecode .pyc, Python .py, data) prints the compressed bytes and
the median seconds (one core) of compressing every member of that kind with the stdlib's
zlib at levels 6 and 9 (whatever zlib this interpreter was built with) and with libdeflate
(the pinned ``deflate`` package lambdalayer uses) at several levels, with ratios against
zlib level 6 — the setting lambdalayer used before it pinned its compressor.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import deflate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from lambdalayer.check.sizes import KINDS, kind_of


def zlib_at(level: int) -> Callable[[bytes], int]:
    def size(data: bytes) -> int:
        packer = zlib.compressobj(level, zlib.DEFLATED, -15)
        return len(packer.compress(data) + packer.flush())

    return size


def libdeflate_at(level: int) -> Callable[[bytes], int]:
    return lambda data: len(deflate.deflate_compress(data, level))


COMPRESSORS = {
    "zlib 6": zlib_at(6),
    "zlib 9": zlib_at(9),
    "libdeflate 1": libdeflate_at(1),
    "libdeflate 4": libdeflate_at(4),
    "libdeflate 6": libdeflate_at(6),
    "libdeflate 9": libdeflate_at(9),
}


def main() -> None:
    """Read the layer, compress each kind with each compressor, print the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("layer", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    by_kind: dict[str, list[bytes]] = {kind: [] for kind in KINDS}
    with zipfile.ZipFile(args.layer) as archive:
        for info in archive.infolist():
            if not info.is_dir():
                by_kind[kind_of(info.filename)].append(archive.read(info))
    by_kind["all"] = [data for members in by_kind.values() for data in members]
    print(
        f"{'kind':<9} {'files':>6} {'bytes':>12}  {'compressor':<13} {'bytes':>12} {'s':>6}  vs zlib 6"
    )
    for kind, members in by_kind.items():
        raw = sum(map(len, members))
        results = {}
        for name, size_of in COMPRESSORS.items():
            times = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                size = sum(size_of(data) for data in members)
                times.append(time.perf_counter() - started)
            results[name] = (size, statistics.median(times))
        base_size, base_time = results["zlib 6"]
        for name, (size, seconds) in results.items():
            ratio = (
                f"size {size / max(base_size, 1):.3f}, time {seconds / max(base_time, 1e-9):.2f}"
            )
            print(
                f"{kind:<9} {len(members):>6} {raw:>12,}  {name:<13} {size:>12,} {seconds:>6.2f}  {ratio}"
            )


if __name__ == "__main__":
    main()
