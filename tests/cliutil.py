"""Running the CLI in-process from tests."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lambdalayer.cli.main import main


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``lambdalayer ARGS``: (exit code, stdout, stderr)."""
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    """``lambdalayer ARGS`` that must succeed and print JSON; returns the parsed output."""
    code, out, err = run_cli(capsys, *args)
    assert code == 0, err
    return json.loads(out)
