"""What an artefact holds, as facts: distributions, their wheels and licences, bundled libraries.

An :class:`Inventory` is made from simple typed inputs, whatever produced the artefact:
each distribution's ``METADATA`` bytes (from its ``*.dist-info``), the lock's wheel for it
(file name, URL, sha256) when the lock is known, and the files placed in the artefact
with their sha256 (only those under a ``<name>.libs/`` directory are kept: the native
libraries auditwheel vendors into a wheel). :func:`inventory_of_zip` reads those from any
zip; a build hands in what it already knows.

Beside it, what the function will also load without shipping it: the runtime's own
packages in ``/var/runtime`` and a managed layer beneath (:class:`ProvidedPackage`).
"""

from __future__ import annotations

import datetime
import hashlib
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from packaging.utils import canonicalize_name

from lambdalayer import __version__
from lambdalayer.check.view import METADATA_LIMIT, LayerView, view_of
from lambdalayer.distinfo import parse_licence_fields, parse_metadata
from lambdalayer.errors import InputError
from lambdalayer.fsutil import file_sha256
from lambdalayer.limits import UNZIPPED_LIMIT
from lambdalayer.lock import Lock, LockedWheel
from lambdalayer.net.http import redact
from lambdalayer.placement import READ_ERRORS, PlacedFile, Placement, PlacementReader, read_zip
from lambdalayer.resolve.provided import Provided
from lambdalayer.runtimepackages import runtime_packages
from lambdalayer.supply.licences import Licence, licence_of
from lambdalayer.targets import Layout, Target
from lambdalayer.zipnames import printable

ZIP_EPOCH = datetime.datetime(1980, 1, 1, tzinfo=datetime.UTC)  # the earliest date a zip holds


@dataclass(frozen=True)
class ShippedDistribution:
    """A distribution in the artefact: its version, licence, and the wheel it came from."""

    name: str
    version: str
    licence: Licence
    wheel: LockedWheel | None = None  # None when no lock tells (a zip read on its own)

    @property
    def purl(self) -> str:
        """The package URL: ``pkg:pypi/<name>@<version>`` (the name canonical, as purl asks)."""
        return f"pkg:pypi/{self.name}@{self.version}"


@dataclass(frozen=True)
class VendoredLibrary:
    """A native library bundled in a wheel's ``<name>.libs/`` directory."""

    path: str  # where it is in the artefact
    sha256: str
    size: int
    distribution: str | None  # the distribution whose RECORD lists it

    @property
    def name(self) -> str:
        """The file's name (``libopenblas64_p-r0-0cf96a72.3.23.dev.so``)."""
        return self.path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class ProvidedPackage:
    """A distribution the function loads that is not in the artefact: where it comes from."""

    name: str
    version: str
    provider: str  # "python3.12 runtime (/var/runtime)", "aws-sdk-pandas 3.17.1 layer"

    @property
    def purl(self) -> str:
        """``pkg:pypi/<name>@<version>``."""
        return f"pkg:pypi/{self.name}@{self.version}"


@dataclass(frozen=True)
class Artefact:
    """The artefact described: its file name, sha256, kind and the date its contents carry."""

    name: str
    sha256: str
    kind: str  # "layer", "function" or "image"
    created: datetime.datetime = ZIP_EPOCH


@dataclass(frozen=True)
class Inventory:
    """Everything an SBOM of one artefact says."""

    artefact: Artefact
    distributions: tuple[ShippedDistribution, ...]
    libraries: tuple[VendoredLibrary, ...] = ()
    provided: tuple[ProvidedPackage, ...] = ()
    target: str | None = None  # "python3.12-arm64", when known
    tool_version: str = __version__

    def to_json(self) -> dict[str, object]:
        """The inventory as JSON-ready data (what ``sbom --json`` and the report show)."""
        return {
            "artefact": {
                "name": self.artefact.name,
                "sha256": self.artefact.sha256,
                "kind": self.artefact.kind,
            },
            "target": self.target,
            "distributions": [
                {
                    "name": dist.name,
                    "version": dist.version,
                    "purl": dist.purl,
                    "licence": dist.licence.to_json(),
                    "wheel": None
                    if dist.wheel is None
                    else {
                        "filename": dist.wheel.filename,
                        "url": dist.wheel.url,
                        "sha256": dist.wheel.sha256,
                    },
                }
                for dist in self.distributions
            ],
            "libraries": [
                {
                    "path": lib.path,
                    "sha256": lib.sha256,
                    "size": lib.size,
                    "distribution": lib.distribution,
                }
                for lib in self.libraries
            ],
            "provided": [
                {"name": item.name, "version": item.version, "provider": item.provider}
                for item in self.provided
            ],
        }


def distribution_of(metadata: bytes, where: str, wheel: LockedWheel | None) -> ShippedDistribution:
    """A distribution from its ``METADATA`` bytes; :class:`InputError` naming ``where`` if unusable."""
    parsed = parse_metadata(metadata)
    if parsed is None:
        raise InputError(
            f"{where} has no Name and Version: it cannot be said what it is",
            hint="a dist-info METADATA file starts with 'Name:' and 'Version:' headers",
        )
    if wheel is not None:  # a URL with credentials never goes into a document
        wheel = LockedWheel(wheel.filename, redact(wheel.url), wheel.sha256, wheel.size)
    return ShippedDistribution(
        parsed.name, parsed.version, licence_of(parse_licence_fields(metadata)), wheel
    )


def wheels_of(lock: Lock) -> dict[tuple[str, str], LockedWheel]:
    """(canonical name, version) → the lock's (first) wheel of it."""
    return {
        (str(canonicalize_name(package.name)), package.version): package.wheels[0]
        for package in lock.packages
        if package.wheels
    }


