"""Fast tests of pure logic: precedence, list edits, platform choice, uv's wording, locks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lambdalayer.aws.attach import new_layer_list
from lambdalayer.builder.plan import plan_builds, targets
from lambdalayer.cli.build import flags_of
from lambdalayer.cli.main import parser
from lambdalayer.inputs.config import ProjectConfig
from lambdalayer.lock import Lock, LockedPackage, LockedWheel, dump_pylock, parse_pylock
from lambdalayer.net.index import IndexConfig, IndexFile
from lambdalayer.recipe import BytecodeMode
from lambdalayer.resolve.resolver import _uv_error
from lambdalayer.targets import Layout, all_targets, get_target
from lambdalayer.uvtool import uv_failure

ARN = "arn:aws:lambda:eu-west-1:123456789012:layer:{}:{}"


def parse(*argv: str):  # type: ignore[no-untyped-def]
    return parser().parse_args(["build", *argv])


# flags over [tool.lambdalayer] over defaults -----------------------------------------


def test_flags_override_the_configuration_which_overrides_defaults(tmp_path):
    config = ProjectConfig(
        path=tmp_path / "lambdalayer.toml",
        runtimes=("python3.11",),
        arches=("arm64",),
        layout=Layout.PYTHON,
        bytecode=BytecodeMode.NONE,
        index_url="https://config.example/simple",
    )
    from_config = targets((), (), (), config)
    assert [target.name for target in from_config] == ["python3.11-arm64"]
    flagged = targets((), ("python3.12",), ("aarch64", "arm64"), config)
    assert [target.name for target in flagged] == ["python3.12-arm64"]
    defaults = targets((), (), (), None)
    assert [target.name for target in defaults] == [
        f"{max(all_targets(), key=lambda t: t.runtime.python).runtime.name}-x86_64"
    ]
    (tmp_path / "lambdalayer.toml").write_text(
        'runtime = "python3.11"\narch = "arm64"\nlayout = "python"\nbytecode = "none"\n'
        'index-url = "https://config.example/simple"\n'
    )
    args = parse(
        "six",
        "--project",
        str(tmp_path),
        "--layout",
        "site-packages",
        "--index-url",
        "https://flag.example/simple",
    )
    plan = plan_builds(flags_of(args))
    [job] = plan.jobs
    request = job.request
    assert request.target.name == "python3.11-arm64"  # the configuration
    assert request.recipe.layout is Layout.SITE_PACKAGES  # the flag
    assert request.recipe.bytecode is BytecodeMode.NONE  # the configuration
    assert request.source.index.index_url == "https://flag.example/simple"  # the flag
    assert request.output.path == Path("layer.zip")
    assert plan.single and plan.defaulted_runtime is None


def test_several_targets_write_into_the_output_dir_with_pep751_lock_names(tmp_path):
    args = parse("six", "--runtime", "python3.11,python3.12", "--output-dir", str(tmp_path / "d"))
    plan = plan_builds(flags_of(args))
    assert [job.request.output.path.name for job in plan.jobs] == [
        "layer-python3.11-x86_64.zip",
        "layer-python3.12-x86_64.zip",
    ]
    names = [job.request.lock_output.name for job in plan.jobs if job.request.lock_output]
    assert names == ["pylock.layer-python311-x86_64.toml", "pylock.layer-python312-x86_64.toml"]
    assert all(re.fullmatch(r"pylock\.[^.]+\.toml", name) for name in names)  # PEP 751


# the layer list on attach -------------------------------------------------------------


def test_attach_replaces_the_same_layer_in_place_and_appends_others():
    current = [ARN.format("base", 1), ARN.format("deps", 3), ARN.format("tools", 2)]
    assert new_layer_list(current, ARN.format("deps", 4)) == [
        ARN.format("base", 1),
        ARN.format("deps", 4),
        ARN.format("tools", 2),
    ]
    assert new_layer_list(current, ARN.format("new", 1)) == [*current, ARN.format("new", 1)]
    assert new_layer_list(current, ARN.format("deps", 3)) == current


# uv's platform for every runtime ------------------------------------------------------


@pytest.mark.parametrize(
    ("runtime", "arch", "platform"),
    [
        ("python3.10", "x86_64", "x86_64-manylinux_2_28"),
        ("python3.11", "arm64", "aarch64-manylinux_2_28"),
        ("python3.12", "x86_64", "x86_64-manylinux_2_34"),
        ("python3.14", "arm64", "aarch64-manylinux_2_34"),
    ],
)
def test_uv_platform_is_the_lowest_at_or_above_the_floor(runtime, arch, platform):
    assert get_target(runtime, arch).uv_platform == platform


# uv's error wording (uv's range is pinned in pyproject.toml) ----------------------------

NO_VERSION = """\
error: No solution found when resolving dependencies:
  cause: Because there is no version of six==99 and you require six==99, we can conclude that your requirements are unsatisfiable.
