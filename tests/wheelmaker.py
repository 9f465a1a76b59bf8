"""Build real .whl files for tests (zip + METADATA + WHEEL + RECORD), as a wheel builder would."""

from __future__ import annotations

import base64
import hashlib
import stat
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

Content = bytes | str


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def make_wheel(
    directory: Path,
    name: str,
    version: str,
    *,
    tag: str = "py3-none-any",
    files: Mapping[str, Content] | None = None,
    requires: Sequence[str] = (),
    executables: Sequence[str] = (),
    compression: int = zipfile.ZIP_DEFLATED,
) -> Path:
    """Write ``name-version-tag.whl`` into ``directory`` and return its path.

    ``files`` maps archive paths to contents; a default ``<name>/__init__.py`` is added
    when it is empty. Paths in ``executables`` get mode 0755.
    """
    distribution = name.replace("-", "_")
    dist_info = f"{distribution}-{version}.dist-info"
    members: dict[str, bytes] = {}
    for path, content in (
        files or {f"{distribution}/__init__.py": f"VERSION = {version!r}\n"}
    ).items():
        members[path] = content.encode() if isinstance(content, str) else content
    metadata = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    metadata += [f"Requires-Dist: {requirement}" for requirement in requires]
    members[f"{dist_info}/METADATA"] = ("\n".join(metadata) + "\n").encode()
    purelib = "true" if tag.endswith("-none-any") else "false"
    wheel_lines = [
        "Wheel-Version: 1.0",
        "Generator: lambdalayer-tests",
        f"Root-Is-Purelib: {purelib}",
    ]
    wheel_lines += [f"Tag: {tag_part}" for tag_part in _expand(tag)]
    members[f"{dist_info}/WHEEL"] = ("\n".join(wheel_lines) + "\n").encode()
    record = [f"{path},{_record_hash(data)},{len(data)}" for path, data in members.items()]
    record.append(f"{dist_info}/RECORD,,")
    members[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    path = directory / f"{distribution}-{version}-{tag}.whl"
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for member, data in members.items():
            info = zipfile.ZipInfo(member, date_time=(2024, 1, 1, 0, 0, 0))
            mode = 0o755 if member in executables else 0o644
            info.external_attr = (stat.S_IFREG | mode) << 16
            info.compress_type = compression
            archive.writestr(info, data)
    return path


def _expand(tag: str) -> list[str]:
    interpreters, abis, platforms = tag.split("-")
    return [
        f"{interpreter}-{abi}-{platform}"
        for interpreter in interpreters.split(".")
        for abi in abis.split(".")
        for platform in platforms.split(".")
    ]
