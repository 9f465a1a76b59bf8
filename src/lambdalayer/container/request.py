"""What ``image build`` is asked: the same inputs as a layer, a base, and where the image goes.

>>> request = ImageRequest(  # doctest: +SKIP
...     get_target("python3.12", "arm64"),
...     Resolve(requirements),
...     ImageOutputs(archive=Path("image.tar"), lock=Path("pylock.toml")),
... )
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lambdalayer.aws.beneath import Beneath
from lambdalayer.aws.client import AwsSettings
from lambdalayer.cache import cache_root
from lambdalayer.net.fetch import DEFAULT_JOBS
from lambdalayer.oci.reference import ImageReference
from lambdalayer.prepare import BuildRecipe
from lambdalayer.resolve.stage import LockSource
from lambdalayer.supply.sbom import SbomFormat
from lambdalayer.targets import Target
from lambdalayer.trim.manifest import Manifest

DEFAULT_BASE = "public.ecr.aws/lambda/python:{version}"


@dataclass(frozen=True)
class RegistryAuth:
    """How lambdalayer logs in to registries.

    ``password``: ``--registry-auth USER:PASSWORD`` for the registry pushed to; ``ecr``:
    ``--registry-auth ecr``, ECR's token (boto3, ``aws``'s settings) for it even when its
    host does not look like ECR's (a private ECR host, a proxy). Otherwise an ECR host gets
    ECR's token, and every registry the Docker configuration's credentials.
    """

    password: tuple[str, str] | None = None
    ecr: bool = False
    aws: AwsSettings = field(default_factory=AwsSettings)


@dataclass(frozen=True)
class ImageOutputs:
    """Where the image goes: an OCI layout archive, a registry, a function to run it; and
    where its lock goes (the exact wheels in it, as a layer's)."""

    archive: Path | None = None
    push: ImageReference | None = None
    deploy: str | None = None  # a function's name or ARN: update-function-code --image-uri
    lock: Path | None = None
    sbom: Path | None = None  # the image's SBOM, written there (and pushed beside the image)
    sbom_format: SbomFormat = SbomFormat.CYCLONEDX


@dataclass(frozen=True)
class ImageRequest:
    """One container image for one target.

    What goes in is said as for a layer: the target, the requirements (or lock), the recipe
    (slimming, bytecode, the function's code; its layout is always the image's), what is
    beneath, the cache and whether to check. ``base``: a registry reference, an OCI layout
    directory or archive; ``None`` is AWS's base image of the runtime. ``handler``: the
    image's ``CMD`` (``None``: the function's handler, else the base's).
    """

    target: Target
    source: LockSource
    outputs: ImageOutputs
    recipe: BuildRecipe = field(default_factory=BuildRecipe)
    beneath: Beneath = field(default_factory=Beneath)
    base: str | None = None
    auth: RegistryAuth = field(default_factory=RegistryAuth)
    handler: str | None = None
    check: bool = True
    cache_dir: Path = field(default_factory=cache_root)
    jobs: int = DEFAULT_JOBS
    trim: Manifest | None = None  # ``image build --trim``: only what the manifest keeps

    @property
    def base_name(self) -> str:
        """The base as given, or the runtime's AWS base image."""
        return self.base or DEFAULT_BASE.format(version=self.target.runtime.python_version)

    @property
    def command(self) -> str | None:
        """The image's ``CMD``: the handler given, else the function's."""
        function = self.recipe.function
        return self.handler or (function.handler if function else None)
