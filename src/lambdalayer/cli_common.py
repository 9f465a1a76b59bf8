"""What every command of the CLI shares: exit codes, stderr lines, JSON documents.

Every JSON document the CLI prints is one object with ``"schema": 1`` (bumped when a
field changes meaning) and ``"ok"``; lists are wrapped in an object so that the field
has a place.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_INTERRUPTED = 130
JSON_SCHEMA = 1


def stderr(message: str) -> None:
    """One line to stderr, in one write (builds report progress from several threads)."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def print_json(document: Mapping[str, object]) -> None:
    """Print ``document`` to stdout as the command's one JSON object, with its schema number."""
    print(json.dumps({"schema": JSON_SCHEMA, **document}, indent=2))
