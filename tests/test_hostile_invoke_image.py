"""Hostile images given to ``invoke --image IMAGE`` (the function's own image): its config
(``Entrypoint``, ``Cmd``, ``Env``, ``WorkingDir``) is whatever its maker wrote. Generated
cases (hypothesis, fixed seed), each in a child process: one ``error:`` line or a run,
never a traceback, nothing written outside the cache, the child under 300 MiB.

The layouts have one tiny layer and no CPython, so no case boots: what is tested is the
reading of the image up to the moment it would start.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

from hostilecases import assert_promise, case_environment, generated, run_case, snapshot
from hypothesis import given
from hypothesis import strategies as st

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
STRINGS = st.lists(st.text(max_size=30), max_size=4)
CONFIG = st.fixed_dictionaries(
    {},
    optional={
        "Entrypoint": STRINGS | JSON,
        "Cmd": STRINGS | JSON,
        "Env": st.lists(st.text(max_size=30), max_size=4) | JSON,
        "WorkingDir": st.text(max_size=20) | JSON,
    },
)


def _digest(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def _layer() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        data = b"def handler(e, c):\n    return 1\n"
        member = tarfile.TarInfo("var/task/app.py")
        member.size = len(data)
        archive.addfile(member, io.BytesIO(data))
    return gzip.compress(buffer.getvalue(), mtime=0)


def write_layout(root: Path, config_object: object) -> Path:
    """A one-image OCI layout whose config's ``config`` is ``config_object``."""
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    layer = _layer()
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": config_object}).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": _digest(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": _digest(layer),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    for blob in (layer, config, manifest):
        (blobs / _digest(blob).removeprefix("sha256:")).write_bytes(blob)
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": _digest(manifest),
                "size": len(manifest),
                "platform": {"architecture": "amd64", "os": "linux"},
            }
        ],
    }
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (root / "index.json").write_text(json.dumps(index))
    return root


@generated(12)
@given(config=CONFIG | JSON)
def test_a_hostile_image_config_is_one_error_line(tmp_path_factory, config):
    place = tmp_path_factory.mktemp("case")
    layout = write_layout(place / "image", config)
    environment = case_environment(place)
    before = snapshot(place, skip=(place / "cache", place / "home"))
    case = run_case(
        [["invoke", "--image", str(layout), "--runtime", "python3.12", "--timeout", "5"]],
        environment,
        place,
    )
    assert_promise(case, must_fail=True)
    assert snapshot(place, skip=(place / "cache", place / "home")) == before
