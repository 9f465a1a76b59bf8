"""lambdalayer: correct, small, reproducible AWS Lambda layers for Python packages."""

from __future__ import annotations

__version__ = "0.1.0"
