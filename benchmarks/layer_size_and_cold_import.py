"""Layer size and cold-import time: lambdalayer against the manual recipe and uv, one run.

For each requirement set and runtime, three layers are built side by side:

- recipe: AWS's tutorial, ``pip install --platform manylinux2014_x86_64 --only-binary=:all:
  --python-version X.Y --target ...`` then ``zip -r``;
- uv: ``uv pip install --target ... --python-platform x86_64-manylinux_2_17|2_34
  --only-binary :all:`` (the runtime's safe floor) then ``zip -r``;
- ours: ``lambdalayer build`` with its defaults (slimming, unchecked-hash bytecode).

Each zip is extracted with ``unzip``, made read-only, and its modules are imported in a
fresh CPython of the runtime's version with ``-I -S -B`` and Lambda's path order, --runs
times; the median import time is printed with the zipped and unzipped bytes and the ratios
ours/recipe and ours/uv. Import time is measured twice: "kept" with the timestamps unzip
restores (the best case for timestamp-based .pyc, as pip --target writes them), and "new"
with every file's mtime set to the extraction time (what ``cp``, or an extractor that does
not restore times, leaves), where timestamp-based .pyc no longer validate.

    python benchmarks/layer_size_and_cold_import.py --runtime python3.11 python3.12
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from lambdalayer.interpreters import find_interpreter

SETS: dict[str, tuple[list[str], list[str]]] = {
    "requests": (["requests"], ["requests"]),
    "numpy": (["numpy"], ["numpy"]),
    "pandas+pyarrow": (["pandas", "pyarrow"], ["pandas", "pyarrow", "pyarrow.parquet"]),
    "fastapi+mangum+pydantic": (
        ["fastapi", "mangum", "pydantic"],
        ["fastapi", "mangum", "pydantic"],
    ),
    "cryptography+psycopg2": (
        ["cryptography", "psycopg2-binary"],
        ["cryptography.fernet", "psycopg2"],
    ),
}
UV_FLOOR = {"3.10": "2_17", "3.11": "2_17", "3.12": "2_34", "3.13": "2_34", "3.14": "2_34"}
IMPORT_CODE = """\
import sys, time, importlib
sys.path[:0] = sys.argv[1:3]
started = time.perf_counter()
for name in sys.argv[3:]:
    importlib.import_module(name)
print(time.perf_counter() - started)
"""


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    subprocess.run(
        command, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def zip_tree(tree: Path, out: Path) -> Path:
    run(["zip", "-qr", str(out), "python"], cwd=tree)
    return out


def build_recipe(work: Path, version: str, packages: list[str]) -> Path:
    tree = work / "recipe"
    site = tree / "python" / "lib" / f"python{version}" / "site-packages"
    site.mkdir(parents=True)
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull}
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--isolated",
            "--platform",
            "manylinux2014_x86_64",
            "--only-binary=:all:",
            "--python-version",
            version,
            "--implementation",
            "cp",
            "--target",
            str(site),
            *packages,
        ],
        work,
        env,
    )
    return zip_tree(tree, work / "recipe.zip")


def build_uv(work: Path, version: str, packages: list[str]) -> Path:
    from uv import find_uv_bin

    tree = work / "uv"
    site = tree / "python" / "lib" / f"python{version}" / "site-packages"
    site.mkdir(parents=True)
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    run(
        [
            find_uv_bin(),
            "pip",
            "install",
            "--quiet",
            "--target",
            str(site),
            "--python-version",
            version,
            "--python-platform",
            f"x86_64-manylinux_{UV_FLOOR[version]}",
            "--only-binary",
            ":all:",
            *packages,
        ],
        work,
        env,
    )
    return zip_tree(tree, work / "uv.zip")


def build_ours(work: Path, version: str, packages: list[str]) -> Path:
    out = work / "ours.zip"
    run(
        [
            sys.executable,
            "-m",
            "lambdalayer",
            "build",
            *packages,
            "--runtime",
            f"python{version}",
            "-o",
            str(out),
        ],
        work,
    )
    return out


def median_import_seconds(
    layer: Path, python: Path, version: str, modules: list[str], runs: int, *, new_mtimes: bool
) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-opt-") as scratch:
        opt = Path(scratch) / "opt"
        opt.mkdir()
        run(["unzip", "-q", str(layer), "-d", str(opt)], opt)
        for path in opt.rglob("*"):
            if new_mtimes:
                os.utime(path)
            path.chmod(0o555 if path.is_dir() else 0o444)
        site, python_dir = opt / f"python/lib/python{version}/site-packages", opt / "python"
        times = []
        for _ in range(runs):
            completed = subprocess.run(
                [
                    str(python),
                    "-I",
                    "-S",
                    "-B",
                    "-c",
                    IMPORT_CODE,
                    str(site),
                    str(python_dir),
                    *modules,
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            times.append(float(completed.stdout.strip()))
        for path in opt.rglob("*"):
            path.chmod(0o755)
        return statistics.median(times)


def unzipped(path: Path) -> int:
    with zipfile.ZipFile(path) as archive:
        return sum(info.file_size for info in archive.infolist())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runtime", nargs="+", default=["python3.11", "python3.12"])
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    header = (
        f"{'set':<24} {'runtime':<10} {'tool':<7} {'zipped B':>12} {'unzipped B':>12}"
        f" {'import s (kept)':>16} {'import s (new)':>15}"
    )
    print(header)
    print("-" * len(header))
    for runtime in args.runtime:
        version = runtime.removeprefix("python")
        interpreter = find_interpreter(version)
        if interpreter is None:
            print(f"(no CPython {version} here: {runtime} skipped)")
            continue
        for name in args.sets:
            packages, modules = SETS[name]
            with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
                work = Path(scratch)
                layers = {
                    "recipe": build_recipe(work, version, packages),
                    "uv": build_uv(work, version, packages),
                    "ours": build_ours(work, version, packages),
                }
                figures = {}
                for tool, layer in layers.items():
                    kept, new = (
                        median_import_seconds(
                            layer, interpreter.path, version, modules, args.runs, new_mtimes=flag
                        )
                        for flag in (False, True)
                    )
                    figures[tool] = (layer.stat().st_size, unzipped(layer), kept, new)
                    print(
                        f"{name:<24} {runtime:<10} {tool:<7} {figures[tool][0]:>12,} {figures[tool][1]:>12,}"
                        f" {kept:>16.3f} {new:>15.3f}"
                    )
                for base in ("recipe", "uv"):
                    ours, other = figures["ours"], figures[base]
                    print(
                        f"{'':<24} {'':<10} ours/{base:<6} zipped {ours[0] / other[0]:.2f}"
                        f"  unzipped {ours[1] / other[1]:.2f}  import kept {ours[2] / other[2]:.2f}"
                        f"  import new {ours[3] / other[3]:.2f}"
                    )
            sys.stdout.flush()


if __name__ == "__main__":
    main()
