"""Real OCI tools for the image tests: Debian's docker-registry (distribution 2.x) served on
127.0.0.1, and stand-in base images made by umoci and pushed by skopeo — programs
lambdalayer does not use, so they check it independently."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

REGISTRY = shutil.which("docker-registry")
_ACCESS = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/1\.1" (?P<status>\d{3})')


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class DistributionRegistry:
    """``docker-registry serve`` on a free port of 127.0.0.1, storing under ``root``.

    With ``htpasswd`` (a file of ``user:bcrypt-hash`` lines) it asks for basic credentials.
    Its access log is read back by :meth:`requests`.
    """

    def __init__(self, root: Path, htpasswd: Path | None = None) -> None:
        self.root = root
        self.port = _free_port()
        self.log = root / "registry.log"
        auth = (
            f"auth:\n  htpasswd:\n    realm: lambdalayer-tests\n    path: {htpasswd}\n"
            if htpasswd
            else ""
        )
        self.config = root / "config.yml"
        self.config.write_text(
            "version: 0.1\n"
            "log:\n  level: info\n  formatter: json\n"
            f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n"
            "  delete:\n    enabled: true\n"
            f"http:\n  addr: 127.0.0.1:{self.port}\n  secret: lambdalayer-tests\n" + auth
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> DistributionRegistry:
        assert REGISTRY is not None
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [REGISTRY, "serve", str(self.config)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://{self.host}/v2/", timeout=1)
                return self
            except urllib.error.HTTPError:
                return self  # 401 with auth: it is up
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"docker-registry did not start: {self.log.read_text()[-2000:]}")

    def __exit__(self, *exc_info: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def requests(self) -> list[tuple[str, str, int]]:
        """Every request so far, from the access log: (method, path, status)."""
        text = self.log.read_bytes().decode("utf-8", "replace")
        return [
            (match["method"], match["path"], int(match["status"]))
            for match in _ACCESS.finditer(text)
        ]

    def uploaded(self, since: int = 0) -> list[str]:
        """The digests of blob uploads completed after request number ``since``."""
        found = []
        for method, path, status in self.requests()[since:]:
            if method == "PUT" and "/blobs/uploads/" in path and status == 201:
                found.append(re.sub(r".*digest=sha256%3A([0-9a-f]{64}).*", r"sha256:\1", path))
        return found


def make_base_layout(root: Path, layout: Path, tag: str, arch: str) -> Path:
    """An OCI image layout of ``root`` as one layer, with a Lambda base image's config, by umoci."""
    image = f"{layout}:{tag}"
    if not (layout / "oci-layout").exists():
        subprocess.run(["umoci", "init", "--layout", str(layout)], check=True)
    subprocess.run(["umoci", "new", "--image", image], check=True)
    subprocess.run(["umoci", "insert", "--image", image, str(root), "/"], check=True)
    subprocess.run(
        [
            "umoci", "config", "--image", image, "--architecture", arch, "--os", "linux",
            "--config.entrypoint", "/lambda-entrypoint.sh", "--config.workingdir", "/var/task",
            "--config.env", "LAMBDA_TASK_ROOT=/var/task",
            "--config.env", "LAMBDA_RUNTIME_DIR=/var/runtime",
            "--config.env", "PATH=/var/lang/bin:/usr/local/bin:/usr/bin:/bin",
            "--config.env", "LD_LIBRARY_PATH=/var/lang/lib:/lib64:/usr/lib64",
        ],
        check=True,
    )  # fmt: skip
    return layout


def skopeo_copy(source: str, destination: str, *extra: str) -> None:
    """``skopeo copy`` between transports (plain HTTP for the test registry)."""
    subprocess.run(
        ["skopeo", "copy", "--src-tls-verify=false", "--dest-tls-verify=false", *extra, source,
         destination],
        check=True,
        capture_output=True,
    )  # fmt: skip


def skopeo_inspect(reference: str, *, raw: bool = False, config: bool = False) -> dict[str, object]:
    """``skopeo inspect`` of ``docker://…`` or ``oci-archive:…`` as JSON."""
    flags = ["--raw"] if raw else ["--config"] if config else []
    done = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", *flags, reference],
        check=True,
        capture_output=True,
        text=True,
    )
    document: dict[str, object] = json.loads(done.stdout)
    return document


def umoci_unpack(layout: Path, tag: str, bundle: Path) -> Path:
    """``umoci unpack`` of the layout's image: the bundle's root filesystem."""
    subprocess.run(
        ["umoci", "unpack", "--image", f"{layout}:{tag}", str(bundle)],
        check=True,
        capture_output=True,
    )
    return bundle / "rootfs"
