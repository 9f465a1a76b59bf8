"""What uv answers, read in one place (lambdalayer.uvtool): its exit code as data, each of its
wordings that must be read as prose with its own case here.

The wordings are uv's own (uv's range is pinned in pyproject.toml): recorded from uv 0.9 to
0.13 for the resolutions the tests make (the source-only forms: tests/test_real_world.py).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from indexserver import LocalIndex

from lambdalayer.targets import get_target
from lambdalayer.uvtool import NO_SOLUTION, pip_compile_command, uv_environment, uv_failure

WORDINGS = {
    "not found": (
        1,
        "error: Because nosuch was not found in the package registry and you require nosuch,"
        " we can conclude that your requirements are unsatisfiable.\n",
    ),
    "pinned, no wheel": (
        1,
        "error: No solution found when resolving dependencies\n  cause: Because docsrc==0.6 has"
        " no usable wheels and you require docsrc==0.6, we can conclude that your requirements"
        " are unsatisfiable.\n",
    ),
    "no wheel at all": (
        1,
        "error: No solution found when resolving dependencies\n  cause: Because all versions of"
        " docsrc have no usable wheels and you require docsrc, we can conclude that your"
        " requirements are unsatisfiable.\n",
    ),
    "wheels required": (
        1,
        "error: No solution found when resolving dependencies\n\nhint: Wheels are required for"
        " `docsrc` because building from source is disabled for all packages\n",
    ),
    "range, no wheel": (
        1,
        "error: No solution found when resolving dependencies\n  cause: Because pyqldb<=3.2.3 has"
        " no usable wheels and only the following versions of pyqldb are available:\n"
        "             pyqldb<=3.2.3\n             pyqldb>=3.2.4\n         we can conclude that"
        " pyqldb<3.2.4 cannot be used. (1)\n\n         Because amazon-ion>=0.7.0,<=0.9.3 has no"
        " usable wheels and pyqldb>=3.2.4 depends on amazon-ion>=0.7.0,<=0.9.3, we can conclude"
        " that pyqldb>=3.2.4 cannot be used.\n",
    ),
    "no version": (
        1,
        "error: No solution found when resolving dependencies:\n  cause: Because there is no"
        " version of six==99 and you require six==99, we can conclude that your requirements are"
        " unsatisfiable.\n",
    ),
    "dns": (
        2,
        "error: Request failed after 3 retries in 6.0s\n  cause: Failed to fetch:"
        " http://nonexistent.invalid/simple/six/\n  cause: error sending request for url"
        " (http://nonexistent.invalid/simple/six/)\n  cause: dns error\n",
    ),
    "git host": (
        2,
        "error: Git operation failed\n  cause: process didn't exit successfully: `/usr/bin/git"
        " fetch --force` (exit status: 128)\n         fatal: unable to access"
        " 'https://github.com/benjaminp/six/': Could not resolve host: github.com\n",
    ),
    "refused": (
        2,
        "error: Failed to fetch: `http://127.0.0.1:9/simple/requests/`\n  cause: Request failed"
        " after 3 retries\n  cause: error sending request for url"
        " (http://127.0.0.1:9/simple/requests/)\n  cause: client error (Connect)\n  cause: tcp"
        " connect error\n  cause: Connection refused (os error 111)\n",
    ),
}
EXPECTED = {
    "not found": {"not_found": "nosuch"},
    "pinned, no wheel": {"no_wheels": ("docsrc", "0.6")},
    "no wheel at all": {"no_wheels": ("docsrc", None)},
    "wheels required": {"no_wheels": ("docsrc", None)},
    "no version": {"no_version": "six"},
    "range, no wheel": {"no_wheels": ("pyqldb", None)},
    "dns": {"unreachable": "nonexistent.invalid"},
    "git host": {"unreachable": "github.com"},
    "refused": {"unreachable": "127.0.0.1"},
}


@pytest.mark.parametrize("wording", sorted(WORDINGS))
def test_each_wording_uv_says_in_prose_is_read_as_its_fact(wording):
    code, text = WORDINGS[wording]
    failure = uv_failure(code, "\x1b[31m" + text + "\x1b[0m")
    facts = {
        "not_found": failure.not_found,
        "no_wheels": failure.no_wheels,
        "no_version": failure.no_version,
        "unreachable": failure.unreachable,
    }
    assert {key: value for key, value in facts.items() if value is not None} == EXPECTED[wording]
    assert failure.no_solution is (code == NO_SOLUTION)
    assert failure.lines and not any("\x1b" in line for line in failure.lines)


def test_a_failure_that_is_no_solution_is_never_read_as_a_missing_wheel():
    # The same words in an error that is not "no solution" (exit code 2): uv could not work.
    failure = uv_failure(2, WORDINGS["pinned, no wheel"][1])
    assert failure.no_wheels is None and failure.not_found is None


def _compile(tmp_path: Path, requirement: str, index_url: str) -> subprocess.CompletedProcess[str]:
    requirements = tmp_path / "requirements.in"
    requirements.write_text(requirement + "\n")
    command = pip_compile_command(
        requirements,
        get_target("python3.12"),
        tmp_path / "pylock.toml",
        extra=["--index-url", index_url],
    )
    return subprocess.run(
        command, capture_output=True, text=True, env=uv_environment(tmp_path), check=False
    )


def test_uvs_exit_codes_say_no_solution_from_could_not_work(local_index: LocalIndex, tmp_path):
    missing = _compile(tmp_path, "nosuch-package-zz", local_index.url)
    assert missing.returncode == NO_SOLUTION
    assert uv_failure(missing.returncode, missing.stderr).not_found == "nosuch-package-zz"
    unreachable = _compile(tmp_path, "alpha", "http://127.0.0.1:9/simple")
    assert unreachable.returncode not in (0, NO_SOLUTION)
    failure = uv_failure(unreachable.returncode, unreachable.stderr)
    assert not failure.no_solution and failure.unreachable == "127.0.0.1"


def test_every_package_uv_says_has_no_wheel_is_read_in_order_never_a_version():
    """uv 0.13's words for pyqldb once pyqldb itself was built from source: a bound
    (``<=3.2.3``) was read as a project name ("HTTP 404 for …/simple/3.2.3/")."""
    code, text = WORDINGS["range, no wheel"]
    failure = uv_failure(code, text)
    assert failure.every_no_wheels == (
        ("pyqldb", None, "<=3.2.3"),
        ("amazon-ion", None, ">=0.7.0,<=0.9.3"),
    )
    pinned = uv_failure(*WORDINGS["pinned, no wheel"])
    assert pinned.every_no_wheels == (("docsrc", "0.6", None),)
