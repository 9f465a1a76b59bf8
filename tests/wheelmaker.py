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
    requires_python: str | None = None,
    metadata: Sequence[str] = (),
) -> Path:
    """Write ``name-version-tag.whl`` into ``directory`` and return its path.

    ``files`` maps archive paths to contents; a default ``<name>/__init__.py`` is added
    when it is empty. Paths in ``executables`` get mode 0755. ``metadata`` lines are added
    to METADATA's headers as they are (``License-Expression: MIT``).
    """
    distribution = name.replace("-", "_")
    dist_info = f"{distribution}-{version}.dist-info"
    members: dict[str, bytes] = {}
    for path, content in (
        files or {f"{distribution}/__init__.py": f"VERSION = {version!r}\n"}
    ).items():
        members[path] = content.encode() if isinstance(content, str) else content
    headers = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    headers += [f"Requires-Dist: {requirement}" for requirement in requires]
    if requires_python:
        headers.append(f"Requires-Python: {requires_python}")
    headers += metadata
    members[f"{dist_info}/METADATA"] = ("\n".join(headers) + "\n").encode()
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


_BACKEND = '''\
"""A tiny in-tree PEP 517 backend: builds this test package's wheel with no dependencies."""
import base64, hashlib, os, zipfile

NAME, VERSION, TAG, FILES = {name!r}, {version!r}, {tag!r}, {files!r}


def get_requires_for_build_wheel(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    dist_info = f"{{NAME}}-{{VERSION}}.dist-info"
    members = {{path: content.encode("latin-1") for path, content in FILES.items()}}
    members[dist_info + "/METADATA"] = f"Metadata-Version: 2.1\\nName: {{NAME}}\\nVersion: {{VERSION}}\\n".encode()
    members[dist_info + "/WHEEL"] = f"Wheel-Version: 1.0\\nRoot-Is-Purelib: true\\nTag: {{TAG}}\\n".encode()
    lines = []
    for path, data in members.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        lines.append(f"{{path}},sha256={{digest}},{{len(data)}}")
    members[dist_info + "/RECORD"] = ("\\n".join(lines + [dist_info + "/RECORD,,"]) + "\\n").encode()
    filename = f"{{NAME}}-{{VERSION}}-{{TAG}}.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w") as archive:
        for path, data in members.items():
            archive.writestr(path, data)
    return filename
'''


def make_sdist(
    directory: Path,
    name: str,
    version: str,
    *,
    tag: str = "py3-none-any",
    files: Mapping[str, bytes] | None = None,
) -> Path:
    """Write ``name-version.tar.gz``: an sdist whose in-tree backend builds a wheel tagged ``tag``."""
    import io
    import tarfile

    contents = {
        key: value.decode("latin-1")
        for key, value in (
            files or {f"{name}/__init__.py": b"VALUE = 'built from source'\n"}
        ).items()
    }
    root = f"{name}-{version}"
    members = {
        f"{root}/pyproject.toml": (
            '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n\n'
            f'[project]\nname = "{name}"\nversion = "{version}"\n'
        ),
        f"{root}/PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{root}/backend.py": _BACKEND.format(name=name, version=version, tag=tag, files=contents),
    }
    path = directory / f"{root}.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for member, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(member)
            info.size = len(data)
            info.mtime = 1700000000
            archive.addfile(info, io.BytesIO(data))
    return path


def make_project(
    directory: Path, name: str, version: str, *, files: Mapping[str, bytes] | None = None
) -> Path:
    """A local project directory (what ``./mypkg`` or ``-e .`` names) with an in-tree backend."""
    sdist = make_sdist(directory, name, version, files=files)
    import tarfile

    with tarfile.open(sdist) as archive:
        archive.extractall(directory, filter="data")
    sdist.unlink()
    return directory / f"{name}-{version}"
