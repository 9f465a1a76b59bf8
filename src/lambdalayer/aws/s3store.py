"""The fleet's shared cache in S3: ``s3://bucket/prefix`` as a :class:`RemoteStore`.

Credentials come from the usual AWS chain (environment, profile, instance role); the
client goes through the proxy and CA settings every AWS call uses
(:func:`lambdalayer.aws.client.client`). Objects are written with ``If-None-Match: *`` —
S3 refuses the put when the name exists (412), so two CI jobs writing the same entry
never tear or replace it — and read bounded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lambdalayer.aws.client import AwsSettings, client, translate
from lambdalayer.cache.remote import read_bounded
from lambdalayer.errors import CacheError, InputError

_CONDITION_FAILED = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}
_MISSING = {"NoSuchKey", "404", "NotFound"}  # HEAD has no body: its code is the status's


class S3Store:
    """Objects under ``s3://bucket/prefix/``."""

    def __init__(self, bucket: str, prefix: str, settings: AwsSettings) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.where = f"s3://{bucket}/{self.prefix}".rstrip("/")
        self._client: Any = client(settings, "s3")

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def open(self, name: str) -> Any:
        """The object's body to read from its first byte (``None``: not there); only what
        the reader reads of it is fetched before it is closed."""
        answer = self._request(
            lambda: self._client.get_object(Bucket=self.bucket, Key=self._key(name)),
            f"reading {name} from {self.where}",
            _absent,
        )
        return None if answer is None else answer["Body"]

    def get(self, name: str, limit: int) -> bytes | None:
        """The object (``None``: not there); over ``limit`` bytes is a :class:`CacheError`."""
        return read_bounded(self, name, limit)

    def put_new(self, name: str, data: bytes) -> bool:
        """Put ``name`` with ``If-None-Match: *``; ``False`` when it is there already."""
        answer = self._request(
            lambda: self._client.put_object(
                Bucket=self.bucket, Key=self._key(name), Body=data, IfNoneMatch="*"
            ),
            f"writing {name} to {self.where}",
            _already_there,
        )
        return answer is not None

    def has(self, name: str) -> bool:
        """Whether ``name`` is there (a HEAD request: nothing is read or listed)."""
        answer = self._request(
            lambda: self._client.head_object(Bucket=self.bucket, Key=self._key(name)),
            f"asking for {name} in {self.where}",
            _absent,
        )
        return answer is not None

    def _request(self, call: Callable[[], Any], doing: str, no: Callable[[Any], bool]) -> Any:
        """S3's answer to ``call()``; ``None`` when S3 refused it as ``no`` says is an answer
        (the object is not there, or is there already); any other refusal, or no answer,
        is a :class:`CacheError` saying what was being done."""
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        try:
            return call()
        except ClientError as error:
            if no(error):
                return None
            raise _error(error, doing) from error
        except BotoCoreError as error:
            raise _error(error, doing) from error

    def names(self, prefix: str, limit: int) -> list[str]:
        """The names under ``prefix`` (listed page by page, at most ``limit``)."""
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        found: list[str] = []
        start = self._key(prefix)
        cut = len(self._key(""))
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=start
            )
            for page in pages:
                for item in page.get("Contents", []):
                    found.append(str(item["Key"])[cut:])
                    if len(found) >= limit:
                        return found
        except (BotoCoreError, ClientError) as error:
            raise _error(error, f"listing {self.where}/{prefix}") from error
        return found


def _code(error: Any) -> str:
    """A botocore ``ClientError``'s error code (``NoSuchKey``, ``404``, …)."""
    return str(error.response.get("Error", {}).get("Code", ""))


def _absent(error: Any) -> bool:
    """Whether S3 refused a GET or HEAD because the object is not there."""
    return _code(error) in _MISSING


def _already_there(error: Any) -> bool:
    """Whether S3 refused an ``If-None-Match: *`` put because the name exists."""
    status = str(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
    return _code(error) in _CONDITION_FAILED or status in {"412", "409"}


def _error(error: Exception, doing: str) -> CacheError:
    translated = translate(error, doing)
    return CacheError(translated.message, hint=translated.hint)


def s3_store(url: str, settings: AwsSettings) -> S3Store:
    """The store of an ``s3://bucket/prefix`` URL."""
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    if not url.startswith("s3://") or not bucket:
        raise InputError(
            f"{url!r:.100} is not an s3://bucket/prefix URL",
            hint="e.g. s3://my-ci-cache/lambdalayer",
        )
    return S3Store(bucket, prefix, settings)
