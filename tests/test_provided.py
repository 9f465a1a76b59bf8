"""Building on top of what is already there: a base layer, the managed pandas layer, the runtime."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from cliutil import run_json
from indexserver import LocalIndex

from lambdalayer.cli.main import main
from lambdalayer.errors import InputError
from lambdalayer.resolve.provided import managed_layer, managed_releases
from lambdalayer.targets import all_targets, get_target

SITE = "python/lib/python3.12/site-packages/"


def build(
    capsys: pytest.CaptureFixture[str], index: LocalIndex, cache: Path, out: Path, *args: str
) -> dict[str, object]:
    result: dict[str, object] = run_json(
        capsys,
        "build",
        "--index-url",
        index.url,
        "--cache-dir",
        str(cache),
        "-o",
        str(out),
        "--runtime",
        "python3.12",
        "--bytecode",
        "none",
        "--json",
        *args,
    )
    return result


def packages_in(layer: Path) -> set[str]:
    with zipfile.ZipFile(layer) as archive:
        return {
            name[len(SITE) :].split("-")[0]
            for name in archive.namelist()
            if name.endswith(".dist-info/METADATA")
        }


@pytest.fixture
def base_layer(local_index, cache_dir, tmp_path, capsys) -> Path:
    base = tmp_path / "base.zip"
    build(capsys, local_index, cache_dir, base, "alpha")  # alpha 1.0 and its dependency beta 2.0
    return base


def test_provided_distributions_and_their_dependencies_are_left_out(
    local_index, cache_dir, tmp_path, capsys, base_layer
):
    out = tmp_path / "layer.zip"
    result = build(
        capsys,
        local_index,
        cache_dir,
        out,
        "alpha",
        "datapkg",
        "--on-top-of",
        f"layer:{base_layer}",
    )
    assert packages_in(out) == {"datapkg"}
    assert result["provided"] == {
        "by": ["layer base.zip"],
        "packages": {"alpha": "1.0", "beta": "2.0"},
    }


def test_versions_are_chosen_to_fit_the_provided_pins(local_index, cache_dir, tmp_path, capsys):
    base = tmp_path / "base.zip"
    build(capsys, local_index, cache_dir, base, "beta==1.0")
    out = tmp_path / "layer.zip"
    result = build(capsys, local_index, cache_dir, out, "alpha", "--on-top-of", f"layer:{base}")
    assert packages_in(out) == {"alpha"}
    assert result["provided"] == {
        "by": ["layer base.zip"],
        "packages": {"beta": "1.0"},
    }  # not beta 2.0


def test_a_requirement_that_conflicts_with_a_provided_pin_fails_naming_both(
    local_index, cache_dir, tmp_path, capsys, base_layer
):
    previous = tmp_path / "layer.zip"
    previous.write_bytes(b"previous")
    code = main(
        [
            "build",
            "--index-url",
            local_index.url,
            "--cache-dir",
            str(cache_dir),
            "-o",
            str(previous),
            "--runtime",
            "python3.12",
            "needs-old-beta",
            "--on-top-of",
            f"layer:{base_layer}",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert (
        "conflict with what is already provided" in err and "beta<2" in err and "beta==2.0" in err
    )
    assert previous.read_bytes() == b"previous"


def test_exclude_runtime_provided_leaves_the_sdk_out_with_a_warning(
    local_index, cache_dir, tmp_path, capsys
):
    out = tmp_path / "layer.zip"
    result = build(capsys, local_index, cache_dir, out, "usesboto", "--exclude-runtime-provided")
    assert packages_in(out) == {"usesboto"}
    assert result["provided"] == {
        "by": ["the python3.12 runtime"],
        "packages": {"boto3": "1.0", "botocore": "1.0", "jmespath": "1.0"},
    }
    assert "may change under the function" in str(result["notices"])


def test_nothing_left_but_the_runtime_s_own_says_no_layer_is_needed_and_names_the_flag(
    local_index, cache_dir, tmp_path, capsys
):
    """Everything asked for is the runtime's own: the hint says no layer is needed and how to
    ship copies anyway — not 'attach that layer alone', which names no layer here."""
    previous = tmp_path / "l.zip"
    previous.write_bytes(b"previous")
    code = main(
        [
            "build", "--index-url", local_index.url, "--cache-dir", str(cache_dir), "-o",
            str(previous), "--runtime", "python3.12", "boto3", "--exclude-runtime-provided",
        ]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1, err
    lines = err.splitlines()
    assert lines[-2].startswith(
        "error: nothing left to put in the layer: everything asked for is provided by the"
        " python3.12 runtime (boto3 "
    ), err
    assert lines[-1] == (
        "hint: no layer is needed: the function imports the runtime's own copies; to ship"
        " copies of your own, build without --exclude-runtime-provided"
    ), err
    assert previous.read_bytes() == b"previous"


def test_managed_layer_data_covers_every_target_with_pandas_numpy_pyarrow():
    latest = managed_releases()[0]
    for target in all_targets():
        provided = managed_layer(None, target, "eu-west-1")
        assert {"awswrangler", "pandas", "numpy", "pyarrow"} <= set(provided.pins), target.name
        assert provided.pins["awswrangler"] == latest
        assert "boto3" in provided.unpinned and "boto3" not in provided.pins
    arm = managed_layer(latest, get_target("python3.12", "arm64"), "eu-west-1")
    assert (
        arm.layer_arn == "arn:aws:lambda:eu-west-1:336392948345:layer:AWSSDKPandas-Python312-Arm64"
    )
    assert arm.ssm_parameter == f"/aws/service/aws-sdk-pandas/{latest}/py3.12/arm64/layer-arn"
    with pytest.raises(InputError, match=r"no data for aws-sdk-pandas 0\.0\.1"):
        managed_layer("0.0.1", get_target("python3.12"))


def test_unknown_on_top_of_is_explained(local_index, cache_dir, tmp_path, capsys):
    code = main(
        [
            "build",
            "--index-url",
            local_index.url,
            "--cache-dir",
            str(cache_dir),
            "-o",
            str(tmp_path / "l.zip"),
            "beta",
            "--on-top-of",
            "pandas-layer",
        ]
    )
    err = capsys.readouterr().err
    assert (
        code == 1 and "--on-top-of 'pandas-layer' names no layer" in err and "layer:PATH.zip" in err
    )


def test_nothing_left_to_build_is_said_plainly(
    local_index, cache_dir, tmp_path, capsys, base_layer
):
    code = main(
        [
            "build",
            "--index-url",
            local_index.url,
            "--cache-dir",
            str(cache_dir),
            "-o",
            str(tmp_path / "l.zip"),
            "--runtime",
            "python3.12",
            "alpha",
            "--on-top-of",
            f"layer:{base_layer}",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and "nothing left to put in the layer" in err and "alpha 1.0, beta 2.0" in err


def test_over_the_quota_with_the_managed_layer_beneath_is_an_error_never_ok(
    local_index, cache_dir, tmp_path, capsys, monkeypatch
):
    """#31: the managed layer beneath counts, as at least what its wheels unpack to; over the
    quota with it, Lambda refuses the function: an error, and nothing written."""
    from lambdalayer.check import rules

    managed = managed_layer(None, get_target("python3.12"))
    assert managed.unzipped_bytes is not None
    # beta alone is far under this quota; with the managed layer beneath it is over
    monkeypatch.setattr(rules, "UNZIPPED_LIMIT", managed.unzipped_bytes + 100)
    out = tmp_path / "layer.zip"
    out.write_bytes(b"previous")
    code = main(
        [
            "build",
            "--index-url",
            local_index.url,
            "--cache-dir",
            str(cache_dir),
            "-o",
            str(out),
            "--runtime",
            "python3.12",
            "beta",
            "--on-top-of",
            "aws-sdk-pandas",
        ]
    )
    captured = capsys.readouterr()
    assert code == 1, captured.out
    assert "check ok" not in captured.out + captured.err
    assert "with aws-sdk-pandas" in captured.err and "Lambda refuses it" in captured.err
    assert "was not written" in captured.err and out.read_bytes() == b"previous"
    # the hint says first that one layer of everything is smaller, with both totals
    assert "hint: with aws-sdk-pandas " in captured.err
    assert "everything built into one layer without it is" in captured.err
    # unchecked too: the quota counts what is beneath
    from lambdalayer.builder import pipeline

    monkeypatch.setattr(pipeline, "UNZIPPED_LIMIT", managed.unzipped_bytes + 100)
    args = ["build", "--index-url", local_index.url, "--cache-dir", str(cache_dir), "-o", str(out)]
    code = main(
        [*args, "--runtime", "python3.12", "beta", "--on-top-of", "aws-sdk-pandas", "--no-check"]
    )
    err = capsys.readouterr().err
    assert code == 1 and "beneath, over Lambda's" in err and out.read_bytes() == b"previous"


def test_on_top_of_the_managed_layer_says_when_one_layer_of_everything_is_smaller(
    local_index, cache_dir, tmp_path, capsys
):
    """#31: the function carries the whole managed layer beneath; beta alone is far smaller."""
    managed = managed_layer(None, get_target("python3.12"))
    assert managed.unzipped_bytes is not None
    result = build(
        capsys, local_index, cache_dir, tmp_path / "l.zip", "beta", "--on-top-of", "aws-sdk-pandas"
    )
    compared = result["beneath_compared"]
    assert isinstance(compared, dict) and compared["larger"] is True
    assert compared["with_beneath_bytes"] > managed.unzipped_bytes > compared["alone_bytes"] > 0
    [notice] = [text for text in result["notices"] if "beneath, the function carries" in text]  # type: ignore[attr-defined]
    assert f"{compared['with_beneath_bytes']:,} bytes unzipped" in notice
    assert (
        f"everything built into one layer without it is {compared['alone_bytes']:,} bytes" in notice
    )
    # nothing beneath but what is here: no comparison
    alone = build(capsys, local_index, cache_dir, tmp_path / "m.zip", "beta")
    assert alone["beneath_compared"] is None


