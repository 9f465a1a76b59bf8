"""Build time, memory and size: lambdalayer against uv + zip and AWS's manual recipe, in one run.

Baselines, measured side by side with ours:

- "uv + zip": ``uv pip install --target python/lib/pythonX.Y/site-packages --python-version
  X.Y --python-platform <arch>-manylinux_2_17 (python3.10/3.11: what loads on Amazon Linux 2;
  2_28 would pull wheels that fail there) or _2_34 (python3.12+) --only-binary :all: REQS``
  then ``zip -qr``;
- "recipe" (AWS's tutorial): ``pip install --platform manylinux2014_<arch> --only-binary=:all:
  --python-version X.Y --target ... REQS`` then ``zip -qr``.

"cold" is every cache empty (ours: wheels, fragments, resolutions and uv's; uv's; pip's),
"warm" the same command again, "one changed" ours with one more requirement (one new wheel)
after a warm build. Peak RSS is the largest resident set of the lambdalayer process or any
child it waited for (getrusage of the benchmark's children, measured in a fresh wrapper).

    python benchmarks/build_vs_recipe.py --runtime python3.11 --arch x86_64 pandas pyarrow

Prints medians of --repeat runs, ratios against uv + zip, and whether the outputs of the
cold, warm and one-changed builds are byte-identical to a from-scratch build of the same
inputs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from uv import find_uv_bin

MACHINE = {"x86_64": "x86_64", "arm64": "aarch64"}
# The uv platform with which a uv user's layer loads on the runtime: AL2 (glibc 2.26) has no
# exact entry in uv's list, and 2_28 pulls wheels that fail there, so 2_17; AL2023: 2_34.
UV_PLATFORM = {"python3.10": "2_17", "python3.11": "2_17"}
_RSS_WRAPPER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code)\n"
)


def run(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of ``command`` and its waited-for children."""
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-c", _RSS_WRAPPER, *command],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.perf_counter() - started
    rss, code = completed.stdout.split()
    if code != "0":
        raise SystemExit(f"failed ({code}): {' '.join(command)}")
    return seconds, int(rss)


def zip_tree(tree: Path, out: Path, env: dict[str, str]) -> float:
    out.unlink(missing_ok=True)
    return run(["zip", "-qr", str(out), "python"], env, tree)[0]


def uv_zip(work: Path, runtime: str, arch: str, packages: list[str], cache: Path) -> float:
    version = runtime.removeprefix("python")
    tree = work / "uvzip"
    shutil.rmtree(tree, ignore_errors=True)
    site = tree / "python" / "lib" / f"python{version}" / "site-packages"
    platform = f"{MACHINE[arch]}-manylinux_{UV_PLATFORM.get(runtime, '2_34')}"
    env = {**os.environ, "UV_CACHE_DIR": str(cache)}
    command = [
        find_uv_bin(),
        "pip",
        "install",
        "--quiet",
        "--target",
        str(site),
        "--python-version",
        version,
        "--python-platform",
        platform,
        "--only-binary",
        ":all:",
        *packages,
    ]
    seconds = run(command, env, work)[0]
    return seconds + zip_tree(tree, work / "uvzip.zip", env)


def recipe(work: Path, runtime: str, arch: str, packages: list[str], cache: Path | None) -> float:
    version = runtime.removeprefix("python")
    tree = work / "recipe"
    shutil.rmtree(tree, ignore_errors=True)
    site = tree / "python" / "lib" / f"python{version}" / "site-packages"
    site.mkdir(parents=True)
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull}
    cache_args = ["--cache-dir", str(cache)] if cache else ["--no-cache-dir"]
    pip = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--isolated",
        *cache_args,
        "--platform",
        f"manylinux2014_{MACHINE[arch]}",
        "--only-binary=:all:",
        "--python-version",
        version,
        "--implementation",
        "cp",
        "--target",
        str(site),
        *packages,
    ]
    seconds = run(pip, env, work)[0]
    return seconds + zip_tree(tree, work / "recipe.zip", env)


def ours(
    work: Path, runtime: str, arch: str, packages: list[str], cache: Path, out: Path
) -> tuple[float, int, dict[str, float]]:
    env = {
        **os.environ,
        "UV_CACHE_DIR": str(cache / "uv"),
        "LAMBDALAYER_CACHE_DIR": str(cache / "ll"),
    }
    timings = work / "timings.json"
    command = [
        sys.executable,
        "-m",
        "lambdalayer",
        "build",
        *packages,
        "--runtime",
        runtime,
        "--arch",
        arch,
        "-o",
        str(out),
        "--json",
    ]
    started = time.perf_counter()
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            _RSS_WRAPPER.replace(
                "stdout=subprocess.DEVNULL", f"stdout=open({str(timings)!r}, 'w')"
            ),
            *command,
        ],
        env=env,
        cwd=work,
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.perf_counter() - started
    rss, code = completed.stdout.split()
    if code != "0":
        raise SystemExit(f"lambdalayer failed: {' '.join(command)}")
    stages = json.loads(timings.read_text()).get("timings", {})
    return seconds, int(rss), stages


