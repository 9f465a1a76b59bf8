"""What ``image build`` is asked: the same inputs as a layer, a base, and where the image goes.

>>> request = ImageRequest(  # doctest: +SKIP
...     BuildRequest(get_target("python3.12", "arm64"), Resolve(requirements), ZipOutput(...)),
...     ImageOutputs(archive=Path("image.tar")),
... )
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lambdalayer.aws.client import AwsSettings
from lambdalayer.builder.request import BuildRequest
from lambdalayer.oci.reference import ImageReference

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
    """Where the image goes: an OCI layout archive, a registry, a function to run it."""

    archive: Path | None = None
    push: ImageReference | None = None
    deploy: str | None = None  # a function's name or ARN: update-function-code --image-uri


@dataclass(frozen=True)
class ImageRequest:
    """One container image for one target.

    ``contents`` says what goes in, as for a layer: the target, the requirements (or lock),
    slimming and bytecode, the function's code and handler, what is beneath, the cache and
    whether to check (its ``output`` is not used). ``base``: a registry reference, an OCI
    layout directory or archive; ``None`` is AWS's base image of the runtime. ``handler``:
    the image's ``CMD`` (``None`` keeps the base's).
    """

    contents: BuildRequest
    outputs: ImageOutputs
    base: str | None = None
    auth: RegistryAuth = field(default_factory=RegistryAuth)
    handler: str | None = None

    @property
    def base_name(self) -> str:
        """The base as given, or the runtime's AWS base image."""
        version = self.contents.target.runtime.python_version
        return self.base or DEFAULT_BASE.format(version=version)
