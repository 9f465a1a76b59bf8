"""An image reference, ``[scheme://]host[:port]/repository[:tag][@sha256:…]``, parsed as Docker does.

The first component is the registry when it has a dot or a colon or is ``localhost``;
otherwise the image is on Docker Hub (``library/`` before a single name). A registry on
this machine (``localhost``, ``127.0.0.1``, ``[::1]``) is spoken to over plain HTTP unless
``https://`` is written, as Docker allows; every other one over HTTPS.

>>> ImageReference.parse("123456789012.dkr.ecr.eu-west-1.amazonaws.com/myfn:v1").base_url
'https://123456789012.dkr.ecr.eu-west-1.amazonaws.com'
>>> ImageReference.parse("127.0.0.1:5000/lambda/python:3.12").base_url
'http://127.0.0.1:5000'
>>> str(ImageReference.parse("python:3.12"))
'docker.io/library/python:3.12'
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from lambdalayer.errors import InputError
from lambdalayer.ocimedia import DIGEST

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]")
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


@dataclass(frozen=True)
class ImageReference:
    """Where an image is: registry, repository, and a tag or digest (or both)."""

    registry: str  # host[:port], as written (docker.io for Docker Hub)
    repository: str
    tag: str | None = None
    digest: str | None = None
    scheme: str = "https"

    @classmethod
    def parse(cls, text: str) -> ImageReference:
        """Parse ``text``; raises :class:`InputError` for what is not an image reference."""
        rest, scheme = text.strip(), None
        for prefix in ("https://", "http://"):
            if rest.startswith(prefix):
                scheme, rest = prefix[:-3], rest[len(prefix) :]
        digest = None
        if "@" in rest:
            rest, digest = rest.split("@", 1)
            if not DIGEST.fullmatch(digest):
                raise InputError(f"{text!r}: {digest!r} is not a sha256 digest")
        first, _, remainder = rest.partition("/")
        if remainder and ("." in first or ":" in first or first == "localhost"):
            registry, path = first, remainder
        else:
            registry, path = DOCKER_HUB, rest if "/" in rest else f"library/{rest}"
        tag = None
        name, colon, maybe_tag = path.rpartition(":")
        if colon and "/" not in maybe_tag:
            path, tag = name, maybe_tag
            if not _TAG.fullmatch(tag):
                raise InputError(f"{text!r}: {tag!r} is not a valid tag")
        if not _REPOSITORY.fullmatch(path):
            raise InputError(
                f"{text!r} is not an image reference",
                hint="write it as HOST/REPOSITORY:TAG, e.g."
                " 123456789012.dkr.ecr.eu-west-1.amazonaws.com/myfn:v1",
            )
        host = registry.rsplit(":", 1)[0] if not registry.startswith("[") else registry
        if scheme is None:
            scheme = "http" if host in LOCAL_HOSTS or registry.startswith("[::1]") else "https"
        return cls(registry, path, tag, digest, scheme)

    @property
    def base_url(self) -> str:
        """The registry's URL (``https://host``); Docker Hub's API host for ``docker.io``."""
        host = DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry
        return f"{self.scheme}://{host}"

    @property
    def host(self) -> str:
        """The registry's ``host[:port]`` as requests see it (credentials are kept by it)."""
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    @property
    def reference(self) -> str:
        """What names the manifest in the API: the digest if known, else the tag (``latest``)."""
        return self.digest or self.tag or "latest"

    def pinned(self, digest: str) -> ImageReference:
        """The same image named by its manifest's digest."""
        return replace(self, digest=digest)

    @property
    def uri(self) -> str:
        """``host/repository@sha256:…`` (with the digest) or ``host/repository:tag``: what
        Lambda's ``ImageUri`` takes."""
        if self.digest:
            return f"{self.registry}/{self.repository}@{self.digest}"
        return f"{self.registry}/{self.repository}:{self.tag or 'latest'}"

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text