def test_a_build_whose_imports_are_not_verified_exits_0_unless_strict(
    local_index, cache_dir, tmp_path, capsys, monkeypatch
):
    """#31: the managed layer is not on this machine (no AWS here): its imports are not
    verified. The build says so on its last line and exits 0; --strict (or strict = true)
    fails it, and writes nothing."""
    out = tmp_path / "layer.zip"
    args = ["build", "--index-url", local_index.url, "--cache-dir", str(cache_dir), "-o", str(out)]
    args += [
        "--runtime",
        "python3.12",
        "--bytecode",
        "none",
        "beta",
        "--on-top-of",
        "aws-sdk-pandas",
    ]
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].startswith("check not verified (imports did not run; --strict fails on this)")
    assert "imports: not verified: the layer relies on aws-sdk-pandas" in "\n".join(lines)
    assert (
        "        to verify: give AWS credentials and a region (AWS_PROFILE, AWS_REGION): the"
        " layer's content is fetched with GetLayerVersion and checked beneath" in lines
    )
    out.unlink()
    assert main([*args, "--strict"]) == 1
    err = capsys.readouterr().err
    assert "strict mode wants every part verified: imports (the layer relies on" in err
    assert "was not written" in err and not out.exists()
    project = tmp_path / "project"
    project.mkdir()
    (project / "lambdalayer.toml").write_text("strict = true\n")
    assert main([*args, "--project", str(project)]) == 1 and not out.exists()
    assert "strict mode wants every part verified" in capsys.readouterr().err
