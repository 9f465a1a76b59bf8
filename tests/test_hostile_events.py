"""Events from a model of what a user can hand ``invoke``: each refused in one ``error:`` line.

``--event FILE`` and ``--event -`` (stdin, from a file, a device or a stream that never
ends): nested deeper than any Python runtime reads, not JSON (``NaN`` among them, which
Python's decoder takes and Lambda refuses), not UTF-8, over Lambda's synchronous limit
(6,291,456 bytes: AWS's own RequestEntityTooLargeException wording). Refused before any
sandbox starts, in a child process whose peak memory is read; nothing written outside the
cache.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hostilecases import (
    assert_promise,
    case_environment,
    generated,
    run_case,
    snapshot,
)
from hypothesis import given
from hypothesis import strategies as st

pytestmark = pytest.mark.hostile

LIMIT = (
    6_291_456  # AWS: "Request must be smaller than 6291456 bytes for the InvokeFunction operation"
)
TOO_LARGE = f"Request must be smaller than {LIMIT} bytes for the InvokeFunction operation"


def _nested(depth: int, opener: str) -> bytes:
    closer = {"[": "]", "{": "}"}[opener]
    if opener == "{":
        return ('{"a":' * depth + "1" + "}" * depth).encode()
    return (opener * depth + closer * depth).encode()


EVENTS = st.one_of(
    st.tuples(st.integers(2_000, 200_000), st.sampled_from("[{")).map(lambda spec: _nested(*spec)),
    st.sampled_from([b"NaN", b"[Infinity]", b'{"a": -Infinity}', b"", b"{", b"[1,]", b"'x'"]),
    st.binary(min_size=1, max_size=200).filter(
        lambda data: data.strip()[:1] not in (b"{", b"[", b'"')
    ),
    st.binary(min_size=1, max_size=50).map(lambda data: b'{"a": "' + b"\xff" + data + b'"}'),
    st.integers(LIMIT + 1, LIMIT + 3_000_000).map(lambda size: b'"' + b"x" * (size - 2) + b'"'),
)


def _run(place: Path, event_flag: str, stdin: Path | None = None):  # type: ignore[no-untyped-def]
    source = place / "src"
    source.mkdir(exist_ok=True)
    (source / "app.py").write_text("def handler(event, context):\n    return event\n")
    command = [
        "invoke",
        "app.handler",
        "--function",
        str(source),
        "--runtime",
        "python3.12",
        "--event",
        event_flag,
        "--cache-dir",
        str(place / "cache"),
    ]
    environment = case_environment(place)
    before = snapshot(place, skip=(place / "cache",))
    case = run_case([command], environment, place, stdin=stdin)
    assert snapshot(place, skip=(place / "cache",)) == before
    assert_promise(case, must_fail=True)
    return case.outcomes[0].error_lines()[0]


@generated(25)
@given(event=EVENTS, from_stdin=st.booleans())
def test_any_hostile_event_is_one_error_line(tmp_path_factory, event, from_stdin):
    place = tmp_path_factory.mktemp("event")
    path = place / "event.json"
    path.write_bytes(event)
    line = _run(place, "-", stdin=path) if from_stdin else _run(place, str(path))
    if len(event) > LIMIT:
        assert TOO_LARGE in line, line
    else:
        assert "the event" in line, line


def test_a_7_mb_event_is_refused_in_lambdas_words(tmp_path):
    event = tmp_path / "event.json"
    event.write_bytes(b'"' + b"x" * 7_000_000 + b'"')
    line = _run(tmp_path, str(event))
    assert (
        line
        == f"error: RequestEntityTooLargeException: {TOO_LARGE} (the event is over {LIMIT} bytes)"
    )


def test_an_endless_stdin_is_read_to_the_bound(tmp_path):
    line = _run(tmp_path, "-", stdin=Path("/dev/zero"))
    assert TOO_LARGE in line


def test_a_deeply_nested_event_is_one_line_not_a_recursion_error(tmp_path):
    event = tmp_path / "event.json"
    event.write_bytes(_nested(100_000, "["))
    line = _run(tmp_path, str(event))
    assert "the event nests deeper than" in line
