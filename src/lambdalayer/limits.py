"""Lambda's quotas that a layer or an image is measured against (AWS: "Lambda quotas").

Each size quota is data: its exact bytes and AWS's own wording ("50 MB" is 52,428,800
bytes: AWS's MB here are 1,048,576 bytes). Every message states one the same way,
through :func:`quota_text`: ``50 MB (52,428,800 bytes)``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SizeQuota:
    """One of Lambda's documented size limits: its bytes, and how AWS's quotas page says it."""

    bytes: int
    aws: str  # AWS's wording of the number
    what: str  # what it limits, as AWS's quotas page says


DIRECT_UPLOAD = SizeQuota(52_428_800, "50 MB", "zipped, for direct upload")
UNZIPPED = SizeQuota(262_144_000, "250 MB", "unzipped, the function and all its layers")
IMAGE = SizeQuota(10_737_418_240, "10 GB", "uncompressed image size, including all layers")
SIZE_QUOTAS = (DIRECT_UPLOAD, UNZIPPED, IMAGE)

DIRECT_UPLOAD_LIMIT = DIRECT_UPLOAD.bytes  # bytes zipped; larger layers go through S3
UNZIPPED_LIMIT = UNZIPPED.bytes  # the function and all its layers, unzipped
MAX_LAYERS = 5  # layers per function
IMAGE_LIMIT = IMAGE.bytes  # a container image's uncompressed size, all its layers


def quota_text(limit: int) -> str:
    """A size limit as every message states it: AWS's wording, then the exact bytes.

    >>> quota_text(52_428_800)
    '50 MB (52,428,800 bytes)'
    """
    quota = next((quota for quota in SIZE_QUOTAS if quota.bytes == limit), None)
    return f"{quota.aws} ({limit:,} bytes)" if quota else f"{limit:,} bytes"


# Payloads of an invocation. The request: AWS's Invoke API refuses a larger synchronous one
# with RequestEntityTooLargeException, "Request must be smaller than 6291456 bytes for the
# InvokeFunction operation"; an asynchronous one is at most 1 MB ("For asynchronous
# invocations, the maximum payload size is 1 MB", AWS: API_Invoke; 256 KB before 2025).
SYNC_REQUEST_LIMIT = 6_291_456
ASYNC_REQUEST_LIMIT = 1_048_576
# The response: AWS's Runtime Interface Emulator, interop.MaxPayloadSize = 6*1024*1024 + 100
# (internal/lambda/interop/model.go); larger is Function.ResponseSizeTooLarge.
RESPONSE_LIMIT = 6 * 1024 * 1024 + 100
