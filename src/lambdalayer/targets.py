"""The Lambda runtimes lambdalayer builds for, loaded from ``data/runtimes.toml``.

A :class:`Target` is one runtime on one CPU. Everything that decides what goes into a
layer (wheel tags, the uv platform, the glibc floor, the layer's paths) is computed from
it and never from the machine running the build.

>>> target = get_target("python3.11", "arm64")
>>> target.machine, target.glibc_floor, target.uv_platform
('aarch64', (2, 26), 'aarch64-manylinux_2_28')
"""

from __future__ import annotations

import enum
import functools
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import TypeVar

from packaging.tags import Tag, compatible_tags, cpython_tags, create_compatible_tags_selector
from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from lambdalayer.errors import TargetError

T = TypeVar("T")

# AWS calls the arm CPU "arm64"; wheel tags, ELF and uname call it "aarch64".
MACHINE_OF_ARCH = {"x86_64": "x86_64", "arm64": "aarch64"}
ARCHITECTURES = tuple(MACHINE_OF_ARCH)
DEFAULT_ARCH = "x86_64"
# Other spellings users type (ELF/uname, Debian/Go): accepted everywhere, stored as AWS's.
_ARCH_SPELLINGS = {"x86_64": "x86_64", "amd64": "x86_64", "arm64": "arm64", "aarch64": "arm64"}
ARCH_ALIASES = "x86_64 (or amd64), arm64 (or aarch64)"

# uv's --python-platform accepts a closed list of manylinux floors (uv pip compile --help).
# A target whose glibc floor is not in it is resolved at the next one up, then each wheel
# is chosen for the exact floor with packaging.tags (see resolve.py).
UV_MANYLINUX_MINORS = (17, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40)

# The legacy manylinux names are aliases of glibc floors (PEP 600).
_LEGACY_MANYLINUX = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}


class Layout(enum.StrEnum):
    """Where packages sit inside the layer; both directories are on Lambda's sys.path."""

    SITE_PACKAGES = "site-packages"  # python/lib/pythonX.Y/site-packages/
    PYTHON = "python"  # python/
    FUNCTION = "function"  # a function package: dependencies at the zip's root, beside the handler
    RUNTIME = "runtime"  # the runtime's own packages, at the root of /var/runtime
    IMAGE = (
        "image"  # a container image's files from its root: var/lang/lib/pythonX.Y/site-packages/
    )

    @property
    def extracted_at(self) -> str:
        """Where Lambda has files of this layout: ``/opt`` (layers), ``/var/task``,
        ``/var/runtime``; an image's paths start at its root (``""``)."""
        places = {Layout.FUNCTION: "/var/task", Layout.RUNTIME: "/var/runtime", Layout.IMAGE: ""}
        return places.get(self, "/opt")

    @property
    def function_code(self) -> str:
        """Where a function's own code goes: a function package's root, an image's ``var/task/``
        (``LAMBDA_TASK_ROOT``, where Lambda's base images run the handler from)."""
        return "var/task/" if self is Layout.IMAGE else ""

    @property
    def code_root(self) -> str:
        """The part of the zip that holds importable code: ``python/``, or its root."""
        return "" if self in (Layout.FUNCTION, Layout.RUNTIME, Layout.IMAGE) else "python/"


# A member's path below whichever layer directory is on sys.path (python/ or its site-packages).
_LAYER_SITE = re.compile(
    r"^(?:python/(?:lib/python\d+\.\d+/site-packages/)?|var/lang/lib/python\d+\.\d+/site-packages/)"
)


def in_site_directory(arcname: str) -> str:
    """A layer member's path relative to the sys.path directory that holds it.

    >>> in_site_directory("python/lib/python3.12/site-packages/numpy/__init__.py")
    'numpy/__init__.py'
    >>> in_site_directory("var/lang/lib/python3.12/site-packages/numpy/__init__.py")  # an image's
    'numpy/__init__.py'
    """
    return _LAYER_SITE.sub("", arcname, count=1)


@dataclass(frozen=True)
class Runtime:
    """One Lambda runtime identifier and the platform facts that come with it."""

    name: str
    python: tuple[int, int]
    os: str
    glibc: tuple[int, int]
    architectures: tuple[str, ...]
    libraries: str = ""  # the stem of its shared-library set (data/runtime_libraries/)
    bytecode_magic: int = 0  # its CPython's .pyc magic number (0: unknown)

    @property
    def python_version(self) -> str:
        """``"3.12"`` for python3.12."""
        return f"{self.python[0]}.{self.python[1]}"

    @property
    def cache_tag(self) -> str:
        """``cpython-312`` for python3.12: the tag of the ``__pycache__`` bytecode it imports."""
        return f"cpython-{self.python[0]}{self.python[1]}"


