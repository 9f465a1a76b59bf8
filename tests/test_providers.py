"""Which distribution a missing module's hint names (lambdalayer.check.providers).

The table is generated from real wheels by scripts/module_providers.py; these are the
well-known mismatches between an import name and its project, each read from a wheel.
"""

from __future__ import annotations

import importlib.util
import itertools
import re
import threading
import time
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hostilecases import generated
from hypothesis import given
from hypothesis import strategies as st
from wheelmaker import make_wheel

from lambdalayer.check.providers import (
    ASKED_PAGE_BYTES,
    ASKING_SECONDS,
    MAX_ASKED,
    MAX_PREFIXES,
    index_answers,
    index_asker,
    index_candidates,
    providers,
    to_add,
    what_to_add,
)
from lambdalayer.errors import LambdaLayerError
from lambdalayer.net.http import ATTEMPTS
from lambdalayer.net.index import IndexConfig, project_files

_PEP503 = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "module_providers.py"


@pytest.mark.parametrize(
    ("module", "first"),
    [
        ("yaml", "PyYAML"),
        ("PIL", "pillow"),
        ("PIL.Image", "pillow"),
        ("cv2", "opencv-python-headless"),  # opencv-python needs libGL, which Lambda lacks
        ("sklearn", "scikit-learn"),
        ("bs4", "beautifulsoup4"),
        ("dateutil", "python-dateutil"),
        ("jwt", "PyJWT"),
        ("ruamel.yaml", "ruamel.yaml"),
        ("google.protobuf.message", "protobuf"),
        ("attr", "attrs"),
        ("Crypto", "pycryptodome"),
    ],
)
def test_well_known_modules_map_to_their_distributions(module: str, first: str) -> None:
    assert providers(module)[0] == first
    assert what_to_add(module).startswith(first)
    assert index_candidates(module) == ()  # known: the index is not asked


def test_a_namespace_root_maps_to_nothing_and_is_never_invented() -> None:
    # google and ruamel are namespaces: their pieces have providers, they themselves none.
    assert providers("google") == ()
    assert providers("ruamel") == ()
    text = what_to_add("ruamel")
    assert text.startswith("the distribution that provides ruamel (no project is known")
    assert "the index was not asked" in text


@pytest.mark.parametrize(
    ("module", "on_index", "what"),
    [
        ("yaml", None, "PyYAML"),
        ("ruamel", None, "the distribution that provides ruamel"),
        ("helperish", {"helperish": True}, "helperish"),
        ("numpyish", {"numpyish": False}, "the distribution that provides numpyish"),
    ],
)
def test_what_to_add_is_its_fix_and_the_reason_beside_it(module, on_index, what) -> None:  # type: ignore[no-untyped-def]
    """A finding's fix names what to add (``to_add``'s first part) without the reason its
    message says once beside it — the fix had repeated the whole reason."""
    added, why = to_add(module, on_index)
    assert added == what
    assert what_to_add(module, on_index) == (f"{what} ({why})" if why else what)
    assert bool(why) is (module != "yaml")  # a known provider needs no reason


def test_the_index_is_asked_for_the_dotted_name_then_its_prefixes() -> None:
    assert index_candidates("Dottedish.Sub_Part.x") == (
        "dottedish-sub-part-x",
        "dottedish-sub-part",
        "dottedish",
    )
    answers = {"dottedish-sub-part-x": False, "dottedish-sub-part": True, "dottedish": True}
    assert what_to_add("Dottedish.Sub_Part.x", answers).startswith(
        "dottedish-sub-part (a project of that name is on the index; that it provides"
        " Dottedish.Sub_Part.x is not verified)"
    )
    none = dict.fromkeys(answers, False)
    assert what_to_add("Dottedish.Sub_Part.x", none).endswith(
        "the index has no project named dottedish-sub-part-x or dottedish-sub-part or dottedish)"
    )
    assert "the index did not answer" in what_to_add("Dottedish.Sub_Part.x", {})


