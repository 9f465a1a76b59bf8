"""Issue 36: ``audit`` against the tests' own index, whose JSON API serves OSV records (one
planted vulnerability: oldsecure 1.0); licences against a deny list; ignores with a reason
and an expiry; answers cached for a day; an index without that API is "not verified"."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest
from cliutil import run_cli
from conftest import PLANTED_VULNERABILITY
from hostilecases import generated
from hypothesis import given
from hypothesis import strategies as st
from test_sbom import build_layer

from lambdalayer.cache import Cache
from lambdalayer.errors import AdvisoryError, FetchError
from lambdalayer.supply.audit import AuditRequest, Verdict, audit


@pytest.fixture(scope="module")
def vulnerable(local_index, tmp_path_factory) -> Path:
    where = tmp_path_factory.mktemp("vulnerable")
    return build_layer(local_index, where / "cache", where, "licensed", "oldsecure==1.0")


@pytest.fixture(scope="module")
def clean(local_index, tmp_path_factory) -> Path:
    where = tmp_path_factory.mktemp("clean")
    return build_layer(local_index, where / "cache", where, "oldsecure==2.0")


def audit_cli(capsys, index, cache: Path, *args: str) -> tuple[int, str, str]:
    return run_cli(capsys, "audit", *args, "--index-url", index.url, "--cache-dir", str(cache))


def test_audit_finds_the_planted_vulnerability(vulnerable, local_index, tmp_path, capsys):
    code, out, err = audit_cli(capsys, local_index, tmp_path / "cache", str(vulnerable))
    assert code == 1
    assert (
        "  VULNERABLE    oldsecure 1.0: PYSEC-2026-4242 (CVE-2026-4242, GHSA-abcd-efgh-ijkl)"
        " oldsecure 1.0 trusts any certificate; fixed in 2.0"
    ) in out
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: what ships breaks the policy (fail-on any): oldsecure 1.0: PYSEC-2026-4242"
    ]
    assert "audit ok" not in out
    code, out, _ = audit_cli(
        capsys, local_index, tmp_path / "cache", str(vulnerable), "--json", "--fail-on", "none"
    )
    assert code == 0
    document = json.loads(out)
    packages = {p["name"]: p for p in document["vulnerabilities"]["packages"]}
    assert packages["oldsecure"]["advisories"][0]["id"] == PLANTED_VULNERABILITY["id"]
    assert packages["licensed"]["verdict"] == "no known vulnerabilities"
    assert document["ok"] is False


def test_audit_passes_a_clean_set_and_checks_the_runtimes_packages_beside(
    clean, local_index, tmp_path, capsys
):
    code, out, err = audit_cli(capsys, local_index, tmp_path / "cache", str(clean), "--json")
    assert code == 0, err
    document = json.loads(out)
    assert document["ok"] is True
    assert document["vulnerabilities"]["not_verified"] == 0
    beside = {p["name"]: p["verdict"] for p in document["beside"]["packages"]}
    assert beside["boto3"] == "no known vulnerabilities"  # python3.12's own, looked up too
    code, out, _ = audit_cli(capsys, local_index, tmp_path / "cache", str(clean))
    assert (
        out.splitlines()[-1] == "audit ok: 1 verified, no known vulnerabilities; no licence denied"
    )


def test_an_index_without_the_json_api_is_not_verified_never_ok(
    clean, local_index, tmp_path, capsys
):
    local_index.json_api = False
    try:
        code, out, _ = audit_cli(capsys, local_index, tmp_path / "cache", str(clean))
        assert code == 0  # as a check's: not verified fails only under --strict
        assert "  not verified  oldsecure 2.0: http://127.0.0.1:" in out
        assert "has no JSON API entry for oldsecure 2.0 (HTTP 404)" in out
        assert "audit ok" not in out
        assert out.splitlines()[-1] == (
            "audit not verified: 0 distributions vulnerable, 0 of 1 verified, 0 licences denied"
            " (--strict or --fail-on unverified fails on this)"
        )
        code, out, _ = audit_cli(capsys, local_index, tmp_path / "cache", str(clean), "--json")
        assert code == 0
        assert (json.loads(out)["ok"], json.loads(out)["verdict"]) == (False, "not verified")
        strict = _project(tmp_path, "strict = true\n")
        for more in (
            ["--fail-on", "unverified"],
            ["--strict"],
            ["--project", str(strict)],  # the configuration's strict = true
        ):
            code, _, err = audit_cli(capsys, local_index, tmp_path / "cache", str(clean), *more)
            assert code == 1, more
            assert "oldsecure 2.0: not verified" in err
            assert err.count("error:") == 1
        code, _, err = audit_cli(
            capsys, local_index, tmp_path / "cache", str(clean), "--strict", "--fail-on", "none"
        )
        assert code == 0, err  # an explicit --fail-on wins
    finally:
        local_index.json_api = True


def test_licences_against_a_deny_list(vulnerable, local_index, tmp_path, capsys):
    cache = tmp_path / "cache"
    code, out, err = audit_cli(
        capsys, local_index, cache, str(vulnerable), "--deny-licence", "gpl-3.0-or-later"
    )
    assert code == 1
    assert "  DENIED        gplpkg 1.0: GPL-3.0-or-later" in out
    assert "gplpkg 1.0: licence GPL-3.0-or-later denied" in err
    assert "  not known     classic 1.0: declares BSD" in out
    code, _, err = audit_cli(capsys, local_index, cache, str(vulnerable), "--deny-licence", "GPL")
    assert code == 1
    assert err.startswith("error: a denied licence 'GPL' is not one SPDX licence id")


def _project(tmp_path: Path, body: str) -> Path:
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    (project / "lambdalayer.toml").write_text(body)
    return project


def test_an_ignore_with_a_reason_holds_until_it_expires(vulnerable, local_index, tmp_path, capsys):
    tomorrow = datetime.datetime.now(datetime.UTC).date() + datetime.timedelta(days=1)
    for expires, passes in ((tomorrow, True), (tomorrow - datetime.timedelta(days=3), False)):
        project = _project(
            tmp_path,
            "[[audit.ignore]]\n"
            'id = "CVE-2026-4242"\n'  # an alias names it too
            'reason = "we never open a connection with it"\n'
            f"expires = {expires.isoformat()}\n",
        )
        code, out, _ = audit_cli(
            capsys, local_index, tmp_path / "cache", str(vulnerable), "--project", str(project)
        )
        assert (code == 0) is passes, out
        if passes:
            assert (
                f"  ignored       oldsecure 1.0: PYSEC-2026-4242 until {expires}"
                " (we never open a connection with it)"
            ) in out
        else:
            assert (
                f"  expired       oldsecure 1.0: the ignore of CVE-2026-4242 ended {expires}" in out
            )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('[[audit.ignore]]\nid = "X"\nexpires = 2030-01-01\n', "(X) has no reason"),
        ('[[audit.ignore]]\nid = "X"\nreason = "r"\n', "(X) needs expires = a date"),
        ('[[audit.ignore]]\nid = "X"\nreason = "r"\nexpires = "soon"\n', "needs expires = a date"),
        ('[audit]\nfail-on = "sometimes"\n', "audit.fail-on = 'sometimes' is not one of"),
        ("[audit]\nseverity = 1\n", "unknown key 'audit.severity'"),
        ('audit = "yes"\n', "audit must be a table"),
    ],
)
def test_a_wrong_audit_configuration_is_one_error(
    clean, local_index, tmp_path, capsys, body, expected
):
    project = _project(tmp_path, body)
    code, _, err = audit_cli(
        capsys, local_index, tmp_path / "cache", str(clean), "--project", str(project)
    )
    assert code == 1
    (line,) = [line for line in err.splitlines() if line.startswith("error:")]
    assert expected in line


def test_answers_are_cached_for_a_day(local_index, tmp_path):
    request = AuditRequest((("oldsecure", "1.0"),), local_index.url)

    def asked() -> int:
        return sum(1 for path in local_index.requests if path == "/pypi/oldsecure/1.0/json")

    start = 1_900_000_000.0
    before = asked()
    with Cache.open(tmp_path / "cache") as cache:
        first = audit(request, cache, lambda: start)
        again = audit(request, cache, lambda: start + 3600)
        assert asked() == before + 1  # the second came from the cache
        later = audit(request, cache, lambda: start + 24 * 3600 + 1)
        assert asked() == before + 2  # a day on, asked again
    assert first == again == later
    assert first.packages[0].verdict is Verdict.VULNERABLE


# Hostile answers from the index's JSON API: a report, or one AdvisoryError -----------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
_RECORD = st.fixed_dictionaries(
    {},
    optional={
        "id": _JSON | st.text(max_size=300),
        "aliases": _JSON,
        "summary": _JSON,
        "details": _JSON,
        "fixed_in": _JSON,
        "link": _JSON,
        "withdrawn": _JSON,
    },
)
_ANSWER = st.one_of(
    st.binary(max_size=200),
    _JSON.map(lambda value: json.dumps(value).encode()),
    st.fixed_dictionaries({"vulnerabilities": st.lists(_RECORD | _JSON, max_size=3) | _JSON}).map(
        lambda value: json.dumps(value).encode()
    ),
    st.just(b"[" * 100_000 + b"]" * 100_000),
)


@generated(120)
@given(body=_ANSWER)
def test_a_hostile_answer_is_a_report_or_one_advisory_error(local_index, tmp_path_factory, body):
    local_index.json_bodies[("oldsecure", "1.0")] = body
    try:
        with Cache.open(tmp_path_factory.mktemp("cache")) as cache:
            report = audit(AuditRequest((("oldsecure", "1.0"),), local_index.url), cache)
        assert report.packages[0].verdict in set(Verdict)
    except AdvisoryError as error:
        assert error.message.startswith("http://127.0.0.1:")
    finally:
        del local_index.json_bodies[("oldsecure", "1.0")]


def test_a_huge_answer_is_refused_after_a_bounded_read(local_index, tmp_path):
    local_index.json_bodies[("oldsecure", "1.0")] = (
        b'{"vulnerabilities": [' + b" " * (9 << 20) + b"]}"
    )
    try:
        with (
            Cache.open(tmp_path / "cache") as cache,
            pytest.raises((AdvisoryError, FetchError)) as raised,
        ):
            audit(AuditRequest((("oldsecure", "1.0"),), local_index.url), cache)
        assert "8,388,608 bytes" in raised.value.message
    finally:
        del local_index.json_bodies[("oldsecure", "1.0")]


@pytest.mark.parametrize(
    ("flag", "strict", "configured", "config_strict", "expected"),
    [
        (None, False, None, False, None),  # the default: any
        (None, True, None, False, "unverified"),
        ("none", True, None, False, "none"),  # --fail-on wins over --strict
        (None, True, "none", False, "unverified"),  # the command line over the configuration
        (None, False, "any", True, "any"),  # audit.fail-on wins over strict = true
        (None, False, None, True, "unverified"),
    ],
)
def test_what_fails_an_audit_is_decided_once(flag, strict, configured, config_strict, expected):
    from lambdalayer.inputs.policy import AuditPolicy, FailOn, with_flags

    policy = AuditPolicy(fail_on=FailOn(configured) if configured else None)
    chosen = with_flags(policy, flag, (), strict=strict, config_strict=config_strict).fail_on
    assert (chosen.value if chosen else None) == expected
