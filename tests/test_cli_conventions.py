"""The command line's conventions, as pip's and uv's: global options anywhere, -v/-q counted,
--json on every command (errors only in the JSON then)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from indexserver import LocalIndex
from test_deploy_files import UNRESOLVED
from wheelmaker import make_wheel

from lambdalayer.cli.main import COMMANDS, main, parser

# For each command, arguments that reach the command and fail there (or in argparse).
FAILING = {
    "init": ["--project", "/nonexistent/project"],
    "build": ["--runtime", "python2.7"],
    "lock": ["--runtime", "python2.7"],
    "plan": ["--project", "/nonexistent/project"],
    "report": ["/nonexistent/layer.zip"],
    "sbom": ["/nonexistent/layer.zip"],
    "audit": ["/nonexistent/layer.zip"],
    "verify": ["/nonexistent/layer.zip"],
    "check": ["/nonexistent/layer.zip"],
    "invoke": ["/nonexistent/dir", "--handler", "app.handler"],
    "image": ["pull", "python2.7"],
    "publish": ["/nonexistent/layer.zip", "--name", "x"],
    "attach": ["f", "--layer", "not-an-arn"],
    "layers": ["bad name!"],
    "targets": ["--bogus"],
    "cache": ["prune"],
    "trim": ["app.handler", "--function", "/nonexistent/dir", "--event", "/nonexistent/e.json"],
}


def test_every_command_is_covered():
    assert sorted(FAILING) == sorted(COMMANDS)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_with_json_a_failure_is_one_json_object_and_nothing_on_stderr(
    command: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch
):
    monkeypatch.setenv("LAMBDALAYER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    try:
        code = main([command, *FAILING[command], "--json"])
    except SystemExit as exit_:  # argparse's usage errors exit 2
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    assert code != 0
    document = json.loads(captured.out)
    assert document["ok"] is False and document["error"]
    assert captured.err == ""


@pytest.mark.parametrize("command", sorted(set(COMMANDS) - {"image", "cache"}))
def test_json_and_verbosity_are_taken_after_the_command_as_before_it(
    command: str, capsys: pytest.CaptureFixture[str]
):
    with pytest.raises(SystemExit) as exited:
        main([command, "-v", "-q", "--json", "--help"])
    assert exited.value.code == 0
    assert "-v, --verbose" in capsys.readouterr().out


def test_targets_with_options_before_and_after(capsys: pytest.CaptureFixture[str]):
    assert main(["-v", "targets", "-q", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True


def test_vv_prints_a_traceback_and_v_does_not(capsys: pytest.CaptureFixture[str]):
    assert main(["check", "/nonexistent/layer.zip", "-v"]) == 1
    assert "Traceback" not in capsys.readouterr().err
    assert main(["-vv", "check", "/nonexistent/layer.zip"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "error: " in err


def test_quiet_says_nothing_but_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path):
    assert main(["cache", "prune", "-q", "--older", "1", "--cache-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().err == ""


def test_version_and_help_import_none_of_the_library():
    probe = (
        "import sys, contextlib, io\n"
        "from lambdalayer.cli.main import main\n"
        "for argv in (['--version'], ['--help']):\n"
        "    with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "        main(argv)\n"
        "heavy = sorted(m for m in sys.modules if m.startswith('lambdalayer.') and\n"
        "    m.split('.')[1] not in ('cli', 'errors', 'zipnames'))\n"
        "heavy += [m for m in ('urllib3', 'packaging', 'boto3') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_a_reader_that_leaves_is_no_traceback():
    """``lambdalayer … --json | head -1``: stdout's reader gone, the command ends quietly
    (exit 141, as a shell reports SIGPIPE), not with BrokenPipeError tracebacks."""
    reader, writer = os.pipe()
    os.close(reader)  # every write to the pipe now fails with EPIPE
    try:
        done = subprocess.run(
            [str(Path(sys.executable).with_name("lambdalayer")), "targets", "--json"],
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
    finally:
        os.close(writer)
    assert done.returncode == 141
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr


def test_with_json_progress_stays_off_stderr(capsys, local_index, tmp_path):  # type: ignore[no-untyped-def]
    """The JSON says it all: a build that fails prints no progress line on stderr before its
    JSON error (it printed ``resolving for …``); ``-v`` brings the progress back."""
    args = ["build", "alpha", "nosuchproject", "--runtime", "python3.12"]
    args += ["--index-url", local_index.url, "--cache-dir", str(tmp_path), "--json"]
    assert main(args) == 1
    captured = capsys.readouterr()
    assert captured.err == "" and json.loads(captured.out)["ok"] is False
    assert main([*args, "-v"]) == 1
    assert "resolving for python3.12-x86_64" in capsys.readouterr().err


def _options(command: str) -> dict[str, argparse.Action]:
    commands = next(
        action
        for action in parser(command)._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    return {
        flag: action
        for action in commands.choices[command]._actions
        for flag in action.option_strings
    }


# The function and the root it runs in: invoke's and trim's, said once (cli/invoke.py).
FUNCTION_OPTIONS = (
    "--function", "--zip", "--layer", "--runtime", "--arch", "--memory", "--timeout",
    "--ephemeral-storage", "--env", "--repeat", "--log-format", "--sandbox", "--python",
    "--index-url", "--registry", "--cache-dir",
)  # fmt: skip


@pytest.mark.parametrize("flag", FUNCTION_OPTIONS)
def test_invoke_and_trim_take_the_function_the_same_way(flag):
    invoke, trim = _options("invoke")[flag], _options("trim")[flag]
    assert (invoke.dest, invoke.help, invoke.metavar, invoke.default, invoke.choices) == (
        trim.dest,
        trim.help,
        trim.metavar,
        trim.default,
        trim.choices,
    )


def test_counts_read_as_english():
    """'1 functions', '1 entries', '1 vendored libraries' were printed (a new user's review)."""
    from lambdalayer.wording import counted

    assert [counted(n, "function") for n in (0, 1, 2)] == [
        "0 functions",
        "1 function",
        "2 functions",
    ]
    assert counted(1, "entry", "entries") == "1 entry"
    assert counted(1_234, "entry", "entries") == "1,234 entries"


def test_trim_help_teaches_an_example_and_what_the_levels_mean(capsys):
    with pytest.raises(SystemExit):
        main(["trim", "--help"])
    text = capsys.readouterr().out
    assert (
        "  lambdalayer trim app.handler --function src/ --layer deps.zip --sample apigw-v2" in text
    )
    assert "(default 3; 0: no timings and no -X importtime)" in " ".join(text.split())
    levels = text[text.index("levels (--level):") :]
    assert "  data      remove only data files no traced event opened" in levels
    assert "  modules   (default) also remove modules no traced event imported" in levels
    # a sample that does not exist is argparse's error, not a missing file's
    with pytest.raises(SystemExit):
        main(["trim", "app.handler", "--function", ".", "--sample", "bogus"])
    assert "invalid choice: 'bogus'" in capsys.readouterr().err


@pytest.mark.parametrize(("events", "said"), [(1, "1 event answers"), (2, "2 events answer")])
def test_trim_says_how_many_events_answer_the_same_in_english(events, said):
    """trim printed 'verified: 1 event answer the same' (a new user's review, 2026-12-07)."""
    from pathlib import Path

    from lambdalayer.cli.trim import summary_lines
    from lambdalayer.report import TrimFacts, _trim_html, _trim_text
    from lambdalayer.trace.run import TrimResult
    from lambdalayer.trim.manifest import Level, Manifest

    manifest = Manifest(Level.MODULES, ("init", "event.json"), ())
    result = TrimResult(
        manifest, Path("lambdalayer.trim.toml"), (), events, "strace", None, None, ()
    )
    assert f"verified: {said} the same after trimming; the static check passes" in summary_lines(
        result
    )
    facts = TrimFacts(
        "lambdalayer.trim.toml", "modules", (), (None, None), (None, None), 3, events, ()
    )
    assert _trim_text(facts)[0].endswith(f"; {said} the same")
    traced = said.replace("event", "traced event")
    assert f" {traced} the same. Init Duration" in _trim_html(facts)


# An option given without the option it works with was silently ignored: each is one error
# (and its hint) before anything is resolved, built or written.
IGNORED = [
    (["build", "alpha", "--fail-on", "none"], "--fail-on is read only with --audit"),
    (["build", "alpha", "--deny-licence", "GPL-3.0-only"], "--deny-licence is read only with --audit"),
    (["build", "alpha", "--sbom-format", "spdx"], "--sbom-format is read only with --sbom"),
    (["build", "alpha", "--memory", "512"], "--memory is read only with --invoke"),
    (["build", "alpha", "--env", "A=1"], "--env is read only with --invoke"),
    (["build", "alpha", "--description", "x"], "--description is read only with --publish"),
    (["build", "alpha", "--regions", "a,b"], "--regions is read only with --publish"),
    (["build", "alpha", "--changed-since", "HEAD"], "--changed-since is read only with --all"),
    (["build", "alpha", "--cache-url", "file:///x"], "--cache-url is read only with --all"),
    (["build", "--all", "--fail-on", "none"], "--fail-on is read only with --audit"),
    (["build", "--all", "--region", "eu-west-1"], "--region is read only with --cache-url"),
    (["plan", "--output-dir", "d"], "--output-dir is read only with --build"),
    (["plan", "--changed-since", "HEAD"], "--changed-since is read only with --build"),
    (["plan", "--profile", "p"], "--profile is read only with --cache-url"),
    (["plan", "--matrix", "--index-url", "http://127.0.0.1:9/simple"],
     "--matrix lists each target's functions without resolving; --index-url does not mix"),
    (["plan", "--matrix", "--build"], "--build does not mix"),
    (["invoke", "--sample", "sqs", "--memory", "512"], "--memory does not mix with it"),
    (["check", "l.zip", "--no-imports", "--image", "host"], "--image does not mix with --no-imports"),
    (["check", "l.zip", "--no-imports", "--python", "/usr/bin/python3"], "--python does not mix"),
    (["check", "l.zip", "--registry", "http://127.0.0.1:9"], "--registry is read only with --image pull"),
    (["invoke", "app.h", "--function", "src", "--image", "host", "--registry", "http://127.0.0.1:9"],
     "--registry is read only with --image pull"),
    (["trim", "app.h", "--function", "src", "--event", "e.json", "--reviewed", "--level", "data"],
     "--level does not mix with --reviewed"),
    (["build", "alpha", "--runtime", "3.11,3.12", "--report", "r.html"],
     "--report takes one built zip, but this run builds 2"),
    (["build", "alpha", "--runtime", "3.11,3.12", "--print", "sha256"],
     "--print takes one built zip, but this run builds 2"),
    (["build", "alpha", "--function", "src", "--handler", "app.h", "--runtime", "3.11,3.12",
      "--invoke", "e.json"], "--invoke takes one built zip, but this run builds 2"),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "said"), IGNORED, ids=[" ".join(a) for a, _ in IGNORED])
