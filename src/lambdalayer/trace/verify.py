"""Does the trimmed artefact answer every traced event as the untrimmed one did?

Each event's answer is compared byte for byte — the response, or Lambda's error document
without its request id — or, with JSON paths to ignore (``body.time``, ``items.0.id``), as
JSON with those values removed. A difference names the event and the first file access
that differed between the two traces (usually the trimmed file the function reached).
"""

from __future__ import annotations

import json

from lambdalayer.errors import TrimError, option
from lambdalayer.invoke import Invocation
from lambdalayer.trace.trace import Trace
from lambdalayer.zipnames import printable

__all__ = ["answer", "first_difference", "verify_traces"]


def _drop(document: object, path: str) -> None:
    *parents, last = path.split(".")
    for part in parents:
        if isinstance(document, dict):
            document = document.get(part)
        elif isinstance(document, list) and part.isdigit() and int(part) < len(document):
            document = document[int(part)]
        else:
            return
    if isinstance(document, dict):
        document.pop(last, None)
    elif isinstance(document, list) and last.isdigit() and int(last) < len(document):
        document[int(last)] = None


def answer(invocation: Invocation, ignore: tuple[str, ...] = ()) -> bytes:
    """What an invocation answered, as compared: its payload, or its error document."""
    if invocation.error is not None:
        error = {key: value for key, value in invocation.error.items() if key != "requestId"}
        return json.dumps(error, sort_keys=True).encode()
    if not ignore:
        return invocation.payload
    try:
        document = json.loads(invocation.payload)
    except (ValueError, RecursionError):
        return invocation.payload
    for path in ignore:
        _drop(document, path)
    return json.dumps(document, sort_keys=True).encode()


def first_difference(before: tuple[str, ...], after: tuple[str, ...]) -> str:
    """The first file access that differs between two traces of one event."""
    for number, (was, now) in enumerate(zip(before, after, strict=False)):
        if was != now:
            return f"access {number + 1}: {printable(was)} before, {printable(now)} after trimming"
    if len(before) > len(after):
        return (
            f"access {len(after) + 1}: {printable(before[len(after)])} is not opened after trimming"
        )
    if len(after) > len(before):
        return f"access {len(before) + 1}: {printable(after[len(before)])} is opened only after trimming"
    return "the same files were opened"


def verify_traces(before: Trace, after: Trace, ignore: tuple[str, ...] = ()) -> int:
    """How many events answered the same; :class:`TrimError` at the first that did not."""
    opened_before, opened_after = dict(before.opened), dict(after.opened)
    pairs = zip(before.report.invocations, after.report.invocations, strict=True)
    for label, (was, now) in zip(before.events[1:], pairs, strict=True):
        if answer(was, ignore) != answer(now, ignore):
            access = first_difference(opened_before.get(label, ()), opened_after.get(label, ()))
            init = first_difference(opened_before.get("init", ()), opened_after.get("init", ()))
            shown = answer(now, ignore)[:300].decode("utf-8", "replace")
            raise TrimError(
                f"the trimmed artefact answers event {printable(label)} differently; first"
                f" differing file access: {access} (init: {init}); it answered {printable(shown)}",
                hint=f"keep what it reached ({option('TrimRequest.keep', 'PATH')}, or a line in the"
                " manifest), or ignore a value that changes on every call"
                f" ({option('TrimRequest.ignore_json_paths', 'A.B')})",
            )
    return len(before.events) - 1