@dataclass(frozen=True)
class Target:
    """A runtime on one architecture: the unit a layer is built for."""

    runtime: Runtime
    arch: str

    @property
    def name(self) -> str:
        """``python3.12-arm64``: used in file names and messages."""
        return f"{self.runtime.name}-{self.arch}"

    @property
    def file_label(self) -> str:
        """``python312-arm64``: the name without dots, for PEP 751's ``pylock.<name>.toml``."""
        return self.name.replace(".", "")

    def to_json(self) -> dict[str, str]:
        """The one JSON shape of a target in every command's output."""
        return {
            "name": self.name,
            "runtime": self.runtime.name,
            "arch": self.arch,
            "python": self.runtime.python_version,
            "glibc": ".".join(map(str, self.runtime.glibc)),
        }

    @property
    def machine(self) -> str:
        """The CPU as wheel tags and ELF name it (``x86_64`` or ``aarch64``)."""
        return MACHINE_OF_ARCH[self.arch]

    @property
    def glibc_floor(self) -> tuple[int, int]:
        """The glibc version of the runtime's OS."""
        return self.runtime.glibc

    @property
    def python_tag(self) -> str:
        """``cp312`` for python3.12."""
        return f"cp{self.runtime.python[0]}{self.runtime.python[1]}"

    @property
    def cache_tag(self) -> str:
        """``cpython-312`` for python3.12: the tag of the ``__pycache__`` bytecode it imports."""
        return self.runtime.cache_tag

    @property
    def uv_platform(self) -> str:
        """The lowest uv ``--python-platform`` at or above the runtime's glibc floor."""
        major, minor = self.glibc_floor
        if major != 2:
            raise TargetError(f"unsupported glibc floor {major}.{minor} for {self.name}")
        for uv_minor in UV_MANYLINUX_MINORS:
            if uv_minor >= minor:
                return f"{self.machine}-manylinux_2_{uv_minor}"
        return f"{self.machine}-manylinux_2_{UV_MANYLINUX_MINORS[-1]}"

    @property
    def resolution_plan(self) -> str:
        """How this target is resolved, in words (uv's platform list has no entry for every floor).

        >>> get_target("python3.11").resolution_plan
        'uv resolves at x86_64-manylinux_2_28, then each wheel is picked for glibc 2.26'
        """
        floor = ".".join(map(str, self.glibc_floor))
        if self.uv_platform.endswith(f"_2_{self.glibc_floor[1]}"):
            return f"uv resolves at {self.uv_platform} (glibc {floor})"
        return f"uv resolves at {self.uv_platform}, then each wheel is picked for glibc {floor}"

    @property
    def platform_tags(self) -> tuple[str, ...]:
        """Every wheel platform tag that runs on the target, most specific first.

        Only manylinux: musllinux needs musl, and plain ``linux_*`` wheels are built for
        whatever machine made them.
        """
        platforms: list[str] = []
        for minor in range(self.glibc_floor[1], 4, -1):
            platforms.append(f"manylinux_2_{minor}_{self.machine}")
            legacy = _LEGACY_MANYLINUX.get(minor)
            if legacy and (minor == 17 or self.machine == "x86_64"):
                platforms.append(f"{legacy}_{self.machine}")
        return tuple(platforms)

    @functools.cached_property
    def tags(self) -> tuple[Tag, ...]:
        """The target's supported wheel tags, most preferred first (as an installer ranks them)."""
        version = self.runtime.python
        platforms = list(self.platform_tags)
        return (
            *cpython_tags(version, abis=[self.python_tag], platforms=platforms),
            *compatible_tags(version, interpreter=self.python_tag, platforms=platforms),
        )

    @functools.cached_property
    def supported_tags(self) -> frozenset[Tag]:
        """Every wheel tag that runs on the target."""
        return frozenset(self.tags)

    def fits(self, filename: str) -> bool:
        """Whether a wheel file (by its name) can run on the target."""
        try:
            _, _, _, tags = parse_wheel_filename(filename)
        except InvalidWheelFilename:
            return False
        return bool(tags & self.supported_tags)

    def best(self, items: Iterable[tuple[T, frozenset[Tag]]]) -> T | None:
        """The item an installer on the target would pick (best tag first; ``None``: none fits).

        Uses :func:`packaging.tags.create_compatible_tags_selector` with the target's own
        ordered tags; among equally good items the first given wins.
        """
        return next(iter(create_compatible_tags_selector(self.tags)(items)), None)

    def site_packages_prefix(self, layout: Layout) -> str:
        """The directory inside the zip that packages go to, with a trailing slash."""
        if layout is Layout.PYTHON:
            return "python/"
        if layout in (Layout.FUNCTION, Layout.RUNTIME):
            return ""
        if layout is Layout.IMAGE:  # where AWS's base image's pip installs (python-image.html)
            return f"var/lang/lib/python{self.runtime.python_version}/site-packages/"
        return f"python/lib/python{self.runtime.python_version}/site-packages/"

    def lambda_paths(self, opt_root: str = "/opt") -> tuple[str, str]:
        """The two layer directories Lambda puts on ``sys.path``, in Lambda's order."""
        return (
            f"{opt_root}/python/lib/python{self.runtime.python_version}/site-packages",
            f"{opt_root}/python",
        )

    def marker_environment(self) -> dict[str, str]:
        """PEP 508 marker values of the target (for evaluating lock-file markers)."""
        version = self.runtime.python_version
        return {
            "implementation_name": "cpython",
            "implementation_version": f"{version}.0",
            "os_name": "posix",
            "platform_machine": self.machine,
            "platform_python_implementation": "CPython",
            "platform_release": "",
            "platform_system": "Linux",
            "platform_version": "",
            "python_full_version": f"{version}.0",
            "python_version": version,
            "sys_platform": "linux",
        }