def test_the_generator_reads_import_names_from_a_wheels_files(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("module_providers", SCRIPT)
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    wheel = make_wheel(
        tmp_path,
        "mixed",
        "1.0",
        files={
            "top.py": "",
            "_speed.cpython-312-x86_64-linux-gnu.so": b"",
            "nsroot/deep/__init__.py": "",
            "nsroot/deep/inner.py": "",
            "declared/__init__.py": "__path__ = __import__('pkgutil').extend_path(__path__, __name__)",
            "declared/piece/__init__.py": "",
            "real/__init__.py": "",
            "real/sub/__init__.py": "",
            "tests/__init__.py": "",
            "mixed.libs/libz-1.so": b"",
        },
    )
    with zipfile.ZipFile(wheel) as archive:
        assert script.import_names(archive) == {
            "top",
            "_speed",
            "nsroot.deep",
            "declared.piece",
            "real",
        }


@pytest.mark.hostile
@generated(300)
@given(
    st.text(
        alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=0, max_size=80
    )
)
def test_any_missing_name_gets_a_hint_and_only_valid_project_names_are_asked(name: str) -> None:
    """What a failing import says is missing comes from the layer's code: any text."""
    for project in index_candidates(name):
        assert _PEP503.match(project), project
    assert what_to_add(name)
    assert what_to_add(name, dict.fromkeys(index_candidates(name), False))


# --- what an index answers when the hint asks it ----------------------------------------

_ANSWERS = {
    "404": (404, "text/html", b"not found"),
    "wheel": (200, "text/html", b'<a href="/files/p-1.0-py3-none-any.whl">p-1.0-py3-none-any.whl</a>'),
    "sdist": (200, "application/vnd.pypi.simple.v1+json",
              b'{"files": [{"filename": "p-1.0.tar.gz", "url": "p-1.0.tar.gz"}]}'),
    # a project with no file to install (every release deleted, a name held back), or
    # every file yanked: no hint may tell the user to add it
    "empty-html": (200, "text/html", b"<!DOCTYPE html><html><body></body></html>"),
    "empty-json": (200, "application/vnd.pypi.simple.v1+json", b'{"files": []}'),
    "yanked": (200, "text/html",
               b'<a href="/f/p-1.0-py3-none-any.whl" data-yanked="">p-1.0-py3-none-any.whl</a>'),
    # a proxy or portal that answers 200 for any path, and bodies that are not a page
    "portal": (200, "text/html", b"<html><body>Sign in to continue</body></html>"),
    "bad-json": (200, "application/vnd.pypi.simple.v1+json", b"{not json"),
    "odd-json": (200, "application/vnd.pypi.simple.v1+json", b'{"files": "x"}'),
    "odd-entry": (200, "application/vnd.pypi.simple.v1+json", b'{"files": [{"url": 3}]}'),
    # a name or requires-python that is not text, JSON nested past what Python reads: each
    # crashed the hint's question with a traceback (AttributeError, RecursionError)
    "odd-name": (200, "application/vnd.pypi.simple.v1+json",
                 b'{"files": [{"filename": 1, "url": "p-1.0.tar.gz"}]}'),
    "null-name": (200, "application/vnd.pypi.simple.v1+json",
                  b'{"files": [{"filename": null, "url": "p-1.0.tar.gz"}]}'),
    "odd-python": (200, "application/vnd.pypi.simple.v1+json",
                   b'{"files": [{"filename": "p-1.0.tar.gz", "url": "p-1.0.tar.gz",'
                   b' "requires-python": [3]}]}'),
    "deep-json": (200, "application/vnd.pypi.simple.v1+json", b'{"files": ' + b"[" * 100_000),
    "list-json": (200, "application/vnd.pypi.simple.v1+json", b"[1, 2]"),
}  # fmt: skip
_INSTALLABLE = {"wheel", "sdist"}


@pytest.fixture(scope="module")
def hostile_index() -> Iterator[tuple[str, dict[str, str]]]:
    """An index on 127.0.0.1 answering each project's page as the test says."""
    answers: dict[str, str] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            status, kind, body = _ANSWERS[answers.get(self.path.strip("/").split("/")[-1], "404")]
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/simple", answers
    finally:
        server.shutdown()
        server.server_close()


_ASKED = itertools.count()


def test_the_asker_says_it_is_asking_before_the_answers_come(hostile_index) -> None:  # type: ignore[no-untyped-def]
    """The progress line says what is being asked, and why, as it starts (it said 'asked' —
    before an index that does not answer had answered)."""
    url, answers = hostile_index
    said: list[object] = []
    project = f"p{next(_ASKED)}"
    answers[project] = "404"
    assert index_asker(IndexConfig(url), said.append)([project]) == ((project, False),)
    assert said == [f"asking the index about {project} (a missing module's hint)"]


@pytest.mark.hostile
@generated(60)
@given(kinds=st.lists(st.sampled_from(sorted(_ANSWERS)), min_size=1, max_size=4))
def test_a_hint_names_only_a_project_the_index_has_a_file_to_install_of(
    hostile_index, kinds
) -> None:  # type: ignore[no-untyped-def]
    """The index's answer is the index's: any page, any body. A project is named to add only
    when its page lists a file that is not yanked; a body that is no page is no answer."""
    url, answers = hostile_index
    projects = [f"p{next(_ASKED)}" for _ in kinds]  # each page asked once per process
    answers.update(zip(projects, kinds, strict=True))
    found = dict(index_answers(projects, IndexConfig(url)))
    for project, kind in zip(projects, kinds, strict=True):
        assert found.get(project, False) is (kind in _INSTALLABLE), (kind, found)
        if kind == "404":
            assert found[project] is False


@pytest.mark.hostile
@pytest.mark.parametrize("kind", ["bad-json", "odd-json", "odd-entry", "odd-name", "null-name",
                                  "odd-python", "deep-json", "list-json"])  # fmt: skip
def test_a_page_that_is_no_project_page_is_one_error_when_the_resolver_reads_it(
    hostile_index, kind
) -> None:  # type: ignore[no-untyped-def]
    """The resolver reads the same pages (a version with no wheel for the target): a body
    that is no project page is one error naming the page, never a traceback."""
    url, answers = hostile_index
    project = f"r{next(_ASKED)}"
    answers[project] = kind
    with pytest.raises(LambdaLayerError) as refused:
        project_files(IndexConfig(url), project)
    assert f"/simple/{project}/" in refused.value.message
    assert "is not a project page" in refused.value.message


@pytest.mark.hostile
@generated(100)
@given(
    parts=st.lists(st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True), min_size=1, max_size=60)
)
def test_a_deep_dotted_name_asks_the_index_a_few_names_not_one_per_prefix(parts) -> None:  # type: ignore[no-untyped-def]
    """The missing name comes from the layer's code (``import a.b.c…`` or a raised
    ModuleNotFoundError's name): each prefix was one request, sequential, to the index."""
    name = ".".join(parts)
    candidates = index_candidates(name)
    assert len(candidates) <= MAX_PREFIXES
    assert all(len(project.split("-")) <= MAX_PREFIXES * 4 for project in candidates)


