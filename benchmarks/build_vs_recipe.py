"""Build time and size: lambdalayer against AWS's manual recipe, side by side in one run.

The recipe (AWS's tutorial): ``pip install --platform manylinux2014_<arch>
--only-binary=:all: --python-version X.Y --target python/... REQS`` then ``zip -r``.
"Cold" means empty caches (pip: --no-cache-dir; lambdalayer: an empty wheel cache and an
empty uv cache); "warm" means the same command again with its caches filled.

    python benchmarks/build_vs_recipe.py --runtime python3.11 --arch x86_64 pandas pyarrow

Prints the median of --repeat runs for each and the ratio ours/recipe.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

MACHINE = {"x86_64": "x86_64", "arm64": "aarch64"}


def timed(command: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        command, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return time.perf_counter() - started


def unzipped(path: Path) -> int:
    with zipfile.ZipFile(path) as archive:
        return sum(info.file_size for info in archive.infolist())


def recipe(
    work: Path, python_version: str, arch: str, packages: list[str], cache: Path | None
) -> tuple[float, Path]:
    target = work / "recipe" / "python" / "lib" / f"python{python_version}" / "site-packages"
    shutil.rmtree(work / "recipe", ignore_errors=True)
    target.mkdir(parents=True)
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull}
    cache_args = ["--cache-dir", str(cache)] if cache else ["--no-cache-dir"]
    pip = [
        sys.executable, "-m", "pip", "install", "--quiet", "--isolated", *cache_args,
        "--platform", f"manylinux2014_{MACHINE[arch]}", "--only-binary=:all:",
        "--python-version", python_version, "--implementation", "cp",
        "--target", str(target), *packages,
    ]  # fmt: skip
    out = work / "recipe.zip"
    out.unlink(missing_ok=True)
    seconds = timed(pip, env, work)
    seconds += timed(["zip", "-qr", str(out), "python"], env, work / "recipe")
    return seconds, out


def ours(
    work: Path, runtime: str, arch: str, packages: list[str], cache: Path, check: bool
) -> tuple[float, Path]:
    out = work / "ours.zip"
    env = {**os.environ, "UV_CACHE_DIR": str(cache / "uv")}
    command = [
        sys.executable, "-m", "lambdalayer", "build", *packages, "--runtime", runtime, "--arch", arch,
        "-o", str(out), "--cache-dir", str(cache / "wheels"),
    ]  # fmt: skip
    if not check:
        command.append("--no-check")
    return timed(command, env, work), out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("packages", nargs="+")
    parser.add_argument("--runtime", default="python3.11")
    parser.add_argument("--arch", default="x86_64", choices=list(MACHINE))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    python_version = args.runtime.removeprefix("python")
    rows: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        work = Path(scratch)
        for _ in range(args.repeat):
            pip_cache, our_cache = work / "pip-cache", work / "our-cache"
            shutil.rmtree(pip_cache, ignore_errors=True)
            shutil.rmtree(our_cache, ignore_errors=True)
            rows.setdefault("recipe cold", []).append(
                recipe(work, python_version, args.arch, args.packages, None)[0]
            )
            recipe(work, python_version, args.arch, args.packages, pip_cache)  # fill pip's cache
            seconds, recipe_zip = recipe(work, python_version, args.arch, args.packages, pip_cache)
            rows.setdefault("recipe warm", []).append(seconds)
            rows.setdefault("ours cold", []).append(
                ours(work, args.runtime, args.arch, args.packages, our_cache, False)[0]
            )
            seconds, our_zip = ours(work, args.runtime, args.arch, args.packages, our_cache, False)
            rows.setdefault("ours warm", []).append(seconds)
            rows.setdefault("ours warm + check", []).append(
                ours(work, args.runtime, args.arch, args.packages, our_cache, True)[0]
            )
        print(f"{' '.join(args.packages)} for {args.runtime} {args.arch}, median of {args.repeat}")
        for name, values in rows.items():
            print(f"  {name:<18} {statistics.median(values):7.2f} s")
        for kind in ("cold", "warm"):
            ratio = statistics.median(rows[f"ours {kind}"]) / statistics.median(
                rows[f"recipe {kind}"]
            )
            print(f"  ours/recipe {kind:<6} {ratio:7.2f}")
        for name, path in (("recipe", recipe_zip), ("ours", our_zip)):
            print(f"  {name:<7} zip {path.stat().st_size:>12,} B  unzipped {unzipped(path):>12,} B")
        print(f"  ours/recipe unzipped {unzipped(our_zip) / unzipped(recipe_zip):.2f}")


if __name__ == "__main__":
    main()
