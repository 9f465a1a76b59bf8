"""Source-only packages: build a wheel from the sdist, and keep it only if it is pure Python.

A package published only as a source distribution has no wheel for any target. Building
it here is safe only when the result runs anywhere: a ``py3-none-any`` wheel with no
binary inside. A build that produces native code would produce it for *this* machine,
so it is refused, with the usual remedies. Built wheels are kept in the cache under the
sdist's sha256, so a warm cache builds nothing; ``--no-build`` forbids building at all
(no setup code of a package runs on the user's machine).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import subprocess
import tarfile
import tempfile
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from urllib.parse import unquote, urlsplit

from packaging.pylock import Pylock
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from lambdalayer.cache import Bucket, Cache
from lambdalayer.elf import ELF_MAGIC, foreign_binary_kind
from lambdalayer.errors import ResolutionError, SourceBuildError
from lambdalayer.fsutil import file_sha256
from lambdalayer.inputs.requirements import Requirements
from lambdalayer.lock import LocalSource, LockedWheel
from lambdalayer.net.fetch import WheelCache
from lambdalayer.net.index import IndexConfig
from lambdalayer.targets import Target
from lambdalayer.uvtool import pip_compile_command, uv_environment, uv_failure
from lambdalayer.zipnames import open_zip

BUILD_TIMEOUT_SECONDS = 900
_NATIVE_SOURCES = (".c", ".cc", ".cpp", ".cxx", ".pyx", ".f", ".f90", ".rs")
_GENERAL_REMEDY = (
    "a version of it that ships wheels, a package of the same purpose that does, or a container"
    " image of the function built with the library installed"
)


@functools.cache
def _alternatives() -> dict[str, str]:
    """``data/source_only.toml``: native source-only packages and what to use instead."""
    text = resources.files("lambdalayer").joinpath("data/source_only.toml").read_text("utf-8")
    return {
        str(canonicalize_name(name)): value
        for name, value in tomllib.loads(text)["alternatives"].items()
    }


def alternative_to(package: str) -> str | None:
    """What to install instead of a native source-only ``package``, when the data knows."""
    return _alternatives().get(str(canonicalize_name(package)))


def native_source_error(package: str, detail: str) -> SourceBuildError:
    """The error for a source-only package with native code: what it is, and what to use instead."""
    alternative = alternative_to(package)
    return SourceBuildError(
        f"{package} is published only as source with C code ({detail}); lambdalayer does not"
        " compile native code for Lambda (built here, it would be for this machine)",
        hint=f"use {alternative}" if alternative else f"use {_GENERAL_REMEDY}",
        package=package,
    )


def _native_sources(sdist: Path) -> str | None:
    """The first compiled-language source file inside an sdist, or ``None`` (a pure package)."""
    try:
        with tarfile.open(sdist) as archive:
            for member in archive:
                if member.isfile() and member.name.endswith(_NATIVE_SOURCES):
                    return member.name.split("/", 1)[-1]
    except (tarfile.TarError, OSError, EOFError):
        return None
    return None


@dataclass(frozen=True)
class SourceBuilder:
    """Builds pure wheels of source-only packages into the cache (``built``, by the sdist's
    sha256; ``local``, by a local project's content)."""

    cache_dir: Path
    index: IndexConfig
    uv_bin: str

    def wheel_dir(self, package: str, requirements: Requirements, target: Target) -> Path:
        """A directory holding the pure wheel of ``package`` (for uv's ``--find-links``)."""
        sdist = self._locate_sdist(package, requirements, target)
        cache, key = Cache.at(self.cache_dir), sdist.sha256.lower()
        destination = cache.hold(Bucket.BUILT, key)
        if cache.admit(Bucket.BUILT, key) and any(destination.glob("*.whl")):
            return destination
        wheels = WheelCache(self.cache_dir)
        cached, _ = wheels.lookup(sdist)
        sdist_path = cached or wheels.download(sdist)
        destination.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=destination.parent, prefix=".build-") as scratch:
            wheel = self._build(package, sdist_path, Path(scratch) / "wheel")
            _require_pure(package, wheel, target)
            cache.seal(Bucket.BUILT, key, Path(scratch, "wheel"))
            Path(scratch, "wheel").replace(destination)
        return destination

    def local_wheel(self, source: LocalSource, target: Target) -> LockedWheel:
        """The pure wheel of a local project (a directory, or a local sdist), built once.

        Cached by the content of the project's files, and placed in the wheel cache so
        that the fetch stage finds it like any other wheel.
        """
        digest = _content_digest(source.path)
        cache = Cache.at(self.cache_dir)
        destination = cache.hold(Bucket.LOCAL, digest)
        wheels = sorted(destination.glob("*.whl")) if cache.admit(Bucket.LOCAL, digest) else []
        if not wheels:
            destination.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=destination.parent, prefix=".build-") as scratch:
                wheel = self._build(source.name, source.path, Path(scratch) / "wheel")
                _require_pure(source.name, wheel, target)
                cache.seal(Bucket.LOCAL, digest, Path(scratch, "wheel"))
                with contextlib.suppress(OSError):  # another build put it there first
                    Path(scratch, "wheel").replace(destination)
            wheels = sorted(destination.glob("*.whl"))
        wheel_path = wheels[0]
        locked = LockedWheel(
            filename=wheel_path.name,
            url=wheel_path.resolve().as_uri(),
            sha256=file_sha256(wheel_path),
            size=wheel_path.stat().st_size,
        )
        WheelCache(self.cache_dir).store(locked, wheel_path)
        return locked

    def _locate_sdist(
        self, package: str, requirements: Requirements, target: Target
    ) -> LockedWheel:
        """The sdist uv would build for ``package`` for this target (with builds allowed)."""
        with tempfile.TemporaryDirectory(prefix="lambdalayer-sdist-") as scratch:
            requirements_in = Path(scratch) / "requirements.in"
            requirements_in.write_text(requirements.as_requirements_in(), "utf-8")
            output = Path(scratch) / "pylock.toml"
            command = pip_compile_command(
                requirements_in, target, output, only_binary=False, extra=self.index.uv_args()
            )
            completed = subprocess.run(
                command,
                capture_output=True,
                text=True,
                env=uv_environment(self.cache_dir),
                check=False,
            )
            if completed.returncode != 0:
                first, *rest = uv_failure(completed.returncode, completed.stderr).lines
                raise ResolutionError(
                    "\n".join(
                        [
                            f"{package} is published only as source, and resolving it failed:"
                            f" {first}",
                            *rest,
                        ]
                    ),
                    package=package,
                )
            pylock = Pylock.from_dict(tomllib.loads(output.read_text("utf-8")))
        for entry in pylock.packages:
            sdist = entry.sdist
            if (
                entry.name == canonicalize_name(package)
                and sdist
                and sdist.url
                and sdist.hashes.get("sha256")
            ):
                filename = sdist.name or unquote(urlsplit(sdist.url).path.rsplit("/", 1)[-1])
                return LockedWheel(
                    filename=filename, url=sdist.url, sha256=sdist.hashes["sha256"], size=sdist.size
                )
        raise ResolutionError(
            f"{package} is published only as source, but no sdist with a hash was found for it",
            package=package,
        )

    def _build(self, package: str, sdist: Path, out_dir: Path) -> Path:
        out_dir.mkdir()
        command = [
            self.uv_bin,
            "build",
            "--wheel",
            "--quiet",
            "--no-progress",
            "-o",
            str(out_dir),
            str(sdist),
        ]
        command += self.index.uv_args()
        completed = subprocess.run(
            command,
            capture_output=True,
            text=True,
            env=uv_environment(self.cache_dir),
            timeout=BUILD_TIMEOUT_SECONDS,
            check=False,
        )
        wheels = list(out_dir.glob("*.whl"))
        if completed.returncode != 0 or len(wheels) != 1:
            tail = (completed.stderr.strip().splitlines() or ["no output"])[-1]
            native = _native_sources(sdist) if sdist.is_file() else None
            if native is not None:  # it would need this machine's compiler and libraries
                raise native_source_error(package, f"{native}; its build here failed: {tail}")
            raise ResolutionError(
                f"{package} is published only as source, and building it failed: {tail}"
                if sdist.is_file()
                else f"building the local project {package} ({sdist}) failed: {tail}",
                hint="pin a version of it that ships wheels, or vendor it in the function's code"
                if sdist.is_file()
                else f"run 'uv build --wheel {sdist}' to see the whole error",
                package=package,
            )
        return wheels[0]