def test_an_option_nothing_would_read_is_one_error_not_ignored(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("def h(event, context):\n    return 1\n")
    monkeypatch.setenv("LAMBDALAYER_CACHE_DIR", str(tmp_path / "cache"))
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 1
    errors = [line for line in err.splitlines() if line.startswith(("error:", "hint:"))]
    assert len(errors) == 2 and said in errors[0], err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["src"]  # nothing written


def test_check_publish_layers_image_and_pipeline_counts_read_as_english(capsys, tmp_path):
    """'0 error(s), 0 warning(s)', 'fails 1 check(s)', '1 of 1 region(s)' were printed."""
    import io

    from lambdalayer.aws.publish import Published
    from lambdalayer.builder.pipeline import failed_check
    from lambdalayer.builder.sharing import Needs, Sized, share
    from lambdalayer.check.findings import CheckReport, Finding, Kind, Severity
    from lambdalayer.cli.publish import print_published
    from lambdalayer.cli.text import verdict_line
    from lambdalayer.targets import get_target

    findings = (Finding(Severity.ERROR, Kind.PATH, "x"), Finding(Severity.WARNING, Kind.ZIP, "y"))
    report = CheckReport(tmp_path / "l.zip", get_target("python3.12", "x86_64"), findings, 1, 1, 1)
    assert "FAILED for python3.12-x86_64: 1 error, 1 warning;" in verdict_line(report)
    clean = CheckReport(tmp_path / "l.zip", get_target("python3.12", "x86_64"), (), 1, 1, 1)
    assert ": 0 errors, 0 warnings;" in verdict_line(clean)
    error = failed_check(report, tmp_path / "l.zip", function=False)
    assert "fails 1 check for python3.12-x86_64;" in error.message
    assert print_published([Published("eu-west-1", error="denied")], io.StringIO()) == 1
    assert "error: publishing failed in 1 of 1 region\n" in capsys.readouterr().err
    plan = share([Needs("f", {"a": Sized("1", 1, 1)}, existing_layers=1)])
    [notes] = [function.notes for function in plan.functions]
    assert "the 1 layer it already names counts against the five;" in " ".join(notes)


def test_a_missing_function_list_or_event_hint_names_the_option_that_gives_it(tmp_path, capsys):
    """'plan' with nothing found hinted 'name the deploy file' (with what?) and trim without an
    event '--event FILE' only (a new user's review): each hint names the option to use."""
    code = main(["plan", "--project", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1 and "hint: name a deploy file elsewhere with --deploy-file FILE" in err, err
    assert "[tool.lambdalayer.functions.NAME] with source =" in err, err
    code = main(["build", "--all", "--project", str(tmp_path)])
    assert code == 1 and "--deploy-file FILE" in capsys.readouterr().err
    code = main(["trim", "app.handler", "--function", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1 and "hint: --event FILE, or --sample KIND (apigw-v2, sqs," in err, err


def test_lambdalayer_alone_lists_the_commands(capsys):
    """'lambdalayer' alone said only 'the following arguments are required: COMMAND' (a new
    user's review): it lists the commands, and says how to learn more, exit code 2."""
    assert main([]) == 2
    err = capsys.readouterr().err
    assert "\n    build " in err and "\n    trim " in err and "\n    plan " in err, err
    assert err.endswith("error: name a command; 'lambdalayer COMMAND --help' says more\n"), err


def test_help_says_what_q_and_qq_leave_out_as_the_readme_does(capsys: pytest.CaptureFixture[str]):
    """--help names the lines -q keeps and -qq leaves out as they start (notice: too, which
    -qq leaves out with warning:), as the README does."""
    with pytest.raises(SystemExit):
        main(["build", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert (
        "-q, --quiet say less: no progress or information on stderr (warning: and notice:"
        " lines, errors, their hints and the result stay); -qq: no warnings or notices either"
        " (errors and their hints always stay)" in text
    ), text
    readme = " ".join((Path(__file__).parents[1] / "README.md").read_text("utf-8").split())
    assert "`-qq` leaves out those `warning:` and `notice:` lines too" in readme


def test_build_help_says_the_zip_and_its_companions_are_one_set(
    capsys: pytest.CaptureFixture[str],
):
    """-o's help says what the README's -o row does: the companions are checked first and
    replaced with the zip, or put back with it."""
    with pytest.raises(SystemExit):
        main(["build", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert (
        "The zip and its --lock, --sbom, --provenance and --report are one set: each path is"
        " checked before anything is resolved, and if one cannot be written, every one is put"
        " back as it was" in text
    ), text


def test_trim_help_says_which_pyc_bytecode_only_moves(capsys: pytest.CaptureFixture[str]):
    """trim --help's levels say what the README's do: a .pyc another Python wrote, or a
    truncated or empty one, is refused at bytecode-only."""
    with pytest.raises(SystemExit):
        main(["trim", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert (
        "Only a .pyc the runtime's CPython imports moves: one a manifest line names with another"
        " Python's magic number, or truncated, or empty, is an error, nothing written" in text
    ), text


# What a command says on stderr, by kind: progress and information go with -q, warnings
# (and a warning's hint) with -qq, errors (and theirs) never.
_SHOWN = {"": ("progress", "warning", "error"), "-q": ("warning", "error"), "-qq": ("error",)}


def _said(case: str, tmp_path: Path, index_url: str) -> tuple[list[str], dict[str, list[str]]]:
    """A command that says a warning (or fails), and what it says of each kind."""
    if case == "init":  # a function left out of the targets
        (tmp_path / "requirements.txt").write_text("alpha\n")
        (tmp_path / "template.yaml").write_text(UNRESOLVED.format(runtime="python3.11"))
        return ["init", "--project", str(tmp_path)], {
            "progress": ["note: template.yaml: "],
            "warning": ["warning: template.yaml: WorkerFn is left out", "hint: add its target"],
        }
    build = [
        "build", "alpha", "--runtime", "python3.12", "--no-check", "--bytecode", "none",
        "--index-url", index_url, "--cache-dir", str(tmp_path / "cache"),
        "-o", str(tmp_path / "layer.zip"),
    ]  # fmt: skip
    if case == "build":  # the runtime's SDK left out
        return [*build, "--exclude-runtime-provided"], {
            "progress": ["resolving for python3.12", "downloading alpha"],
            "warning": ["notice: left out the runtime's own boto3"],
        }
    return [*build, "--report", str(tmp_path)], {  # a directory: the build fails
        "progress": [],
        "error": ["error: ", "hint: "],
    }


@pytest.mark.parametrize("quiet", sorted(_SHOWN))
def test_several_targets_notices_follow_the_same_rule(
    quiet: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    """A build of several targets lists each target's notices under the table: -qq leaves
    them out there too, as it does a build of one target's (they stayed)."""
    root = tmp_path / "index"
    root.mkdir()
    make_wheel(root, "alpha", "1.0")
    with LocalIndex(root) as index:
        code = main(
            [
                "build", "alpha", "--runtime", "python3.12,python3.11", "--no-check",
                "--bytecode", "none", "--index-url", index.url, "--cache-dir",
                str(tmp_path / "cache"), "--output-dir", str(tmp_path / "dist"),
                "--exclude-runtime-provided", *([quiet] if quiet else []),
            ]
        )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    said = out.count("  notice: left out the runtime's own boto3")
    assert said == (2 if "warning" in _SHOWN[quiet] else 0), (quiet, out)
    assert "python3.11-x86_64" in out  # the table, the result, stays


@pytest.mark.parametrize("quiet", sorted(_SHOWN))
@pytest.mark.parametrize("case", ["init", "build", "a failing build"])
def test_q_leaves_out_progress_qq_warnings_too_and_errors_always_stay(
    case: str, quiet: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    """The rule of -q and -qq, the same for every command (cli.common's stderr, warn, say):
    each kind of line on stderr is there at the levels that keep it, and only there."""
    root = tmp_path / "index"
    root.mkdir()
    make_wheel(root, "alpha", "1.0")
    with LocalIndex(root) as index:
        argv, says = _said(case, tmp_path, index.url)
        code = main([*argv, *([quiet] if quiet else [])])
    err = capsys.readouterr().err
    assert (code != 0) is ("error" in says), err
    lines = err.splitlines()
    for kind, starts in says.items():
        for start in starts:
            there = any(line.startswith(start) for line in lines)
            assert there is (kind in _SHOWN[quiet]), (
                f"{kind} {start!r} at {quiet or 'no -q'}: {err}"
            )
