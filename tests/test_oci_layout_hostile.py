"""Hostile OCI image layouts given as ``--base``: every file of a layout read as a regular
file and to a bound. A link to a device, a FIFO, a directory or a huge file where
``oci-layout``, ``index.json`` or a blob must be is one ``error:`` line — never a
``MemoryError``, a hang on a FIFO or an endless copy into the cache.

Each case runs in a child process whose address space is capped, with a time limit, and
its peak memory is asserted (at most 300 MiB).
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

MIB = 1024 * 1024
CHILD = """
import sys
from pathlib import Path
from lambdalayer.container.base import resolve_base
from lambdalayer.errors import LambdaLayerError
from lambdalayer.blobstore import BlobStore
from lambdalayer.oci.credentials import no_credentials
from lambdalayer.targets import get_target
try:
    resolve_base(sys.argv[1], get_target("python3.12", "x86_64"), BlobStore(Path(sys.argv[2])), no_credentials)
except LambdaLayerError as error:
    print(f"error: {error.message}", file=sys.stderr)
    sys.exit(1)
finally:
    # its own peak (VmHWM): RUSAGE_CHILDREN in the test is every earlier child's maximum, and
    # ru_maxrss here would keep the size of the test process this child was forked from
    with open("/proc/self/status") as status:
        peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    print(f"peak-rss-kib {peak}", file=sys.stderr)
print("ok")
"""


def _digest(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def layout_with(root: Path, *, config_size_lie: bool = False) -> dict[str, Path]:
    """A valid one-image layout; returns where its files are, for a test to spoil one."""
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": _digest(config),
                "size": len(config) + (1 if config_size_lie else 0),
            },
            "layers": [],
        }
    ).encode()
    index = json.dumps(
        {
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": _digest(manifest),
                    "size": len(manifest),
                }
            ],
        }
    ).encode()
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (root / "index.json").write_bytes(index)
    (blobs / _digest(config).removeprefix("sha256:")).write_bytes(config)
    (blobs / _digest(manifest).removeprefix("sha256:")).write_bytes(manifest)
    return {
        "oci-layout": root / "oci-layout",
        "index.json": root / "index.json",
        "manifest": blobs / _digest(manifest).removeprefix("sha256:"),
        "config": blobs / _digest(config).removeprefix("sha256:"),
        "blobs": blobs,
    }


def run_child(layout: Path, cache: Path) -> tuple[int, str, int]:
    """The base read in a child (address space capped at 1 GiB, 60 s): (code, stderr, peak RSS)."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1024 * MIB, 1024 * MIB))

    try:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(layout), str(cache)],
            capture_output=True,
            text=True,
            preexec_fn=cap,
            timeout=60,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return -1, "timed out (a FIFO waited on, or an endless copy)", 0
    lines = done.stderr.splitlines()
    peaks = [int(line.split()[1]) for line in lines if line.startswith("peak-rss-kib ")]
    err = "\n".join(line for line in lines if not line.startswith("peak-rss-kib "))
    return done.returncode, err, (peaks[-1] if peaks else 0) * 1024


def _spoil(place: Path, how: str, outside: Path) -> None:
    if place.is_dir():
        for child in place.iterdir():
            child.unlink()
        place.rmdir()
    else:
        place.unlink()
    if how == "dev-zero":
        place.symlink_to("/dev/zero")
    elif how == "fifo":
        os.mkfifo(place)
    elif how == "directory":
        place.mkdir()
    elif how == "huge":
        with place.open("wb") as out:
            out.truncate(6 * 1024**3)  # sparse: 6 GiB read as zeros
    elif how == "link-outside":
        place.symlink_to(outside)


@pytest.mark.parametrize("how", ["dev-zero", "fifo", "directory", "huge", "link-outside"])
@pytest.mark.parametrize("which", ["oci-layout", "index.json", "manifest", "config", "blobs"])
def test_a_layout_file_that_is_not_a_regular_file_is_one_error(tmp_path, which, how):
    if which == "oci-layout" and how in {"huge"}:
        pytest.skip("oci-layout is only tested for existing as a file")
    outside = tmp_path / "outside.json"
    outside.write_text("{}")
    layout = tmp_path / "layout"
    places = layout_with(layout)
    _spoil(places[which], how, outside if which != "blobs" else tmp_path)
    cache = tmp_path / "cache"
    code, err, peak = run_child(layout, cache)
    assert code == 1, err
    assert "Traceback" not in err and "MemoryError" not in err, err
    assert len([line for line in err.splitlines() if line.startswith("error:")]) == 1, err
    assert peak <= 300 * MIB, f"peak RSS {peak / MIB:.0f} MiB"
    stored = [path for path in cache.rglob("*") if path.is_file()]
    assert sum(path.stat().st_size for path in stored) < MIB  # no endless copy into the cache


def test_a_blob_whose_size_is_not_its_descriptors_is_refused(tmp_path):
    layout = tmp_path / "layout"
    layout_with(layout, config_size_lie=True)
    code, err, _peak = run_child(layout, tmp_path / "cache")
    assert code == 1 and "its descriptor says" in err, err


def test_a_valid_layout_is_read(tmp_path):
    layout = tmp_path / "layout"
    layout_with(layout)
    code, err, _peak = run_child(layout, tmp_path / "cache")
    assert code == 0, err