_SKIPPED_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".venv",
        "venv",
        "__pycache__",
        "build",
        "dist",
        "node_modules",
        ".tox",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
    }
)


def _content_digest(path: Path) -> str:
    """sha256 over a project's file names and bytes (a file: its bytes), build output left out."""
    digest = hashlib.sha256()
    if path.is_file():
        digest.update(path.read_bytes())
        return digest.hexdigest()
    for file in sorted(path.rglob("*")):
        relative = file.relative_to(path)
        if (
            not file.is_file()
            or _SKIPPED_DIRS & set(relative.parts[:-1])
            or file.name.endswith(".egg-info")
        ):
            continue
        if any(part.endswith(".egg-info") for part in relative.parts):
            continue
        digest.update(relative.as_posix().encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()


def _require_pure(package: str, wheel: Path, target: Target) -> None:
    """Refuse a built wheel that is not pure Python (by its tags, and by its contents)."""
    try:
        _, _, _, tags = parse_wheel_filename(wheel.name)
    except InvalidWheelFilename as error:
        raise ResolutionError(
            f"building {package} gave a wheel with an invalid name: {wheel.name}"
        ) from error
    binary = next(
        (f"tag {tag}" for tag in tags if tag.abi != "none" or tag.platform != "any"), None
    )
    if binary is None:
        with open_zip(wheel) as archive:
            for info in archive.infolist():
                with archive.open(info) as stream:
                    head = stream.read(4)
                if head == ELF_MAGIC or foreign_binary_kind(head):
                    binary = f"binary member {info.filename}"
                    break
    if binary is not None:
        raise native_source_error(
            package,
            f"{binary}; a wheel built here would be for this machine, not for"
            f" {target.runtime.name} on {target.arch}",
        )