def unzipped(path: Path) -> int:
    with zipfile.ZipFile(path) as archive:
        return sum(info.file_size for info in archive.infolist())


def main() -> None:
    """Run every variant --repeat times and print the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("packages", nargs="+")
    parser.add_argument("--runtime", default="python3.11")
    parser.add_argument("--arch", default="x86_64", choices=list(MACHINE))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--changed", default="six", help="the requirement added for 'one changed' (default six)"
    )
    parser.add_argument("--no-recipe", action="store_true", help="skip AWS's recipe (pip is slow)")
    args = parser.parse_args()
    rows: dict[str, list[float]] = {}
    rss: list[int] = []
    stages: dict[str, list[float]] = {}
    identical: list[bool] = []
    changed = [*args.packages, args.changed]
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        work = Path(scratch)
        for _ in range(args.repeat):
            for name in ("uv-cache", "our-cache", "pip-cache", "fresh-cache"):
                shutil.rmtree(work / name, ignore_errors=True)
            rows.setdefault("uv + zip cold", []).append(
                uv_zip(work, args.runtime, args.arch, args.packages, work / "uv-cache")
            )
            rows.setdefault("uv + zip warm", []).append(
                uv_zip(work, args.runtime, args.arch, args.packages, work / "uv-cache")
            )
            if not args.no_recipe:
                rows.setdefault("recipe cold", []).append(
                    recipe(work, args.runtime, args.arch, args.packages, None)
                )
                recipe(work, args.runtime, args.arch, args.packages, work / "pip-cache")
                rows.setdefault("recipe warm", []).append(
                    recipe(work, args.runtime, args.arch, args.packages, work / "pip-cache")
                )
            cold, cold_rss, _ = ours(
                work, args.runtime, args.arch, args.packages, work / "our-cache", work / "cold.zip"
            )
            warm, warm_rss, warm_stages = ours(
                work, args.runtime, args.arch, args.packages, work / "our-cache", work / "warm.zip"
            )
            one, one_rss, _ = ours(
                work, args.runtime, args.arch, changed, work / "our-cache", work / "changed.zip"
            )
            ours(
                work,
                args.runtime,
                args.arch,
                changed,
                work / "fresh-cache",
                work / "changed-fresh.zip",
            )
            rows.setdefault("ours cold", []).append(cold)
            rows.setdefault("ours warm", []).append(warm)
            rows.setdefault("ours one changed", []).append(one)
            rss += [cold_rss, warm_rss, one_rss]
            for stage, value in warm_stages.items():
                stages.setdefault(stage, []).append(value)
            identical.append(
                (work / "cold.zip").read_bytes() == (work / "warm.zip").read_bytes()
                and (work / "changed.zip").read_bytes() == (work / "changed-fresh.zip").read_bytes()
            )
        print(
            f"{' '.join(args.packages)} for {args.runtime} {args.arch}, median of {args.repeat} (one changed: +{args.changed})"
        )
        for name, values in rows.items():
            print(f"  {name:<20} {statistics.median(values):7.2f} s")
        base = {kind: statistics.median(rows[f"uv + zip {kind}"]) for kind in ("cold", "warm")}
        print(
            f"  ours cold / uv + zip cold        {statistics.median(rows['ours cold']) / base['cold']:5.2f}   (goal <= 0.80)"
        )
        print(
            f"  ours warm / uv + zip warm        {statistics.median(rows['ours warm']) / base['warm']:5.2f}   (goal <= 0.10)"
        )
        print(
            f"  ours one changed / uv + zip warm {statistics.median(rows['ours one changed']) / base['warm']:5.2f}   (goal <= 0.25)"
        )
        if "recipe warm" in rows:
            print(
                f"  ours warm / recipe warm          {statistics.median(rows['ours warm']) / statistics.median(rows['recipe warm']):5.2f}"
            )
        print(
            f"  ours peak RSS                    {max(rss) / 1024:5.0f} MiB (max of every run; goal < 300)"
        )
        print(f"  byte-identical cold = warm, one changed = from scratch: {all(identical)}")
        if stages:
            print(
                "  ours warm, stages (median s): "
                + ", ".join(f"{k} {statistics.median(v):.2f}" for k, v in stages.items())
            )
        print(
            f"  ours zip {(work / 'warm.zip').stat().st_size:,} B, unzipped {unzipped(work / 'warm.zip'):,} B;"
            f" uv + zip {(work / 'uvzip.zip').stat().st_size:,} B, unzipped {unzipped(work / 'uvzip.zip'):,} B"
        )


if __name__ == "__main__":
    main()
