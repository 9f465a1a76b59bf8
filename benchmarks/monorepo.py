"""Many functions (issue 35): ``build --all`` against the union built once and a per-function loop.

Generates a SAM repository of --functions functions whose requirements are drawn (fixed
seed) from benchmarks/corpus.txt in three families — data, web, AWS-heavy — plus a few
common small libraries, spread round-robin over --target pairs (default: two runtimes,
both CPUs). Then, side by side in one run, each with every cache empty where it says cold:

- "union once": ``lambdalayer build -r union.txt --target ...`` — the union of every
  function's requirements, built once per target (cold);
- "build --all" cold (every cache empty) and warm (the same command again);
- "per-function loop": for each function ``uv pip install --target`` for its runtime and
  CPU + ``zip -qr`` (cold uv cache at the start of the loop) — one self-contained zip per
  function, the bytes a team uploads without shared layers.

Prints medians of --repeat runs and the goals: cold ≤ 1.5 x union once; warm ≤ 5 s; bytes
to upload (every artefact of the plan, zipped) ≤ 0.5 x one zip per function; no function
over the quota. Beside the plan's bytes, their lower bound: every distinct (target,
distribution) of the plan's own zips counted once, and each function's code (members
attributed to a distribution by its RECORD, a .pyc by its source; the members' compressed
bytes with their zip headers) — what any plan of these artefacts would upload at least. Ours run with --bytecode and --no-check as given (the baseline compiles
and checks nothing).

    nice -n 10 python benchmarks/monorepo.py --functions 30 --repeat 1
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path, PurePosixPath

from uv import find_uv_bin

HERE = Path(__file__).resolve().parent
MACHINE = {"x86_64": "x86_64", "arm64": "aarch64"}
UV_PLATFORM = {"python3.10": "2_17", "python3.11": "2_17"}  # as build_vs_recipe.py says why
FAMILIES = {
    "data": ["numpy", "pandas", "pyarrow", "scipy", "python-dateutil", "pytz"],
    "web": ["requests", "pydantic", "fastapi", "jinja2", "httpx", "markupsafe", "starlette"],
    "aws": ["boto3", "aiobotocore", "s3fs", "jmespath", "s3transfer", "aws-lambda-powertools"],
}
COMMON = ["pyyaml", "attrs", "python-dotenv", "pyjwt", "click", "rich", "tenacity"]
DEFAULT_TARGETS = ["python3.12-x86_64", "python3.12-arm64", "python3.11-x86_64", "python3.11-arm64"]


def corpus() -> set[str]:
    lines = (HERE / "corpus.txt").read_text().splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


def generate(root: Path, count: int, targets: list[str], seed: int) -> dict[str, list[str]]:
    """A SAM repository of ``count`` functions; returns each function's requirements."""
    known = corpus()
    rng = random.Random(seed)  # noqa: S311 - a fixed sample of the corpus, not a secret
    families = {name: [p for p in names if p in known] for name, names in FAMILIES.items()}
    common = [name for name in COMMON if name in known]
    body = []
    functions: dict[str, list[str]] = {}
    for index in range(count):
        family = sorted(families)[index % len(families)]
        picks = rng.sample(families[family], k=min(len(families[family]), rng.randint(1, 3)))
        if {"pyarrow", "scipy"} <= set(picks):  # together over 250 MB: an image, not a zip
            picks.remove("scipy")
        picks += rng.sample(common, k=rng.randint(0, 2))
        name = f"Fn{index:02d}{family.capitalize()}"
        runtime, arch = targets[index % len(targets)].rsplit("-", 1)
        code = root / name.lower()
        code.mkdir(parents=True)
        (code / "app.py").write_text("def handler(event, context):\n    return {}\n")
        (code / "requirements.txt").write_text("\n".join(sorted(picks)) + "\n")
        functions[name] = sorted(picks)
        body.append(
            f"  {name}:\n    Type: AWS::Serverless::Function\n    Properties:\n"
            f"      CodeUri: {name.lower()}/\n      Handler: app.handler\n"
            f"      Runtime: {runtime}\n      Architectures: [{arch}]\n"
        )
    header = 'AWSTemplateFormatVersion: "2010-09-09"\nTransform: AWS::Serverless-2016-10-31\n'
    (root / "template.yaml").write_text(header + "Resources:\n" + "".join(body))
    return functions