def is_vendored(member: str) -> bool:
    """Whether a member lies in a ``<name>.libs/`` directory (auditwheel's vendored libraries)."""
    directories = member.split("/")[:-1]
    return any(part.endswith(".libs") and len(part) > len(".libs") for part in directories)


def _created(infos: Iterable[zipfile.ZipInfo]) -> datetime.datetime:
    """The latest date of the zip's entries (a lambdalayer zip: 1980-01-01), as UTC."""
    latest = ZIP_EPOCH
    for info in infos:
        try:
            when = datetime.datetime(*info.date_time, tzinfo=datetime.UTC)
        except ValueError:  # a DOS date of month 0 or hour 25: no date at all
            continue
        latest = max(latest, when)
    return latest


def _placed_sha256(reader: PlacementReader, file: PlacedFile, name: str) -> str:
    """A placed file's sha256, read to Lambda's unzipped quota at most."""
    if file.size > UNZIPPED_LIMIT:
        raise InputError(
            f"{name}: {printable(file.arcname)} declares {file.size:,} bytes,"
            f" over Lambda's {UNZIPPED_LIMIT:,}-byte quota by itself"
        )
    digest = hashlib.sha256()
    try:
        with reader.open(file) as stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
    except READ_ERRORS as error:
        raise InputError(f"{name}: {printable(file.arcname)} cannot be read: {error}") from error
    return digest.hexdigest()


def _zip_distributions(
    layer: LayerView, reader: PlacementReader, wheels: dict[tuple[str, str], LockedWheel]
) -> list[ShippedDistribution]:
    found = []
    for file in layer.files:
        if not file.arcname.endswith(".dist-info/METADATA"):
            continue
        where = f"{layer.path.name}: {printable(file.arcname)}"
        data = layer.read(reader, file, METADATA_LIMIT)
        if data is None:
            raise InputError(f"{where} {layer.damaged[printable(file.arcname)]}")
        dist = distribution_of(data, where, None)
        found.append(distribution_of(data, where, wheels.get((dist.name, dist.version))))
    return found


def _check_lock(found: Sequence[ShippedDistribution], lock: Lock, zip_name: str) -> None:
    """A lock given with a zip must describe it: the same version of every package in both."""
    locked = {str(canonicalize_name(package.name)): package.version for package in lock.packages}
    for dist in found:
        if dist.name in locked and locked[dist.name] != dist.version:
            raise InputError(
                f"the lock does not describe {zip_name}: {dist.name} {dist.version} in the zip,"
                f" {locked[dist.name]} in the lock",
                hint="give the lock this zip was built from (build --lock writes it)",
            )


def inventory_of_zip(
    path: Path,
    lock: Lock | None = None,
    provided: Sequence[ProvidedPackage] = (),
    target: str | None = None,
) -> Inventory:
    """The inventory of any layer or function zip, read from its ``*.dist-info`` directories.

    With ``lock`` (the zip's pylock.toml) each distribution gets its wheel's URL and sha256.
    Every read is bounded; an unreadable or nameless ``METADATA`` is one :class:`InputError`
    (an SBOM that silently left a distribution out would say less than the zip holds).
    """
    placement = read_zip(path, Layout.SITE_PACKAGES)
    infos = [file.member for file in placement.files if file.member is not None]
    artefact = Artefact(path.name, file_sha256(path), "", _created(infos))
    return inventory_of_placement(placement, artefact, lock, provided, target)


def inventory_of_placement(
    placement: Placement,
    artefact: Artefact,
    lock: Lock | None = None,
    provided: Sequence[ProvidedPackage] = (),
    target: str | None = None,
) -> Inventory:
    """The inventory of placed files (a zip read, or what an image's layers hold), from their
    ``*.dist-info`` directories; ``artefact`` names what they are (its ``kind`` left empty:
    a layer or a function, as the files say)."""
    layer = view_of(placement)
    wheels = wheels_of(lock) if lock is not None else {}
    with placement.reader() as reader:
        found = _zip_distributions(layer, reader, wheels)
        libraries = tuple(
            VendoredLibrary(
                file.arcname,
                _placed_sha256(reader, file, artefact.name),
                file.size,
                layer.owner(file.arcname),
            )
            for file in layer.files
            if is_vendored(file.arcname)
        )
    if lock is not None:
        _check_lock(found, lock, artefact.name)
    if not artefact.kind:
        artefact = replace(artefact, kind="layer" if layer.is_layer else "function")
    unique = {(dist.name, dist.version): dist for dist in found}
    return Inventory(
        artefact=artefact,
        distributions=tuple(sorted(unique.values(), key=lambda dist: (dist.name, dist.version))),
        libraries=tuple(sorted(libraries, key=lambda lib: lib.path)),
        provided=tuple(provided),
        target=target,
    )


def runtime_provided(target: Target) -> tuple[ProvidedPackage, ...]:
    """The runtime's own packages in ``/var/runtime`` (``data/runtime_packages.toml``)."""
    packages = runtime_packages(target)
    if packages is None:
        return ()
    provider = f"{target.runtime.name} runtime (/var/runtime)"
    return tuple(
        ProvidedPackage(name, version, provider) for name, version in sorted(packages.pins.items())
    )


def layer_provided(provided: Provided) -> tuple[ProvidedPackage, ...]:
    """The pinned distributions of a layer beneath (the managed layer, another zip)."""
    return tuple(
        ProvidedPackage(str(canonicalize_name(name)), version, provided.source)
        for name, version in sorted(provided.pins.items())
    )
