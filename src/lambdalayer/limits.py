"""Lambda's quotas that a layer or an image is measured against (AWS: "Lambda quotas")."""

from __future__ import annotations

DIRECT_UPLOAD_LIMIT = 50 * 1024 * 1024  # bytes zipped; larger layers go through S3
UNZIPPED_LIMIT = 262_144_000  # the function and all its layers, unzipped
MAX_LAYERS = 5  # layers per function
IMAGE_LIMIT = 10 * 1024**3  # a container image's uncompressed size, all its layers (10 GB)

# Payloads of an invocation. The request: AWS's Invoke API refuses a larger synchronous one
# with RequestEntityTooLargeException, "Request must be smaller than 6291456 bytes for the
# InvokeFunction operation"; an asynchronous one is at most 1 MB ("For asynchronous
# invocations, the maximum payload size is 1 MB", AWS: API_Invoke; 256 KB before 2025).
SYNC_REQUEST_LIMIT = 6_291_456
ASYNC_REQUEST_LIMIT = 1_048_576
# The response: AWS's Runtime Interface Emulator, interop.MaxPayloadSize = 6*1024*1024 + 100
# (internal/lambda/interop/model.go); larger is Function.ResponseSizeTooLarge.
RESPONSE_LIMIT = 6 * 1024 * 1024 + 100
