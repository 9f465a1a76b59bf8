"""What every command of the CLI shares: exit codes, stderr lines, JSON documents.

Every JSON document the CLI prints is one object with ``"schema": 2`` (bumped when a
field changes meaning) and ``"ok"``; lists are wrapped in an object so that the field
has a place.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

from lambdalayer.cli.flags import in_flags

if TYPE_CHECKING:
    from lambdalayer.cli.display import Display

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM, what a shell reports for a process ended by it
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: the reader of stdout went away (| head)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that every clean-up on the way out runs the same."""


# 2: a target is one object everywhere; a matrix build's check sits at builds[].check
# 3: a check's "ok" is true only when every part passed ("verdict": passed, failed or
#    not verified; "parts", "unverified"); a matrix's "ok" likewise, each row its "verdict"
JSON_SCHEMA = 3


class Output:
    """How much the command says on stderr (set once by ``main``), by kind of line:

    - progress and information (:func:`stderr`): left out by ``-q``, and by ``--json``
      unless ``-v``;
    - warnings (:func:`warn`: ``warning:`` and ``notice:`` lines and their hints): left out
      by ``-qq`` only — ``-q`` keeps them, and so does ``--json`` (where the JSON document
      holds the warnings, the command says them there instead);
    - errors and their hints (:func:`say`): always.
    """

    verbosity = 0
    as_json = False
    _display: Display | None = None

    @classmethod
    def configure(cls, *, verbosity: int, as_json: bool) -> None:
        """Set the level for this run of the command line."""
        cls.verbosity, cls.as_json = verbosity, as_json

    @classmethod
    def shows_progress(cls) -> bool:
        """Progress and information go to stderr: not with ``-q``, nor ``--json`` without ``-v``."""
        return cls.verbosity >= 0 and not (cls.as_json and cls.verbosity == 0)

    @classmethod
    def shows_warnings(cls) -> bool:
        """Warnings go to stderr: not with ``-qq``."""
        return cls.verbosity >= -1

    @classmethod
    def display(cls) -> Display:
        """The one :class:`~lambdalayer.cli.display.Display` of stderr (made on first use)."""
        if cls._display is None or cls._display.stream is not sys.stderr:
            from lambdalayer.cli.display import Display  # noqa: PLC0415 - not for --version

            cls._display = Display(sys.stderr)
        return cls._display

    @classmethod
    def end_progress(cls) -> None:
        """Leave stderr with no status line (before the command's last words, and at exit)."""
        if cls._display is not None and cls._display.stream is sys.stderr:
            cls._display.close()


def stderr(message: str) -> None:
    """A message of progress or information to stderr (``-q`` leaves it out; a warning goes
    through :func:`warn`, and so does a :class:`~lambdalayer.progress.Notice`).

    Builds report progress from several threads: each line is one write. Progress
    (:class:`~lambdalayer.progress.Transfer`, :class:`~lambdalayer.progress.Step`) is a
    status line redrawn in place on a terminal; elsewhere every line is kept, so logs read
    the same.
    """
    from lambdalayer.progress import Notice, Step, Transfer  # noqa: PLC0415 - not for --version

    if isinstance(message, Notice):  # a wait the user must know of: -q keeps it
        warn(f"{message.label}notice: {message}")
        return
    if not Output.shows_progress():
        return  # --json: the document says it all (-v shows progress on stderr still)
    if isinstance(message, Step | Transfer):
        Output.display().progress(message)
    else:
        Output.display().line(in_flags(message))


def warn(message: str) -> None:
    """A warning to stderr (a ``warning:`` or ``notice:`` line, or the ``hint:`` under one):
    ``-q`` keeps it, ``-qq`` leaves it out."""
    if Output.shows_warnings():
        Output.display().line(in_flags(message))


def say(message: str) -> None:
    """A line to stderr that is always shown (an error, its hint)."""
    Output.display().line(in_flags(message))


def print_json(document: Mapping[str, object]) -> None:
    """Print ``document`` to stdout as the command's one JSON object, with its schema number
    (the library's settings said as this command line's flags)."""
    print(json.dumps(_in_flags({"schema": JSON_SCHEMA, **document}), indent=2))


def _in_flags(value: object) -> object:
    if isinstance(value, str):
        return in_flags(value)
    if isinstance(value, Mapping):
        return {key: _in_flags(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_in_flags(item) for item in value]
    return value
