"""Container images: ``lambdalayer image build`` against uv + a tar of the tree, in one run.

The nearest Docker-free baseline, measured side by side with ours:

- "uv + tar": ``uv pip install --target var/lang/lib/python3.12/site-packages
  --python-version 3.12 --python-platform x86_64-manylinux_2_34 --only-binary :all: REQS``
  then ``tar -czf`` of the tree (one layer, as ``COPY`` of it would make);
- ours: ``lambdalayer image build REQS -o image.tar`` on a stand-in base (the x86_64
  stand-in root of the tests as a one-layer OCI image, made by umoci; AWS's is not
  reachable here), with its defaults: slimming, bytecode, the check inside the base.

"cold" is every cache empty (ours and uv's; the base's blobs too), "warm" the same command
again. Then a push: the image to a registry on 127.0.0.1 (Debian's docker-registry), and
again with one requirement added (``six``): the bytes sent against the image's dependency
layers. The baseline's single layer would be sent whole again.

    python benchmarks/image_build.py --repeat 3 pandas pyarrow scikit-learn

Needs umoci and docker-registry (apt-get). Prints medians of --repeat runs and the ratios.
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
from pathlib import Path

from uv import find_uv_bin

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))


def timed(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode:
        sys.exit(f"failed: {' '.join(command)}\n{done.stderr[-2000:]}")
    return seconds, done.stdout


def uv_tar(work: Path, packages: list[str], uv_cache: Path) -> tuple[float, int, int]:
    """Seconds, tar.gz bytes and tree bytes of uv + tar."""
    tree = work / "uvtree"
    shutil.rmtree(tree, ignore_errors=True)
    site = tree / "var/lang/lib/python3.12/site-packages"
    site.mkdir(parents=True)
    env = {**os.environ, "UV_CACHE_DIR": str(uv_cache), "UV_PYTHON_DOWNLOADS": "never"}
    out = work / "uv-layer.tar.gz"
    started = time.perf_counter()
    timed(
        [find_uv_bin(), "pip", "install", "--quiet", "--target", str(site), "--python-version",
         "3.12", "--python-platform", "x86_64-manylinux_2_34", "--only-binary", ":all:",
         *packages],
        env,
        work,
    )  # fmt: skip
    timed(["tar", "-czf", str(out), "-C", str(tree), "var"], env, work)
    seconds = time.perf_counter() - started
    size = sum(path.stat().st_size for path in tree.rglob("*") if path.is_file())
    return seconds, out.stat().st_size, size


def ours(
    work: Path, packages: list[str], base: Path, cache: Path, *extra: str
) -> tuple[float, dict]:
    env = {**os.environ, "UV_CACHE_DIR": str(cache / "uv"), "DOCKER_CONFIG": str(work / "none")}
    seconds, out = timed(
        [sys.executable, "-m", "lambdalayer", "image", "build", *packages, "--runtime",
         "python3.12", "--base", str(base), "--cache-dir", str(cache), "--json", *extra],
        env,
        work,
    )  # fmt: skip
    return seconds, json.loads(out)


def standin_base(work: Path) -> Path:
    from ocitools import make_base_layout
    from standin import x86_64_standin

    from lambdalayer.interpreters import find_interpreter

    found = find_interpreter("3.12")
    if found is None or shutil.which("umoci") is None:
        sys.exit("needs a CPython 3.12 here and umoci (apt-get install umoci)")
    root = work / "standin-root"
    root.mkdir()
    x86_64_standin(root, found.path.resolve().parent.parent, "3.12")
    return make_base_layout(root, work / "base-layout", "3.12", "amd64")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("packages", nargs="*", default=["pandas", "pyarrow", "scikit-learn"])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from ocitools import REGISTRY, DistributionRegistry

    if REGISTRY is None:
        sys.exit("needs docker-registry (apt-get install docker-registry)")
    print(f"$ python benchmarks/image_build.py --repeat {args.repeat} {' '.join(args.packages)}")
    with tempfile.TemporaryDirectory(prefix="bench-image-") as scratch:
        work = Path(scratch)
        base = standin_base(work)
        rows: dict[str, list[float]] = {}
        sizes: dict[str, int] = {}
        for number in range(args.repeat):
            cold_uv = work / f"uv-cache-{number}"
            seconds, gz, tree = uv_tar(work, args.packages, cold_uv)
            rows.setdefault("uv + tar cold", []).append(seconds)
            rows.setdefault("uv + tar warm", []).append(uv_tar(work, args.packages, cold_uv)[0])
            sizes.update({"uv + tar: layer gzip": gz, "uv + tar: tree": tree})
            cache = work / f"cache-{number}"
            image = work / "image.tar"
            seconds, built = ours(work, args.packages, base, cache, "-o", str(image))
            rows.setdefault("ours cold", []).append(seconds)
            seconds, again = ours(work, args.packages, base, cache, "-o", str(image))
            rows.setdefault("ours warm", []).append(seconds)
            assert again["digest"] == built["digest"], "a warm build gave another image"
            dependencies = [
                layer for layer in built["layers"] if layer["what"] != "the function's code"
            ]
            sizes["ours: dependency layers gzip"] = sum(layer["size"] for layer in dependencies)
            sizes["ours: dependency layers tar"] = sum(layer["unzipped"] for layer in dependencies)
            sizes["ours: archive"] = built["archive_bytes"]
        (work / "registry").mkdir()
        with DistributionRegistry(work / "registry") as registry:
            destination = f"{registry.host}/bench/fn:v1"
            _, first = ours(work, args.packages, base, cache, "--push", destination)
            _, changed = ours(work, [*args.packages, "six"], base, cache, "--push", destination)
        print(f"{'':<32} {'median s':>9} {'x uv + tar':>11}")
        for name, values in rows.items():
            baseline = statistics.median(rows[f"uv + tar {name.split()[-1]}"])
            print(
                f"{name:<32} {statistics.median(values):>9.2f} {statistics.median(values) / baseline:>11.2f}"
            )
        for name, value in sizes.items():
            print(f"{name:<32} {value:>14,} bytes")
        dependency_bytes = sizes["ours: dependency layers gzip"]
        sent = changed["pushed"]["uploaded_bytes"]
        print(
            f"first push: {first['pushed']['uploaded_bytes']:,} bytes in {first['pushed']['uploaded_blobs']} blobs"
        )
        print(
            f"push with six added: {sent:,} bytes in {changed['pushed']['uploaded_blobs']} blobs"
            f" = {sent / dependency_bytes:.1%} of the dependency layers ({dependency_bytes:,});"
            f" {changed['pushed']['present_blobs']} blobs already there"
        )
        print(
            "layers:",
            ", ".join(f"{layer['what']} {layer['size']:,}" for layer in changed["layers"]),
        )


if __name__ == "__main__":
    main()