def test_the_index_is_asked_about_at_most_so_many_projects_per_check(hostile_index) -> None:
    url, answers = hostile_index
    projects = [f"many{n}" for n in range(MAX_ASKED + 40)]
    answers.update(dict.fromkeys(projects, "wheel"))
    found = dict(index_answers(projects, IndexConfig(url)))
    assert len(found) == MAX_ASKED and all(found.values())
    assert "was not asked" in what_to_add("many99", found)


@pytest.fixture
def slow_index() -> Iterator[tuple[str, list[str], dict[str, float | int | bytes]]]:
    """An index on 127.0.0.1 answering every page with ``status`` after ``delay`` seconds (a
    503: an index that does not answer), its ``body`` if one is set, and the paths asked."""
    asked: list[str] = []
    how: dict[str, float | int | bytes] = {"status": 503, "delay": 0.0, "body": b""}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            asked.append(self.path)
            time.sleep(float(how["delay"]))
            body = bytes(how["body"]) or (_ANSWERS["wheel"][2] if how["status"] == 200 else b"")
            self.send_response(int(how["status"]))
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/simple", asked, how
    finally:
        server.shutdown()
        server.server_close()


def test_an_index_that_does_not_answer_is_not_asked_again_in_the_same_check(
    slow_index, hostile_index
) -> None:  # type: ignore[no-untyped-def]
    """One index URL that does not answer (each question retried, then given up) is not
    asked about the next names: 32 names had cost 32 times its retries (96 requests and
    half a minute for a 503; for a blackholed index, 32 times 3 timeouts of 60 s) — for a
    hint. Another URL that answers is still asked about every name."""
    dead, asked, _ = slow_index
    url, answers = hostile_index
    projects = [f"d{next(_ASKED)}" for _ in range(6)]
    answers.update(dict.fromkeys(projects, "wheel"))
    found = dict(index_answers(projects, IndexConfig(dead, extra_index_urls=(url,))))
    assert found == dict.fromkeys(projects, True)
    assert len(asked) <= ATTEMPTS and {path.split("/")[2] for path in asked} == {projects[0]}
    assert not index_answers(projects, IndexConfig(dead))