"""
DNS = """\
error: Request failed after 3 retries in 6.0s
  cause: Failed to fetch: http://nonexistent.invalid/simple/six/
  cause: error sending request for url (http://nonexistent.invalid/simple/six/)
  cause: dns error
  cause: failed to lookup address information: Name or service not known
"""
GIT = """\
error: Git operation failed
  cause: failed to clone into: /root/.cache/uv/git-v2/db/a9bb5052f1e8afce
  cause: process didn't exit successfully: `/usr/bin/git fetch --force` (exit status: 128)
         --- stderr
         fatal: unable to access 'https://github.com/benjaminp/six/': Could not resolve host: github.com
"""
NOT_FOUND = "error: Because nosuch was not found in the package registry and you require nosuch, we can conclude that your requirements are unsatisfiable.\n"


def _files(_index: IndexConfig, name: str) -> list[IndexFile]:
    return [
        IndexFile(f"{name}-{version}-py3-none-any.whl", f"https://x/{name}-{version}.whl")
        for version in ("1.16.0", "1.17.0")
    ]


def test_uv_no_version_keeps_lines_and_lists_versions_for_the_target():
    error = _uv_error(
        uv_failure(1, NO_VERSION), get_target("python3.12"), IndexConfig(), {}, _files
    )
    assert error.message.splitlines() == [
        "cannot resolve for python3.12-x86_64: No solution found when resolving dependencies:",
        "cause: Because there is no version of six==99 and you require six==99, we can conclude that your requirements are unsatisfiable.",
    ]
    assert error.hint == "versions of six with a wheel for python3.12-x86_64: 1.16.0, 1.17.0"


def test_uv_network_failures_name_the_host():
    error = _uv_error(uv_failure(2, DNS), get_target("python3.12"), IndexConfig(), {}, _files)
    assert error.message.startswith("cannot resolve for python3.12-x86_64: Request failed")
    assert len(error.message.splitlines()) == 5
    assert error.hint is not None and error.hint.startswith(
        "nonexistent.invalid could not be reached"
    )
    git = _uv_error(uv_failure(2, GIT), get_target("python3.12"), IndexConfig(), {}, _files)
    assert git.hint is not None and git.hint.startswith("github.com could not be reached")


def test_uv_not_found_names_the_package():
    error = _uv_error(uv_failure(1, NOT_FOUND), get_target("python3.12"), IndexConfig(), {}, _files)
    assert error.message == "package nosuch was not found on the index"
    assert error.package == "nosuch"


# the lock round trip --------------------------------------------------------------------


def test_lock_round_trip_keeps_every_field():
    lock = Lock(
        packages=(
            LockedPackage(
                "b-pkg",
                "2.0",
                (LockedWheel("b_pkg-2.0-py3-none-any.whl", "https://x/b.whl", "ab" * 32, 10),),
                'python_version >= "3.11"',
            ),
            LockedPackage(
                "a",
                "1.0",
                (LockedWheel("a-1.0-py3-none-any.whl", 'https://x/a "q".whl', "cd" * 32),),
            ),
        ),
        requires_python="==3.12.*",
        target="python3.12-arm64",
        bytecode="unchecked-hash",
    )
    text = dump_pylock(lock)
    again = parse_pylock(text)
    assert again.packages == tuple(sorted(lock.packages, key=lambda package: package.name))
    assert (again.requires_python, again.target, again.bytecode) == (
        "==3.12.*",
        "python3.12-arm64",
        "unchecked-hash",
    )
    assert dump_pylock(again) == text


# dependency groups (PEP 735, read with packaging.dependency_groups) ------------------------


def test_dependency_groups_include_others_and_cycles_are_errors(tmp_path):
    from lambdalayer.errors import InputError
    from lambdalayer.inputs.projects import pyproject_requirements

    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "app"\nversion = "1"\ndependencies = ["six"]\n'
        '[dependency-groups]\nbase = ["requests>=2"]\nlambda = [{include-group = "base"}, "boto3"]\n'
        'loop-a = [{include-group = "loop-b"}]\nloop-b = [{include-group = "loop-a"}]\n'
    )
    assert pyproject_requirements(pyproject, groups=["lambda"]) == ["six", "requests>=2", "boto3"]
    with pytest.raises(InputError, match="dependency group 'loop-a'"):
        pyproject_requirements(pyproject, groups=["loop-a"])
    with pytest.raises(InputError, match="has no dependency group 'nope'"):
        pyproject_requirements(pyproject, groups=["nope"])


def test_one_bytecode_vocabulary_for_flags_configuration_and_records():
    from lambdalayer.recipe import choices

    assert {BytecodeMode.parse(choice) for choice in choices()} == set(BytecodeMode)
    assert BytecodeMode.parse("auto") is BytecodeMode.UNCHECKED_HASH
    assert {mode.value for mode in BytecodeMode} == {"unchecked-hash", "only", "none"}
