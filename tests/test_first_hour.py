"""What a new user meets in the first hour: defaults, messages, help, JSON shapes, ``init``."""

from __future__ import annotations

import argparse
import json
import zipfile
from pathlib import Path

import pytest
from cliutil import run_cli, run_json
from elfsamples import minimal_elf

from lambdalayer.cli.main import parser as cli_parser
from lambdalayer.interpreters import find_interpreter
from lambdalayer.targets import default_runtime

SITE_312 = "python/lib/python3.12/site-packages/"


def _zip(path: Path, members: dict[str, bytes | str]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


# 2. the default runtime is said, and the help tells what bytecode auto does -----------


def test_build_help_says_what_bytecode_auto_does_when_no_interpreter_is_found(capsys):
    with pytest.raises(SystemExit):
        run_cli(capsys, "build", "--help")
    text = " ".join(capsys.readouterr().out.split())
    assert "installed with 'uv python install'" in text
    assert "the build stops with a hint when none can be had" in text
    assert "no bytecode, with a notice" not in text


def test_a_build_without_runtime_says_which_it_took(local_index, tmp_path, capsys):
    code, _, err = run_cli(
        capsys,
        "build",
        "beta==1.0",
        "--bytecode",
        "none",
        "--index-url",
        local_index.url,
        "--cache-dir",
        str(tmp_path / "c"),
        "-o",
        str(tmp_path / "l.zip"),
    )
    assert code == 0, err
    assert f"runtime: {default_runtime().name}, the newest (--runtime to choose another)" in err


# 3. check takes the target from the zip and says where from ---------------------------


def test_check_takes_the_runtime_from_the_zip_layout(tmp_path, capsys):
    layer = _zip(tmp_path / "l.zip", {f"{SITE_312}m.py": "X = 1\n"})
    code, out, _ = run_cli(capsys, "check", str(layer), "--no-imports")
    assert code == 0
    assert out.splitlines()[0] == (
        "checking for python3.12-x86_64 (from python/lib/python3.12/ in the zip;"
        " x86_64, as nothing in it is for one CPU)"
    )


def test_check_takes_runtime_and_cpu_from_extension_tags_and_elf(tmp_path, capsys):
    layer = _zip(
        tmp_path / "l.zip",
        {"python/native/_x.cpython-311-aarch64-linux-gnu.so": minimal_elf("aarch64")},
    )
    document = run_json(capsys, "check", str(layer), "--no-imports", "--json")
    assert document["target"]["name"] == "python3.11-arm64"
    assert "extension modules' tags" in document["target_source"]


def test_check_asks_for_the_runtime_when_nothing_tells(tmp_path, capsys):
    layer = _zip(tmp_path / "l.zip", {"python/m.py": "X = 1\n"})
    code, _, err = run_cli(capsys, "check", str(layer))
    assert code == 1
    assert "error: cannot tell which runtime l.zip is for" in err
    assert "hint: give the runtime it will run on, e.g. --runtime python3.12" in err


# 4 and 5. plain build reads requirements.txt; short runtime names ---------------------


def test_plain_build_reads_requirements_txt(local_index, tmp_path, capsys, monkeypatch):
    (tmp_path / "requirements.txt").write_text("beta==1.0\n")
    monkeypatch.chdir(tmp_path)
    document = run_json(
        capsys,
        "build",
        "--runtime",
        "3.12",
        "--bytecode",
        "none",
        "--index-url",
        local_index.url,
        "--cache-dir",
        str(tmp_path / "c"),
        "-o",
        "l.zip",
        "--json",
    )
    assert [package["name"] for package in document["packages"]] == ["beta"]
    assert document["target"]["runtime"] == "python3.12"


@pytest.mark.parametrize("spelling", ["3.12", "py312", "python3.12", "cp312"])
def test_short_runtime_names_are_accepted(tmp_path, capsys, spelling):
    layer = _zip(tmp_path / "l.zip", {f"{SITE_312}m.py": "X = 1\n"})
    document = run_json(
        capsys, "check", str(layer), "--runtime", spelling, "--no-imports", "--json"
    )
    assert document["target"]["runtime"] == "python3.12"


# 6. messages that fit -------------------------------------------------------------------


def test_a_missing_callable_and_a_missing_dependency_get_their_own_fix():
    from lambdalayer.check.importstage import import_fix
    from lambdalayer.importresult import ImportResult

    callable_fix = import_fix(
        ImportResult(
            "app.main:handler", "app.main has no callable 'handler'", no_callable="handler"
        )
    )
    assert (
        callable_fix
        == "app.main imports, but has no function handler: check the handler's function name"
    )
    dependency_fix = import_fix(
        ImportResult(
            "imutils",
            "ModuleNotFoundError: No module named 'numpy'",
            missing="numpy",
            wanted=("numpy",),
        )
    )
    assert dependency_fix.startswith("imutils imports numpy, which nothing in the zips provides")


def test_a_handler_in_a_subpackage_is_suggested_by_its_full_name(tmp_path, capsys):
    package = _zip(
        tmp_path / "f.zip", {"app/__init__.py": "", "app/main.py": "def handler(e, c): pass\n"}
    )
    code, out, _ = run_cli(
        capsys,
        "check",
        str(package),
        "--runtime",
        "python3.12",
        "--function",
        "--handler",
        "main.handler",
        "--no-imports",
    )
    assert code == 1
    assert "fix: the zip has app.main: use --handler app.main.handler" in out


def test_a_failed_function_build_speaks_of_the_function(local_index, tmp_path, capsys):
    source = tmp_path / "src"
    source.mkdir()
    (source / "main.py").write_text("def handler(event, context):\n    return 1\n")
    code, _, err = run_cli(
        capsys,
        "build",
        "beta==1.0",
        "--runtime",
        "python3.12",
        "--bytecode",
        "none",
        "--function",
        str(source),
        "--handler",
        "main.missing",
        "--index-url",
        local_index.url,
        "--cache-dir",
        str(tmp_path / "c"),
        "-o",
        str(tmp_path / "f.zip"),
    )
    if find_interpreter("3.12") is None:
        pytest.skip("the handler's import needs a CPython 3.12")
    assert code == 1
    assert "error: the function package fails 1 check for python3.12-x86_64" in err
    assert "--no-check" not in err
    assert "has no function missing" in err


def test_image_pull_failure_names_the_registry_and_the_way_round(tmp_path, capsys):
    code, _, err = run_cli(
        capsys,
        "image",
        "pull",
        "python3.12",
        "--registry",
        "http://127.0.0.1:9",
        "--cache-dir",
        str(tmp_path / "c"),
    )
    assert code == 1
    assert "--registry (http://127.0.0.1:9)" in err and "--image DIR" in err


# 7. every command teaches -------------------------------------------------------------


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = cli_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


@pytest.mark.parametrize("name", sorted(_subcommands()))
def test_every_command_has_a_description_an_example_and_help_for_each_option(name):
    command = _subcommands()[name]
    if name == "image":  # its action carries the options
        command = dict(
            next(a for a in command._actions if isinstance(a, argparse._SubParsersAction)).choices
        )["pull"]
        assert "examples:" in (_subcommands()["image"].epilog or "")
    else:
        assert command.description, name
        assert name == "targets" or "examples:" in (command.epilog or ""), name
    undocumented = [
        action.dest for action in command._actions if not action.help and action.dest != "help"
    ]
    assert undocumented == [], name


# 9. one JSON shape per concept -------------------------------------------------------


def test_a_target_is_one_object_in_every_json(local_index, tmp_path, capsys):
    build = run_json(
        capsys,
        "build",
        "beta==1.0",
        "--runtime",
        "python3.12",
        "--bytecode",
        "none",
        "--index-url",
        local_index.url,
        "--cache-dir",
        str(tmp_path / "c"),
        "-o",
        str(tmp_path / "l.zip"),
        "--json",
    )
    check = run_json(capsys, "check", str(tmp_path / "l.zip"), "--json")
    assert build["schema"] == check["schema"] == 3
    assert (
        build["target"]
        == check["target"]
        == {
            "name": "python3.12-x86_64",
            "runtime": "python3.12",
            "arch": "x86_64",
            "python": "3.12",
            "glibc": "2.34",
        }
    )
    matrix = run_json(
        capsys,
        "build",
        "beta==1.0",
        "--runtime",
        "python3.12",
        "--arch",
        "x86_64,arm64",
        "--bytecode",
        "none",
        "--index-url",
        local_index.url,
        "--cache-dir",
        str(tmp_path / "c"),
        "--output-dir",
        str(tmp_path / "m"),
        "--json",
    )
    rows = matrix["builds"]
    assert [row["target"]["name"] for row in rows] == ["python3.12-x86_64", "python3.12-arm64"]
    for row in rows:
        assert row["ok"] is True  # built
        assert "check" not in row["result"]
        assert row["check"] is not None and row["check"]["target"] == row["target"]
        assert row["verdict"] == row["check"]["verdict"] != "failed"
    # the whole is "ok" only when every row's check passed in every part (#31)
    assert matrix["ok"] is all(row["verdict"] == "passed" for row in rows)


# 10. small things of the summary ----------------------------------------------------


def test_the_build_summary_has_a_header_and_no_noise(local_index, tmp_path, capsys):
    code, out, err = run_cli(
        capsys,
        "build",
        "beta==1.0",
        "--runtime",
        "python3.12",
        "--bytecode",
        "none",
        "--index-url",
        local_index.url,
        "--cache-dir",
        str(tmp_path / "c"),
        "-o",
        str(tmp_path / "l.zip"),
        "--no-check",
    )
    assert code == 0, err
    lines = out.splitlines()
    header = next(line for line in lines if line.strip().startswith("package"))
    assert header.split() == ["package", "version", "unzipped", "wheel"]
    slimmed = [line for line in lines if line.startswith("slimmed:")]
    assert all(" B," not in line and not line.endswith(" B") for line in slimmed)
    code, out, _ = run_cli(capsys, "report", str(tmp_path / "l.zip"))
    quota = next(line for line in out.splitlines() if line.startswith("quota:"))
    assert " = " not in quota


# 11. init ---------------------------------------------------------------------------


def test_init_reads_a_sam_template_and_build_then_uses_the_configuration(
    local_index, tmp_path, capsys
):
    project = tmp_path / "project"
    project.mkdir()
    (project / "requirements.txt").write_text("beta==1.0\n")
    (project / "template.yaml").write_text(
        "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n"
        "      Runtime: python3.12\n      Architectures:\n        - arm64\n"
    )
    code, out, _ = run_cli(capsys, "init", "--project", str(project))
    assert code == 0
    assert (
        f"wrote {project / 'lambdalayer.toml'} (runtimes and CPUs of its functions from template.yaml)"
        in out
    )
    assert f"next: lambdalayer build --project {project}" in out
    document = run_json(
        capsys,
        "build",
        "--project",
        str(project),
        "--bytecode",
        "none",
        "--index-url",
        local_index.url,
        "--cache-dir",
        str(tmp_path / "c"),
        "--json",
    )
    [row] = document["builds"]
    assert row["target"]["name"] == "python3.12-arm64" and row["name"] == "deps"
    code, _, err = run_cli(capsys, "init", "--project", str(project))
    assert code == 1 and "exists already" in err


def test_init_appends_to_pyproject_and_keeps_what_was_there(tmp_path, capsys):
    project = tmp_path / "p"
    project.mkdir()
    original = '[project]\nname = "svc"\ndependencies = ["six"]\n'
    (project / "pyproject.toml").write_text(original)
    code, _, _ = run_cli(
        capsys, "init", "--project", str(project), "--runtime", "3.13", "--arch", "aarch64"
    )
    assert code == 0
    text = (project / "pyproject.toml").read_text()
    assert text.startswith(original)
    assert '[tool.lambdalayer]\nruntime = "python3.13"\narch = "arm64"' in text
    json.dumps(text)  # still text
    from lambdalayer.inputs.config import load_config

    config = load_config(project)
    assert config is not None and config.runtimes == ("python3.13",)


# 1. the runtime's own boto3 is there when a module needs it ---------------------------

needs_312_sandbox = pytest.mark.skipif(
    find_interpreter("3.12") is None, reason="no CPython 3.12 here to import with"
)


@needs_312_sandbox
def test_a_handler_that_imports_boto3_is_checked_with_the_runtimes_own(
    local_index, tmp_path, capsys
):
    source = tmp_path / "src"
    source.mkdir()
    (source / "handler.py").write_text(
        "import boto3\n\ndef lambda_handler(event, context):\n    return boto3.__version__\n"
    )
    code, out, err = run_cli(
        capsys,
        "build",
        "beta==1.0",
        "--function",
        str(source),
        "--handler",
        "handler.lambda_handler",
        "--index-url",
        local_index.url,
        "--cache-dir",
        str(tmp_path / "cache"),
        "--runtime",
        "python3.12",
        "--bytecode",
        "none",
        "-o",
        str(tmp_path / "function.zip"),
        "--json",
    )
    assert code == 0, err
    check = json.loads(out)["check"]
    assert [item["ok"] for item in check["imports"]] == [True]
    assert (
        "python3.12's own" in check["imports_ran_in"] and "boto3 1.40.4" in check["imports_ran_in"]
    )
    assert "at /var/runtime" in check["imports_ran_in"]


@needs_312_sandbox
def test_relying_on_the_runtimes_sdk_is_checked_not_skipped(local_index, tmp_path, capsys):
    source = tmp_path / "src"
    source.mkdir()
    (source / "handler.py").write_text(
        "import usesboto, boto3\n\ndef lambda_handler(e, c):\n    return 1\n"
    )
    code, out, err = run_cli(
        capsys,
        "build",
        "usesboto",
        "--exclude-runtime-provided",
        "--function",
        str(source),
        "--handler",
        "handler.lambda_handler",
        "--index-url",
        local_index.url,
        "--cache-dir",
        str(tmp_path / "cache"),
        "--runtime",
        "python3.12",
        "--bytecode",
        "none",
        "-o",
        str(tmp_path / "function.zip"),
        "--json",
    )
    assert code == 0, err
    check = json.loads(out)["check"]
    assert check["imports_skipped"] is None
    assert [item["ok"] for item in check["imports"]] == [True]


@needs_312_sandbox
def test_a_layer_that_leaves_the_sdk_to_the_runtime_imports_with_the_runtimes_own(
    local_index, tmp_path, capsys
):
    # wrapsdateutil (like pandas) needs python-dateutil, which --exclude-runtime-provided
    # leaves to the runtime: the check mounts the runtime's own at /var/runtime, as Lambda has
    # them (it failed before: the package's own ImportError named no missing module).
    code, out, err = run_cli(
        capsys,
        "build",
        "wrapsdateutil",
        "--exclude-runtime-provided",
        "--index-url",
        local_index.url,
        "--cache-dir",
        str(tmp_path / "cache"),
        "--runtime",
        "python3.12",
        "--bytecode",
        "none",
        "-o",
        str(tmp_path / "layer.zip"),
        "--json",
    )
    assert code == 0, err
    check = json.loads(out)["check"]
    assert [(item["module"], item["ok"]) for item in check["imports"]] == [("wrapsdateutil", True)]
    assert "python-dateutil 2.9.0.post0" in check["imports_ran_in"]
    # Checked on its own, the zip's import fails for want of dateutil, and is checked again
    # with the runtime's packages: the check itself fetched nothing.
    code, out, err = run_cli(
        capsys,
        "check",
        str(tmp_path / "layer.zip"),
        "--index-url",
        local_index.url,
        "--cache-dir",
        str(tmp_path / "cache"),
        "--json",
    )
    assert code == 0, err
    checked = json.loads(out)
    assert checked["runtime_wanted"] == []
    assert "at /var/runtime" in checked["imports_ran_in"]


def test_a_layer_with_an_older_boto3_is_seen_shadowing_the_runtimes(local_index, tmp_path, capsys):
    code, out, err = run_cli(
        capsys,
        "build",
        "boto3==1.0",
        "--index-url",
        local_index.url,
        "--cache-dir",
        str(tmp_path / "cache"),
        "--runtime",
        "python3.12",
        "--bytecode",
        "none",
        "--no-check",
        "-o",
        str(tmp_path / "layer.zip"),
    )
    assert code == 0, err
    code, out, err = run_cli(capsys, "check", str(tmp_path / "layer.zip"), "--no-imports", "--json")
    report = json.loads(out)
    shadows = [item for item in report["findings"] if item["kind"] == "shadow"]
    assert any(
        item["severity"] == "warning"
        and "boto3 1.0 here shadows the runtime's own boto3 1.40.4" in item["message"]
        for item in shadows
    ), shadows
