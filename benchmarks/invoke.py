"""Cold ``lambdalayer invoke``: Init Duration against the handler's bare import, one run.

For each function (FastAPI + Mangum; a handler importing pandas and pyarrow.parquet) two
layers are built by ``lambdalayer build`` side by side: with its default bytecode
(unchecked-hash .pyc compiled for the target) and with ``--bytecode none`` (the source
only, what ``pip install --target`` zips hold when the .pyc are left out). Then, --runs
times each:

- cold invoke: ``lambdalayer invoke --json`` in a fresh process (a new execution
  environment every time), its REPORT line's Init Duration (the runtime's start, the
  handler module's import; what Lambda bills since August 2025) and the command's wall time;
- bare import: the handler module imported by the same CPython with ``-I -S``, the layer
  extracted read-only and put on the path as Lambda does (no sandbox, no runtime client):
  the floor that Init Duration cannot go below.

Medians are printed with the ratios init/import and with/without bytecode.

    python benchmarks/invoke.py --runs 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from lambdalayer.interpreters import find_interpreter

FUNCTIONS: dict[str, tuple[list[str], str]] = {
    "fastapi+mangum": (
        ["fastapi", "mangum"],
        "from fastapi import FastAPI\nfrom mangum import Mangum\n\napp = FastAPI()\n\n\n"
        '@app.get("/items/{item_id}")\ndef read_item(item_id: int) -> dict[str, int]:\n'
        '    return {"item_id": item_id}\n\n\nhandler = Mangum(app, lifespan="off")\n',
    ),
    "pandas+pyarrow": (
        ["pandas", "pyarrow"],
        "import pandas, pyarrow.parquet\n\n\ndef handler(event, context):\n"
        "    return {'rows': len(pandas.DataFrame({'a': [1, 2]}))}\n",
    ),
}
IMPORT_CODE = """\
import sys, time, importlib
sys.path[:0] = sys.argv[1:4]
started = time.perf_counter()
importlib.import_module("app")
print(time.perf_counter() - started)
"""
RUNTIME, VERSION = "python3.12", "3.12"


def lambdalayer(*args: str) -> subprocess.CompletedProcess[str]:
    """``lambdalayer ARGS`` in a fresh process."""
    return subprocess.run(
        [sys.executable, "-m", "lambdalayer", *args], capture_output=True, text=True, check=False
    )


def build(work: Path, name: str, packages: list[str], bytecode: str, cache: Path) -> Path:
    out = work / f"{name}-{bytecode}.zip"
    done = lambdalayer(
        "build", *packages, "--runtime", RUNTIME, "--bytecode", bytecode,
        "--cache-dir", str(cache), "-o", str(out),
    )  # fmt: skip
    if done.returncode:
        sys.exit(f"build failed: {done.stderr[-400:]}")
    return out


def cold_invoke(function: Path, layer: Path, event: Path, cache: Path) -> tuple[float, float]:
    """One cold invocation: (Init Duration in ms, wall seconds of the command)."""
    started = time.perf_counter()
    done = lambdalayer(
        "invoke", "app.handler", "--function", str(function), "--layer", str(layer),
        "--runtime", RUNTIME, "--memory", "1024", "--timeout", "60", "--event", str(event),
        "--cache-dir", str(cache), "--json",
    )  # fmt: skip
    wall = time.perf_counter() - started
    if done.returncode:
        sys.exit(f"invoke failed: {done.stdout[-400:]} {done.stderr[-400:]}")
    [invocation] = json.loads(done.stdout)["invocations"]
    return float(invocation["init_duration_ms"]), wall


def bare_import(python: Path, function: Path, layer: Path) -> float:
    """Seconds to import the handler module with the layer read-only on Lambda's path."""
    with tempfile.TemporaryDirectory(prefix="bench-opt-") as scratch:
        opt = Path(scratch)
        with zipfile.ZipFile(layer) as archive:
            archive.extractall(opt)
        for path in opt.rglob("*"):
            path.chmod(0o555 if path.is_dir() else 0o444)
        site = opt / f"python/lib/python{VERSION}/site-packages"
        try:
            done = subprocess.run(
                [str(python), "-I", "-S", "-c", IMPORT_CODE, str(function), str(opt / "python"),
                 str(site)],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
        finally:
            for path in opt.rglob("*"):
                path.chmod(0o755)
        return float(done.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--functions", nargs="+", default=list(FUNCTIONS), choices=FUNCTIONS)
    args = parser.parse_args()
    found = find_interpreter(VERSION)
    if found is None:
        sys.exit(f"no CPython {VERSION} here")
    print(f"$ python benchmarks/invoke.py --runs {args.runs}")
    print(f"runtime {RUNTIME} x86_64, medians of {args.runs}, CPython {found.path}")
    print(
        f"{'function':<16} {'bytecode':<14} {'init ms':>9} {'import ms':>10} {'init/import':>12}"
        f" {'wall s':>7}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-invoke-") as scratch:
        work = Path(scratch)
        cache = Path(os.environ.get("LAMBDALAYER_BENCH_CACHE", work / "cache"))
        event = work / "event.json"
        event.write_text(lambdalayer("invoke", "--sample", "apigw-v2").stdout)
        for name in args.functions:
            packages, source = FUNCTIONS[name]
            function = work / name / "src"
            function.mkdir(parents=True)
            (function / "app.py").write_text(source)
            inits: dict[str, float] = {}
            for bytecode in ("unchecked-hash", "none"):
                layer = build(work / name, name, packages, bytecode, cache)
                invoked = [cold_invoke(function, layer, event, cache) for _ in range(args.runs)]
                imports = [bare_import(found.path, function, layer) for _ in range(args.runs)]
                init = statistics.median(ms for ms, _ in invoked)
                imported = statistics.median(imports) * 1000
                wall = statistics.median(seconds for _, seconds in invoked)
                inits[bytecode] = init
                print(
                    f"{name:<16} {bytecode:<14} {init:>9.0f} {imported:>10.0f}"
                    f" {init / imported:>12.2f} {wall:>7.2f}"
                )
            print(
                f"{name:<16} init with bytecode / without:"
                f" {inits['unchecked-hash'] / inits['none']:.2f}"
            )


if __name__ == "__main__":
    main()