_PYC = re.compile(r"^(?:(.*)/)?__pycache__/([^/.]+)\.[^/]+\.pyc$")
_LAYER_PREFIX = re.compile(r"^python/(?:lib/python3\.\d+/site-packages/)?")


def distribution_bytes(path: Path) -> dict[str | None, int]:
    """Each distribution's bytes in the zip at ``path`` (its members compressed, with their
    local and central headers), by its dist-info name; the rest (a function's code): None."""
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        owner: dict[str, str] = {}
        for info in infos:
            name = _LAYER_PREFIX.sub("", info.filename)
            if not name.endswith(".dist-info/RECORD"):
                continue
            dist = name.split("/")[0].removesuffix(".dist-info")
            for line in archive.read(info).decode("utf-8", "replace").splitlines():
                member = line.rsplit(",", 2)[0] if line.strip() else ""
                parts = PurePosixPath(member).parts
                if member and ".." not in parts:
                    owner.setdefault(member, dist)
                    for depth in range(1, len(parts)):
                        owner.setdefault("/".join(parts[:depth]) + "/", dist)
        sizes: dict[str | None, int] = {}
        for info in infos:
            name = _LAYER_PREFIX.sub("", info.filename)
            pyc = _PYC.match(name)
            source = (
                f"{pyc.group(1) + '/' if pyc.group(1) else ''}{pyc.group(2)}.py" if pyc else name
            )
            dist = owner.get(source) or owner.get(name)
            parts = PurePosixPath(name).parts
            for depth in range(len(parts) - 1, 0, -1):
                if dist is not None:
                    break
                dist = owner.get("/".join(parts[:depth]) + "/")
            headers = 30 + 46 + 2 * len(info.filename.encode()) + len(info.extra)
            sizes[dist] = sizes.get(dist, 0) + info.compress_size + headers
    return sizes


def lower_bound(artefacts: list[dict]) -> tuple[int, int]:
    """(bytes, distinct distributions): every distinct (target, distribution) of the plan's
    zips once, plus each zip's own code."""
    once: dict[tuple[str, str], int] = {}
    code = 0
    for artefact in artefacts:
        for dist, size in distribution_bytes(Path(artefact["zip"])).items():
            if dist is None:
                code += size
            else:
                once[(artefact["target"], dist)] = min(
                    size, once.get((artefact["target"], dist), size)
                )
    return code + sum(once.values()), len(once)


def timed(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1) or not done.stdout.strip():
        raise SystemExit(f"failed ({done.returncode}): {' '.join(command)}\n{done.stderr[-3000:]}")
    return seconds, done.stdout


def fresh_env(work: Path, name: str) -> dict[str, str]:
    cache = work / f"cache-{name}"
    shutil.rmtree(cache, ignore_errors=True)
    return {**os.environ, "LAMBDALAYER_CACHE_DIR": str(cache), "UV_CACHE_DIR": str(cache / "uv")}


def union_once(work: Path, repo: Path, functions: dict[str, list[str]], targets, recipe) -> float:
    union = sorted({name for picks in functions.values() for name in picks})
    (work / "union.txt").write_text("\n".join(union) + "\n")
    shutil.rmtree(work / "union-out", ignore_errors=True)
    env = fresh_env(work, "union")
    command = [
        "lambdalayer",
        "build",
        "-r",
        str(work / "union.txt"),
        "--output-dir",
        str(work / "union-out"),
        "--json",
        *recipe,
    ]
    for target in targets:
        command += ["--target", target]
    return timed(command, env, repo)[0]


