"""One repository on one registry, spoken to through the OCI distribution API.

Follows the OCI distribution specification (v1.1, "Pulling", "Pushing", "Content
Discovery" sections) and Docker's token authentication:

- pull: ``GET /v2/<name>/manifests/<reference>`` with the manifest types in ``Accept``;
  ``GET /v2/<name>/blobs/<digest>``, each blob's sha256 checked before it is used;
- push: ``HEAD /v2/<name>/blobs/<digest>`` first — a blob the registry has is not sent;
  ``POST /v2/<name>/blobs/uploads/?mount=<digest>&from=<other>`` to take a blob from
  another repository of the same registry (201: mounted; 202: not, upload it); an upload
  is ``POST …/blobs/uploads/`` (202 and a ``Location``), one ``PATCH`` streaming the blob
  to that location, then ``PUT <location>?digest=<digest>`` (201), the sequence Docker's
  own client uses and every registry accepts; then ``PUT /v2/<name>/manifests/<tag>``
  with the manifest's media type as ``Content-Type``;
- authentication: a 401's ``WWW-Authenticate`` is answered once. ``Bearer realm=…,
  service=…``: a token from the realm for ``repository:<name>:pull[,push]`` (and
  ``repository:<other>:pull`` for a mount), asked with the registry's credentials when
  there are some, anonymously otherwise; ``Basic``: the credentials themselves. The
  ``Authorization`` header goes only to the registry's own scheme, host and port — not to
  an upload location or a blob redirect elsewhere (urllib3 drops it on such redirects).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any
from urllib.parse import SplitResult, urlencode, urljoin, urlsplit

from lambdalayer.errors import FetchError, TransientError
from lambdalayer.net.http import (
    Response,
    download_to,
    get_response,
    redact,
    send,
    with_retries,
)
from lambdalayer.network import auth_host_allowed
from lambdalayer.oci.credentials import Credentials, no_credentials
from lambdalayer.oci.reference import DOCKER_HUB_API, ImageReference
from lambdalayer.ocimedia import (
    DIGEST,
    INDEX_TYPES,
    MANIFEST_TYPES,
    MAX_DOCUMENT_BYTES,
    OCI_ARCH,
    OCI_INDEX,
    json_object,
)

_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')
DOCKER_HUB_AUTH = "auth.docker.io"  # Docker Hub's own token service (registry-1.docker.io's realm)
LOGIN_HINT = "log in with 'docker login HOST' (lambdalayer reads its credentials), or give --registry-auth USER:PASSWORD"


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def _allow_hint(host: str) -> str:
    return (
        f"lambdalayer sends registry credentials only to the registry's own host; if {host} is"
        f" its token service, allow it: --allow-auth-host {host}"
    )


def _origin_key(parts: SplitResult) -> tuple[str, str, int | None]:
    default = {"https": 443, "http": 80}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or default


def _host_port(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc.rpartition("@")[2]


class RegistryClient:
    """Manifests and blobs of ``image.repository`` on ``image``'s registry.

    ``push`` asks for push rights when a token is needed; ``mount_from`` names other
    repositories of the same registry whose blobs may be mounted.
    """

    def __init__(
        self,
        image: ImageReference,
        credentials: Credentials = no_credentials,
        *,
        push: bool = False,
        mount_from: Sequence[str] = (),
    ) -> None:
        self.image = image
        self.base = image.base_url
        self.repository = image.repository
        self.credentials = credentials
        self.actions = "pull,push" if push else "pull"
        self.mount_from = tuple(name for name in mount_from if name != image.repository)
        self.authorization: str | None = None
        self.withheld_from: str | None = None  # a token service not given the credentials

    # -- requests ---------------------------------------------------------------------------

    def url(self, path: str) -> str:
        """``<registry>/v2/<repository>/<path>``."""
        return f"{self.base}/v2/{self.repository}/{path}"

    def _headers(self, url: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = dict(extra or {})
        if self.authorization and _origin(url) == _origin(self.base):
            headers["Authorization"] = self.authorization
        return headers

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | IO[bytes] | None = None,
        passthrough: frozenset[int] = frozenset(),
    ) -> Response:
        """One request, authenticating once if the registry answers 401 (its answer read to
        :data:`MAX_DOCUMENT_BYTES`: a manifest, an index, an error)."""

        def once() -> Response:
            if body is not None and not isinstance(body, bytes):
                body.seek(0)
            return send(
                method,
                url,
                headers=self._headers(url, headers),
                body=body,
                passthrough=passthrough | {401},
                limit=MAX_DOCUMENT_BYTES,
            )

        response = once()
        if response.status == 401 and _origin(url) == _origin(self.base):
            self._authenticate(response.headers.get("www-authenticate", ""))
            response = once()
        if response.status == 401:
            raise self._refused(None)
        return response

    def _refused(self, realm: str | None) -> FetchError:
        """The registry (or its token service ``realm``) said no; why, and what to do."""
        withheld = self.withheld_from
        if realm is not None:
            asked = "an anonymous request" if withheld else "the credentials"
            return FetchError(
                f"the token service {redact(realm)} refused {asked} for {self.image.registry}",
                hint=_allow_hint(withheld) if withheld else LOGIN_HINT,
            )
        return FetchError(
            f"{self.image.registry} refused the credentials for {self.repository}"
            f" ({self.actions})"
            + (f"; its token service {withheld} was asked without them" if withheld else ""),
            hint=_allow_hint(withheld) if withheld else LOGIN_HINT,
        )

    def _authenticate(self, challenge: str) -> None:
        scheme = challenge.split(" ", 1)[0].lower()
        credentials = self.credentials(self.image.host)
        basic = None
        if credentials is not None:
            basic = "Basic " + base64.b64encode(":".join(credentials).encode()).decode()
        if scheme == "basic":
            if basic is None:
                raise FetchError(
                    f"{self.image.registry} asks for a user name and password", hint=LOGIN_HINT
                )
            self.authorization = basic
            return
        if scheme != "bearer":
            raise FetchError(
                f"{self.image.registry} asks for {challenge.split(' ', 1)[0] or 'unknown'}"
                " authentication, which lambdalayer does not speak"
            )
        fields = dict(_CHALLENGE.findall(challenge))
        realm = fields.get("realm")
        if not realm:
            raise FetchError(f"{self.image.registry} gave no token realm in its challenge")
        self._check_realm(realm)
        query: list[tuple[str, str]] = []
        if fields.get("service"):
            query.append(("service", fields["service"]))
        query.append(("scope", f"repository:{self.repository}:{self.actions}"))
        query += [("scope", f"repository:{name}:pull") for name in self.mount_from]
        send_credentials = basic is not None and self._may_receive_credentials(realm)
        if basic is not None and not send_credentials:
            self.withheld_from = _host_port(realm)
        response = get_response(
            f"{realm}{'&' if '?' in realm else '?'}{urlencode(query)}",
            headers={"Authorization": basic} if send_credentials and basic else None,
            passthrough=frozenset({401, 403}),
            limit=MAX_DOCUMENT_BYTES,
        )
        if response.status in {401, 403}:
            raise self._refused(realm)
        try:
            document = json.loads(response.body)
        except ValueError as error:
            raise FetchError(f"the token service {redact(realm)} answered no JSON") from error
        token = document.get("token") or document.get("access_token")
        if not isinstance(token, str):
            raise FetchError(f"the token service {redact(realm)} answered without a token")
        self.authorization = f"Bearer {token}"

    def _check_realm(self, realm: str) -> None:
        """A token realm must be ``https://`` — ``http://`` only for a registry spoken to over
        plain HTTP (named with ``http://``, or on this machine); never ``file://`` or other."""
        parts = urlsplit(realm)
        plain_ok = self.image.scheme == "http"
        if not parts.hostname or parts.scheme not in ({"https", "http"} if plain_ok else {"https"}):
            raise FetchError(
                f"{self.image.registry} names its token service {redact(realm)!r}: not an"
                f" {'http(s)' if plain_ok else 'https'}:// URL, so lambdalayer does not ask it",
                hint="a registry's token service must be an https:// URL",
            )

    def _may_receive_credentials(self, realm: str) -> bool:
        """The user's credentials go to the registry's own host and port, to Docker Hub's own
        token service for Docker Hub, or to a host the user allows (``--allow-auth-host``)."""
        ours, theirs = urlsplit(self.base), urlsplit(realm)
        if _origin_key(ours) == _origin_key(theirs):
            return True
        if self.image.host == DOCKER_HUB_API and theirs.hostname == DOCKER_HUB_AUTH:
            return theirs.scheme == "https"
        return auth_host_allowed(theirs.hostname or "", _origin_key(theirs)[2])

    # -- pull -------------------------------------------------------------------------------

    def manifest(self, reference: str, accept: Sequence[str]) -> tuple[bytes, str]:
        """The manifest (or index) named by a tag or digest: its bytes and media type."""
        url = self.url(f"manifests/{reference}")
        response = self.request(
            "GET", url, headers={"Accept": ", ".join(accept)}, passthrough=frozenset({404})
        )
        if response.status == 404:
            raise FetchError(
                f"{self.image.registry}/{self.repository} has no image {reference}",
                url=redact(url),
            )
        body = response.body
        if reference.startswith("sha256:") and _digest(body) != reference:
            raise FetchError(f"the manifest {reference} does not match its digest")
        return body, response.headers.get("content-type", "")

    def blob(
        self,
        digest: str,
        out: Path,
        on_chunk: Callable[[bytes], None] = lambda _c: None,
        *,
        size: int | None = None,
    ) -> int:
        """Download a blob of ``size`` declared bytes (its descriptor's) to ``out``, verified;
        raises :class:`FetchError` if it differs. A body longer than declared is cut off
        there and refused; the transfer's time limit follows the declared size, never the
        registry's ``Content-Length``."""
        url = self.url(f"blobs/{digest}")

        def attempt() -> int:
            sha = hashlib.sha256()

            def both(chunk: bytes) -> None:
                sha.update(chunk)
                on_chunk(chunk)

            with out.open("wb") as stream:
                written = download_to(url, stream, both, self._headers(url), size=size)
            if f"sha256:{sha.hexdigest()}" != digest:
                out.unlink(missing_ok=True)
                raise FetchError(
                    f"blob {digest} from {redact(url)} does not match its digest (got"
                    f" sha256:{sha.hexdigest()})",
                    hint="the registry or a proxy served other bytes; nothing of it was kept",
                )
            return written

        if self.authorization is None:
            self.has_blob(digest)  # answers the registry's challenge, if it has one
        return with_retries(f"download of {digest}", attempt)

    # -- push -------------------------------------------------------------------------------

    def has_blob(self, digest: str) -> bool:
        """Whether the repository has the blob (``HEAD``)."""
        response = self.request("HEAD", self.url(f"blobs/{digest}"), passthrough=frozenset({404}))
        return 200 <= response.status < 300

    def mount(self, digest: str, source: str) -> bool:
        """Mount the blob from the repository ``source`` of the same registry; ``False``: not done."""
        query = urlencode({"mount": digest, "from": source})
        response = self.request(
            "POST",
            self.url(f"blobs/uploads/?{query}"),
            headers={"Content-Length": "0"},
            passthrough=frozenset({404}),
        )
        if response.status == 202 and response.headers.get("location"):
            # Not mounted: the registry opened an upload instead; close it.
            location = urljoin(f"{self.base}/", response.headers["location"])
            self.request("DELETE", location, passthrough=frozenset({400, 404, 405}))
        return response.status == 201

    def upload(self, digest: str, path: Path) -> int:
        """Upload the blob in ``path`` (POST, one streaming PATCH, PUT); returns its size."""
        size = path.stat().st_size

        def attempt() -> int:
            opened = self.request(
                "POST", self.url("blobs/uploads/"), headers={"Content-Length": "0"}
            )
            location = self._location(opened, "starting an upload")
            with path.open("rb") as stream:
                patched = self.request(
                    "PATCH",
                    location,
                    headers={
                        "Content-Type": "application/octet-stream",
                        "Content-Length": str(size),
                    },
                    body=stream,
                )
            location = self._location(patched, "sending a blob")
            separator = "&" if "?" in location else "?"
            done = self.request(
                "PUT",
                f"{location}{separator}{urlencode({'digest': digest})}",
                headers={"Content-Length": "0"},
            )
            if done.status != 201:
                raise TransientError(f"the upload of {digest} ended with HTTP {done.status}")
            return size

        return with_retries(f"upload of {digest}", attempt)

    def _location(self, response: Response, doing: str) -> str:
        location = response.headers.get("location")
        if response.status != 202 or not location:
            raise FetchError(
                f"{self.image.registry} answered HTTP {response.status} without an upload"
                f" location while {doing}"
            )
        return urljoin(f"{self.base}/", location)

    def put_manifest(self, reference: str, body: bytes, media_type: str) -> str:
        """Store the manifest under ``reference`` (a tag, or its digest); returns its digest."""
        return self._put_manifest(reference, body, media_type)[0]

    def put_referrer(self, body: bytes, media_type: str) -> tuple[str, bool]:
        """Store a manifest that has a ``subject`` by its digest: (its digest, whether the
        registry took it as a referrer — it answers ``OCI-Subject``, distribution spec 1.1;
        one that does not needs the ``sha256-<hex>`` tag schema)."""
        digest, headers = self._put_manifest(_digest(body), body, media_type)
        return digest, bool(headers.get("oci-subject"))

    def referrers_tag(self, tag: str) -> bytes | None:
        """The index under the referrers tag ``tag`` (``sha256-<hex>``), or ``None``."""
        url = self.url(f"manifests/{tag}")
        response = self.request(
            "GET", url, headers={"Accept": OCI_INDEX}, passthrough=frozenset({404})
        )
        return None if response.status == 404 else response.body

    def _put_manifest(
        self, reference: str, body: bytes, media_type: str
    ) -> tuple[str, Mapping[str, str]]:
        response = self.request(
            "PUT",
            self.url(f"manifests/{reference}"),
            headers={"Content-Type": media_type, "Content-Length": str(len(body))},
            body=body,
        )
        digest = _digest(body)
        answered = response.headers.get("docker-content-digest")
        if response.status != 201 or (answered and answered != digest):
            raise FetchError(
                f"{self.image.registry} did not store the manifest {digest} (HTTP"
                f" {response.status}{', it answered ' + answered if answered else ''})"
            )
        return digest, response.headers


def _digest(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def platform_manifest(
    client: RegistryClient, reference: str, machine: str
) -> tuple[dict[str, Any], bytes, str]:
    """The image manifest for ``linux/<machine>`` under ``reference``, following an index:
    the manifest, its bytes (their sha256 is its digest) and its digest."""
    body, content_type = client.manifest(reference, (*INDEX_TYPES, *MANIFEST_TYPES))
    document = json_object(body, f"the manifest of {reference}")
    media_type = document.get("mediaType") or content_type
    if media_type in INDEX_TYPES or "manifests" in document:
        wanted = OCI_ARCH[machine]
        entry = next(
            (
                item
                for item in document.get("manifests", [])
                if isinstance(item, dict)
                and item.get("platform", {}).get("os") == "linux"
                and item.get("platform", {}).get("architecture") == wanted
            ),
            None,
        )
        if entry is None:
            raise FetchError(f"{client.repository}:{reference} has no image for linux/{wanted}")
        digest = str(entry.get("digest"))
        if not DIGEST.fullmatch(digest):
            raise FetchError(f"{client.repository}:{reference} names a manifest {digest!r}")
        body, _ = client.manifest(digest, MANIFEST_TYPES)
        return json_object(body, f"manifest {digest}"), body, digest
    return document, body, _digest(body)
