"""Lambda's quotas that a layer or an image is measured against (AWS: "Lambda quotas")."""

from __future__ import annotations

DIRECT_UPLOAD_LIMIT = 50 * 1024 * 1024  # bytes zipped; larger layers go through S3
UNZIPPED_LIMIT = 262_144_000  # the function and all its layers, unzipped
MAX_LAYERS = 5  # layers per function
IMAGE_LIMIT = 10 * 1024**3  # a container image's uncompressed size, all its layers (10 GB)