def build_all(work: Path, repo: Path, env: dict[str, str], recipe: list[str]) -> tuple[float, dict]:
    command = [
        "lambdalayer",
        "build",
        "--all",
        "--output-dir",
        str(work / "all-out"),
        "--json",
        *recipe,
    ]
    seconds, out = timed(command, env, repo)
    return seconds, json.loads(out)


def per_function_loop(
    work: Path, repo: Path, functions: dict[str, list[str]], targets: list[str]
) -> tuple[float, int]:
    """uv pip install --target + zip for every function; (seconds, bytes of the zips)."""
    env = {**os.environ, "UV_CACHE_DIR": str(work / "uv-loop")}
    shutil.rmtree(work / "uv-loop", ignore_errors=True)
    shutil.rmtree(work / "loop", ignore_errors=True)
    started, total = time.perf_counter(), 0
    for index, (name, picks) in enumerate(functions.items()):
        runtime, arch = targets[index % len(targets)].rsplit("-", 1)
        version = runtime.removeprefix("python")
        tree = work / "loop" / name
        shutil.copytree(repo / name.lower(), tree)
        platform = f"{MACHINE[arch]}-manylinux_{UV_PLATFORM.get(runtime, '2_34')}"
        subprocess.run(
            [
                find_uv_bin(),
                "pip",
                "install",
                "--quiet",
                "--target",
                str(tree),
                "--python-version",
                version,
                "--python-platform",
                platform,
                "--only-binary",
                ":all:",
                *picks,
            ],
            env=env,
            check=True,
            capture_output=True,
        )
        out = work / "loop" / f"{name}.zip"
        subprocess.run(["zip", "-qr", str(out), "."], cwd=tree, check=True, env=env)
        total += out.stat().st_size
    return time.perf_counter() - started, total


