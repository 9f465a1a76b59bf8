"""Fast tests of pure logic: precedence, list edits, platform choice, uv's wording, locks."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambdalayer.aws.attach import new_layer_list
from lambdalayer.cli.build import flags_of, jobs_of
from lambdalayer.cli.main import _parser
from lambdalayer.inputs.config import ProjectConfig
from lambdalayer.inputs.plan import Flags, artefacts, settings, targets
from lambdalayer.lock import Lock, LockedPackage, LockedWheel, dump_pylock, parse_pylock
from lambdalayer.net.index import IndexConfig, IndexFile
from lambdalayer.resolve.resolver import _uv_error
from lambdalayer.targets import all_targets, get_target

ARN = "arn:aws:lambda:eu-west-1:123456789012:layer:{}:{}"


def parse(*argv: str):  # type: ignore[no-untyped-def]
    return _parser().parse_args(["build", *argv])


# flags over [tool.lambdalayer] over defaults -----------------------------------------


def test_flags_override_the_configuration_which_overrides_defaults(tmp_path):
    config = ProjectConfig(
        path=tmp_path / "pyproject.toml", runtimes=("python3.11",), arches=("arm64",),
        layout="python", bytecode="none", index_url="https://config.example/simple",
    )  # fmt: skip
    from_config = targets(flags_of(parse("six")), config)
    assert [target.name for target in from_config] == ["python3.11-arm64"]
    flagged = targets(Flags(runtimes=("python3.12",), arches=("aarch64", "arm64")), config)
    assert [target.name for target in flagged] == ["python3.12-arm64"]
    defaults = targets(Flags(), None)
    assert [target.name for target in defaults] == [
        f"{max(all_targets(), key=lambda t: t.runtime.python).runtime.name}-x86_64"
    ]

    args = parse("six", "--layout", "site-packages", "--index-url", "https://flag.example/simple")
    chosen = settings(flags_of(args), config, tmp_path)
    assert (chosen.layout.value, chosen.bytecode) == (
        "site-packages",
        "none",
    )  # flag, configuration
    [job] = jobs_of(
        args, config, tmp_path, True, artefacts(flags_of(args), config, tmp_path), from_config
    )
    assert job.options.layout.value == "site-packages"  # the flag
    assert job.options.bytecode.value == "none"  # the configuration
    assert job.options.index.index_url == "https://flag.example/simple"
    assert job.options.output == Path("layer.zip")


def test_several_targets_write_into_the_output_dir(tmp_path):
    args = parse("six", "--runtime", "python3.11,python3.12", "--output-dir", str(tmp_path / "d"))
    chosen_targets = targets(flags_of(args), None)
    jobs = jobs_of(
        args, None, tmp_path, False, artefacts(flags_of(args), None, tmp_path), chosen_targets
    )
    assert [job.options.output.name for job in jobs] == [
        "layer-python3.11-x86_64.zip", "layer-python3.12-x86_64.zip",
    ]  # fmt: skip


# the layer list on attach -------------------------------------------------------------


def test_attach_replaces_the_same_layer_in_place_and_appends_others():
    current = [ARN.format("base", 1), ARN.format("deps", 3), ARN.format("tools", 2)]
    assert new_layer_list(current, ARN.format("deps", 4)) == [
        ARN.format("base", 1), ARN.format("deps", 4), ARN.format("tools", 2),
    ]  # fmt: skip
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
    error = _uv_error(NO_VERSION, get_target("python3.12"), IndexConfig(), {}, _files)
    assert error.message.splitlines() == [
        "cannot resolve for python3.12-x86_64: No solution found when resolving dependencies:",
        "cause: Because there is no version of six==99 and you require six==99, we can conclude that your requirements are unsatisfiable.",
    ]
    assert error.hint == "versions of six with a wheel for python3.12-x86_64: 1.16.0, 1.17.0"


def test_uv_network_failures_name_the_host():
    error = _uv_error(DNS, get_target("python3.12"), IndexConfig(), {}, _files)
    assert error.message.startswith("cannot resolve for python3.12-x86_64: Request failed")
    assert len(error.message.splitlines()) == 5
    assert error.hint is not None and error.hint.startswith(
        "nonexistent.invalid could not be reached"
    )
    git = _uv_error(GIT, get_target("python3.12"), IndexConfig(), {}, _files)
    assert git.hint is not None and git.hint.startswith("github.com could not be reached")


def test_uv_not_found_names_the_package():
    error = _uv_error(NOT_FOUND, get_target("python3.12"), IndexConfig(), {}, _files)
    assert error.message == "package nosuch was not found on the index"
    assert error.package == "nosuch"


# the lock round trip --------------------------------------------------------------------


def test_lock_round_trip_keeps_every_field():
    lock = Lock(
        packages=(
            LockedPackage("b-pkg", "2.0", (LockedWheel("b_pkg-2.0-py3-none-any.whl", "https://x/b.whl", "ab" * 32, 10),), 'python_version >= "3.11"'),
            LockedPackage("a", "1.0", (LockedWheel("a-1.0-py3-none-any.whl", "https://x/a \"q\".whl", "cd" * 32),)),
        ),
        requires_python="==3.12.*", target="python3.12-arm64", bytecode="unchecked-hash",
    )  # fmt: skip
    text = dump_pylock(lock)
    again = parse_pylock(text)
    assert again.packages == tuple(sorted(lock.packages, key=lambda package: package.name))
    assert (again.requires_python, again.target, again.bytecode) == (
        "==3.12.*", "python3.12-arm64", "unchecked-hash",
    )  # fmt: skip
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


def test_the_configs_bytecode_choices_are_the_bytecode_modes():
    from lambdalayer.inputs.config import BYTECODE_CHOICES
    from lambdalayer.layer.bytecode import BytecodeMode

    assert set(BYTECODE_CHOICES) == {mode.value for mode in BytecodeMode}