def _parse_version(text: str) -> tuple[int, int]:
    major, minor = text.split(".")
    return int(major), int(minor)


@functools.cache
def runtimes() -> tuple[Runtime, ...]:
    """All runtimes of the table, in the order of the data file (oldest first)."""
    table = tomllib.loads(
        resources.files("lambdalayer").joinpath("data/runtimes.toml").read_text("utf-8")
    )
    return tuple(
        Runtime(
            name=entry["name"],
            python=_parse_version(entry["python"]),
            os=entry["os"],
            glibc=_parse_version(entry["glibc"]),
            architectures=tuple(entry["architectures"]),
            libraries=entry.get("libraries", ""),
            bytecode_magic=int(entry["bytecode_magic"]),
        )
        for entry in table["runtime"]
    )


def default_runtime() -> Runtime:
    """The newest runtime of the table."""
    return max(runtimes(), key=lambda runtime: runtime.python)


_RUNTIME_SPELLING = re.compile(r"(?:python|py|cp)?(\d)\.?(\d{1,2})")


def get_runtime(name: str) -> Runtime:
    """Look up a runtime by its Lambda identifier or a short spelling of it.

    >>> [get_runtime(name).name for name in ("python3.12", "3.12", "py312", "cp312")]
    ['python3.12', 'python3.12', 'python3.12', 'python3.12']
    """
    match = _RUNTIME_SPELLING.fullmatch(name.strip().lower())
    wanted = f"python{match.group(1)}.{match.group(2)}" if match else name
    for runtime in runtimes():
        if runtime.name == wanted:
            return runtime
    known = ", ".join(runtime.name for runtime in runtimes())
    raise TargetError(f"unknown runtime {name!r}", hint=f"known runtimes: {known}")


def canonical_arch(name: str) -> str:
    """AWS's name for a CPU: ``aarch64`` → ``arm64``, ``amd64`` → ``x86_64``.

    >>> canonical_arch("aarch64"), canonical_arch("AMD64")
    ('arm64', 'x86_64')
    """
    spelled = _ARCH_SPELLINGS.get(name.strip().lower())
    if spelled is None:
        raise TargetError(f"unknown architecture {name!r}", hint=f"choose one of: {ARCH_ALIASES}")
    return spelled


def get_target(runtime: str | None = None, arch: str | None = None) -> Target:
    """The target for a runtime name and an architecture (any accepted spelling; defaults filled in)."""
    found = get_runtime(runtime) if runtime else default_runtime()
    chosen_arch = canonical_arch(arch or DEFAULT_ARCH)
    if chosen_arch not in found.architectures:
        raise TargetError(
            f"unknown architecture {chosen_arch!r} for {found.name}",
            hint=f"choose one of: {', '.join(found.architectures)}",
        )
    return Target(found, chosen_arch)


def parse_target(text: str) -> Target:
    """The target ``python3.12-arm64`` names (any spelling of each half: ``3.12-aarch64``).

    >>> parse_target("py312-aarch64").name
    'python3.12-arm64'
    """
    runtime, separator, arch = text.strip().rpartition("-")
    if not separator or not runtime:
        raise TargetError(
            f"{text!r:.60} is not a target: a runtime and a CPU joined by '-'",
            hint="e.g. python3.12-arm64 or 3.11-x86_64 ('lambdalayer targets' lists them)",
        )
    return get_target(runtime, arch)


def all_targets() -> tuple[Target, ...]:
    """Every (runtime, arch) pair of the table."""
    return tuple(Target(runtime, arch) for runtime in runtimes() for arch in runtime.architectures)