def s3_goal(work: Path, targets: list[str], recipe: list[str]) -> tuple[float, float]:
    """pandas + pyarrow: a cold build, and a fresh machine (empty local cache) with a warm S3
    cache (moto's server on 127.0.0.1, filled by a first machine); (cold, fresh) seconds."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    aws = {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "LAMBDALAYER_CACHE_KEY": "bench-team-key-" + "0" * 32,
    }
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",  # noqa: S106 - moto on 127.0.0.1 takes any
    ).create_bucket(Bucket="fleet")
    repo = work / "pandas-repo"
    shutil.rmtree(repo, ignore_errors=True)
    code = repo / "fn"
    code.mkdir(parents=True)
    (code / "app.py").write_text("def handler(event, context):\n    return {}\n")
    (code / "requirements.txt").write_text("pandas\npyarrow\n")
    runtime, arch = targets[0].rsplit("-", 1)
    (repo / "template.yaml").write_text(
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  Fn:\n"
        "    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: fn/\n"
        f"      Handler: app.handler\n      Runtime: {runtime}\n      Architectures: [{arch}]\n"
    )
    shared = ["--cache-url", "s3://fleet/ci", "--endpoint-url", endpoint]
    try:
        results = []
        for name, extra in (("cold", []), ("filler", shared), ("fresh", shared)):
            env = {**fresh_env(work, f"s3-{name}"), **aws}
            out = work / f"s3-out-{name}"
            shutil.rmtree(out, ignore_errors=True)
            command = [
                "lambdalayer",
                "build",
                "--all",
                "--output-dir",
                str(out),
                "--json",
                *recipe,
                *extra,
            ]
            results.append(timed(command, env, repo)[0])
        return results[0], results[2]
    finally:
        server.stop()


def print_table(title: str, median: dict[str, float], document: dict, loop_bytes: int) -> None:
    """The goals' table (markdown), from the medians and the cold build's JSON document."""
    bound, distinct = lower_bound(document.get("artefacts", []))
    uploaded = sum(a.get("zipped_bytes", 0) for a in document.get("artefacts", []))
    layers = sum(1 for a in document.get("artefacts", []) if a["kind"] == "layer")
    print()
    print(f"| {title} | seconds | ratio | goal |")
    print("|---|---|---|---|")
    print(f"| union built once (cold) | {median['union']:.1f} | | |")
    print(f"| per-function uv + zip loop (cold uv cache) | {median['loop']:.1f} | | |")
    print(
        f"| build --all cold | {median['cold']:.1f} | {median['cold'] / median['union']:.2f} x union | ≤ 1.5 |"
    )
    print(f"| build --all warm | {median['warm']:.2f} | | ≤ 5 s |")
    print(
        f"| bytes to upload: plan ({layers} shared layers) / one zip per function | {uploaded:,} / {loop_bytes:,} | {uploaded / max(1, loop_bytes):.2f} | ≤ 0.5 |"
    )
    print(
        f"| bytes to upload: lower bound ({distinct} distinct target x distribution, once) / one zip per function | {bound:,} / {loop_bytes:,} | {bound / max(1, loop_bytes):.2f} | |"
    )
    print(f"| bytes to upload: plan / lower bound | | {uploaded / max(1, bound):.3f} | |")
    print(f"| functions over the quota | {len(document.get('over_quota', []))} | | 0 |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--functions", type=int, default=30)
    parser.add_argument("--target", action="append", default=[])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--seed", type=int, default=35)
    parser.add_argument("--bytecode", default="unchecked-hash")
    parser.add_argument("--check", action="store_true", help="check every artefact (default: no)")
    parser.add_argument("--no-s3", action="store_true", help="skip the shared-cache goal")
    args = parser.parse_args()
    targets = args.target or DEFAULT_TARGETS
    recipe = ["--bytecode", args.bytecode, *([] if args.check else ["--no-check"])]
    work = Path(tempfile.mkdtemp(prefix="monorepo-"))
    repo = work / "repo"
    functions = generate(repo, args.functions, targets, args.seed)
    print(f"{len(functions)} functions over {', '.join(targets)}; work in {work}", flush=True)
    runs: dict[str, list[float]] = {"union": [], "cold": [], "warm": [], "loop": []}
    if args.repeat == 0:  # the shared-cache goal alone
        cold, fresh = s3_goal(work, targets, recipe)
        print(
            f"pandas + pyarrow: fresh machine with a warm S3 cache {fresh:.1f} s, cold {cold:.1f} s: {fresh / cold:.2f} (goal <= 0.3)"
        )
        return
    document: dict = {}
    loop_bytes = 0
    for _ in range(args.repeat):
        runs["union"].append(union_once(work, repo, functions, targets, recipe))
        print(f"union once: {runs['union'][-1]:.1f} s", flush=True)
        env = fresh_env(work, "all")
        shutil.rmtree(work / "all-out", ignore_errors=True)
        seconds, document = build_all(work, repo, env, recipe)
        runs["cold"].append(seconds)
        runs["warm"].append(build_all(work, repo, env, recipe)[0])
        print(
            f"build --all cold {runs['cold'][-1]:.1f} s, warm {runs['warm'][-1]:.1f} s", flush=True
        )
        seconds, loop_bytes = per_function_loop(work, repo, functions, targets)
        runs["loop"].append(seconds)
        print(f"per-function loop: {seconds:.1f} s", flush=True)
    median = {name: statistics.median(values) for name, values in runs.items()}
    print_table(f"{len(functions)} functions, {len(targets)} targets", median, document, loop_bytes)
    if not args.no_s3:
        cold, fresh = s3_goal(work, targets, recipe)
        print(
            f"| pandas + pyarrow: fresh machine, warm S3 / cold | {fresh:.1f} / {cold:.1f} | {fresh / cold:.2f} | <= 0.3 |"
        )
    print(f"build --all ok: {document.get('ok')}")


if __name__ == "__main__":
    sys.exit(main())