def test_no_from_one_index_url_is_no_answer_while_another_did_not_answer(
    slow_index, hostile_index
) -> None:  # type: ignore[no-untyped-def]
    """A project is "not on the index" only when every URL answered so: one URL's no beside
    another's silence is no answer (the hint says the index did not answer) — it had said
    "the index has no project named ..." while the URL that did not answer might have it.
    A yes from any URL is a yes, and the URLs after it are not asked."""
    dead, asked, _ = slow_index
    url, answers = hostile_index
    absent, present = f"n{next(_ASKED)}", f"y{next(_ASKED)}"
    answers.update({absent: "404", present: "wheel"})
    assert not index_answers([absent], IndexConfig(url, extra_index_urls=(dead,)))
    assert "did not answer" in what_to_add(absent, {})
    asked.clear()
    found = index_answers([present], IndexConfig(url, extra_index_urls=(dead,)))
    assert found == ((present, True),) and not asked
    assert index_answers([absent], IndexConfig(url)) == ((absent, False),)


def test_the_index_is_asked_for_so_long_per_check_then_not_again(slow_index) -> None:  # type: ignore[no-untyped-def]
    """An index that answers every question, slowly: the hint's questions stop once they
    have taken their time (:data:`ASKING_SECONDS`), the names left said as not asked."""
    url, asked, how = slow_index
    how.update(status=200, delay=0.25)
    projects = [f"s{next(_ASKED)}" for _ in range(MAX_ASKED)]
    started = time.monotonic()
    found = dict(index_answers(projects, IndexConfig(url), seconds=1.0))
    assert time.monotonic() - started < 3
    assert 1 <= len(found) <= 6 and all(found.values()) and len(asked) == len(found)
    assert "was not asked" in what_to_add(projects[-1], found)
    assert ASKING_SECONDS <= 120


def test_a_page_too_large_for_a_hint_is_no_answer_and_the_index_not_asked_again(
    slow_index,
) -> None:  # type: ignore[no-untyped-def]
    """A hint's page is read to :data:`ASKED_PAGE_BYTES` at most (PyPI's largest, botocore's,
    is about 2 MB): a larger one is the index not answering, never read on to the 256 MB of
    a document — each of 32 names was up to 256 MB read and parsed, for a hint."""
    url, asked, how = slow_index
    how.update(status=200, body=b"<a href='/f/p-1.0.tar.gz'>p-1.0.tar.gz</a>" * 500_000)
    projects = [f"b{next(_ASKED)}" for _ in range(3)]
    assert not index_answers(projects, IndexConfig(url))
    assert len(asked) == 1, len(asked)
    assert len(bytes(how["body"])) > ASKED_PAGE_BYTES
