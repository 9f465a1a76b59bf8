"""Regenerate src/lambdalayer/data/aws_sdk_pandas.toml: what each managed layer release contains.

The "AWS SDK for pandas" layer (AWSSDKPandas-Python3NN[-Arm64]) is built by the project's
building/lambda/build-lambda-layer.sh: ``pip install awswrangler[redshift,mysql,postgres,
gremlin,opensearch,openpyxl]`` for the runtime's Python (numpy, pandas and pyarrow built
from source, so wheel availability does not limit their versions), then boto3, botocore,
s3transfer and urllib3 are removed (the runtime provides them). This script reproduces
that resolution with uv for every runtime and architecture of lambdalayer's table, as of
the release's upload date (``--exclude-newer``), and writes one table per target.

    python scripts/regenerate_aws_sdk_pandas.py 3.17.1 [3.17.0 ...]
    python scripts/regenerate_aws_sdk_pandas.py --sizes-only   # keep the pins, recompute sizes

Per release it also records the unzipped size of each target's packages (the sum of
their wheels' files, downloaded into the wheel cache), which ``check`` counts toward the
262,144,000-byte quota beneath a layer built ``--on-top-of aws-sdk-pandas``.

Needs the public package index. Runtimes the release does not support are skipped.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import subprocess
import sys
import tempfile
import tomllib
import urllib.request
from pathlib import Path

from packaging.utils import canonicalize_name
from uv import find_uv_bin

from lambdalayer.cache import cache_root
from lambdalayer.inputs.requirements import Requirements
from lambdalayer.layer.assemble import assemble
from lambdalayer.layer.slim import SlimOptions, slim
from lambdalayer.net.fetch import WheelCache, fetch
from lambdalayer.net.index import IndexConfig
from lambdalayer.resolve.resolver import best_wheel, run_uv_compile
from lambdalayer.targets import Target, all_targets, get_target, runtimes

EXTRAS = "redshift,mysql,postgres,gremlin,opensearch,openpyxl"
LEFT_TO_RUNTIME = ("boto3", "botocore", "s3transfer", "urllib3")
DATA = Path(__file__).resolve().parents[1] / "src" / "lambdalayer" / "data" / "aws_sdk_pandas.toml"


def upload_date(version: str) -> datetime.date:
    request = urllib.request.Request(
        "https://pypi.org/simple/awswrangler/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        files = json.load(response)["files"]
    times = [
        item["upload-time"]
        for item in files
        if item["filename"].startswith(f"awswrangler-{version}-")
    ]
    if not times:
        raise SystemExit(f"awswrangler {version} has no wheel on the index")
    return datetime.date.fromisoformat(min(times)[:10])


def resolve(
    version: str, python: str, platform: str, as_of: datetime.date
) -> dict[str, str] | None:
    with tempfile.TemporaryDirectory() as scratch:
        requirements = Path(scratch) / "requirements.in"
        requirements.write_text(f"awswrangler[{EXTRAS}]=={version}\n")
        output = Path(scratch) / "requirements.txt"
        completed = subprocess.run(
            [
                find_uv_bin(),
                "pip",
                "compile",
                str(requirements),
                "--python-version",
                python,
                "--python-platform",
                platform,
                "--exclude-newer",
                (as_of + datetime.timedelta(days=1)).isoformat(),
                "--no-header",
                "--no-annotate",
                "--quiet",
                "--no-python-downloads",
                "-o",
                str(output),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if completed.returncode != 0:
            return None
        pins = {}
        for line in output.read_text().splitlines():
            if "==" in line and not line.startswith(("#", " ")):
                name, _, rest = line.partition("==")
                pins[canonicalize_name(name)] = rest.split(";")[0].strip()
    return {name: pin for name, pin in sorted(pins.items()) if name not in LEFT_TO_RUNTIME}


def unzipped_bytes(pins: dict[str, str], target: Target, cache: Path) -> int:
    """An estimate of the layer's unzipped size for ``target``: its wheels, slimmed as we would.

    AWS builds the layer from source with pip and then removes tests and debug symbols;
    its real size is not published. Laying the pinned versions' wheels out and slimming
    them with lambdalayer's default rules (strip included) approximates that; it is what
    ``check`` counts beneath a layer built ``--on-top-of aws-sdk-pandas``.
    """
    requirements = Requirements(
        specifiers=tuple(f"{name}=={pin}" for name, pin in pins.items()), pinned_by="aws-sdk-pandas"
    )
    with tempfile.TemporaryDirectory() as scratch:
        lock = run_uv_compile(requirements, target, IndexConfig(), Path(scratch))
    wheels = []
    for package in lock.packages:
        chosen = best_wheel(package.wheels, target) or (
            package.wheels[0] if package.wheels else None
        )
        if chosen is not None:
            wheels.append(chosen)
    report = fetch(wheels, WheelCache(cache))
    # Laid out for a target every wheel uv chose fits (for AL2 uv resolves at 2_28): only
    # the sizes matter here.
    entries = assemble([item.path for item in report.wheels], _loose(target)).entries
    return sum(entry.size for entry in slim(entries, target, SlimOptions()).entries)


def _loose(target: Target) -> Target:
    """``target`` with the highest glibc floor of the table: every wheel uv chose fits it."""
    highest = max(runtime.glibc for runtime in runtimes())
    return Target(dataclasses.replace(target.runtime, glibc=highest), target.arch)


def _render(releases: list[dict[str, object]]) -> str:
    lines = [
        "# What each release of the AWS SDK for pandas managed layer contains, per target.",
        "# Generated by scripts/regenerate_aws_sdk_pandas.py; do not edit by hand.",
        'account = "336392948345"  # publishes the layers in most regions (opt-in and China regions differ)',
        f"extras = {json.dumps(EXTRAS)}",
        f"left_to_runtime = {json.dumps(list(LEFT_TO_RUNTIME))}",
    ]
    for release in releases:
        lines += [
            "",
            "[[release]]",
            f'version = "{release["version"]}"',
            f'released = "{release["released"]}"',
        ]
        sizes = release.get("unzipped_bytes") or {}
        if not isinstance(sizes, dict):
            raise SystemExit(f"malformed data in {DATA}")
        if sizes:
            lines.append(
                "# unzipped bytes of the wheels of its pins, per target (a lower bound: no bytecode)"
            )
            lines.append(
                "unzipped_bytes = { "
                + ", ".join(f'"{name}" = {size}' for name, size in sizes.items())
                + " }"
            )
        targets = release["targets"]
        if not isinstance(targets, dict):
            raise SystemExit(f"malformed data in {DATA}")
        for name, pins in targets.items():
            lines.append(f'[release.targets."{name}"]')
            lines += [f'"{package}" = "{pin}"' for package, pin in pins.items()]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("versions", nargs="*")
    parser.add_argument(
        "--sizes-only",
        action="store_true",
        help="keep the data's pins; (re)compute every release's unzipped sizes (downloads the wheels)",
    )
    parser.add_argument("--cache-dir", type=Path, default=cache_root())
    args = parser.parse_args()
    releases: list[dict[str, object]] = []
    if args.sizes_only:
        releases = tomllib.loads(DATA.read_text())["release"]
    for version in args.versions:
        as_of = upload_date(version)
        targets: dict[str, dict[str, str]] = {}
        for target in all_targets():
            pins = resolve(version, target.runtime.python_version, target.uv_platform, as_of)
            if pins is None:
                print(f"{version} {target.name}: does not resolve, skipped", file=sys.stderr)
                continue
            targets[target.name] = pins
            print(f"{version} {target.name}: {len(pins)} packages", file=sys.stderr)
        releases.append({"version": version, "released": as_of.isoformat(), "targets": targets})
    for release in releases:
        release_targets = release["targets"]
        if not isinstance(release_targets, dict):
            raise SystemExit(f"malformed data in {DATA}")
        release["unzipped_bytes"] = {
            name: unzipped_bytes(pins, get_target(*name.split("-")), args.cache_dir)
            for name, pins in release_targets.items()
        }
        print(f"{release['version']}: sizes {release['unzipped_bytes']}", file=sys.stderr)
    DATA.write_text(_render(releases))
    print(f"wrote {DATA}", file=sys.stderr)


if __name__ == "__main__":
    main()
