"""Many functions, one command (issue 35): the plan of shared layers, read from a SAM
template, a CDK-synthesized template, serverless.yml or ``[tool.lambdalayer.functions]``,
resolved against the real local index."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from cliutil import run_cli, run_json
from indexserver import LocalIndex

from lambdalayer.builder.sharing import Needs, Sized, layer_name, share
from lambdalayer.limits import MAX_LAYERS, UNZIPPED_LIMIT

SAM_HEAD = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.12
    Architectures: [arm64]
Resources:
"""


def sam_function(name: str, extra: str = "") -> str:
    return (
        f"  {name}:\n    Type: AWS::Serverless::Function\n    Properties:\n"
        f"      CodeUri: {name.lower()}/\n      Handler: app.handler\n{extra}"
    )


def sam_project(root: Path, functions: dict[str, str], extra: dict[str, str] | None = None) -> Path:
    """A SAM repository: one function per entry, its requirements.txt the entry's value."""
    root.mkdir(parents=True, exist_ok=True)
    body = "".join(sam_function(name, (extra or {}).get(name, "")) for name in functions)
    (root / "template.yaml").write_text(SAM_HEAD + body)
    for name, requirements in functions.items():
        code = root / name.lower()
        code.mkdir(exist_ok=True)
        (code / "app.py").write_text("def handler(event, context):\n    return 1\n")
        (code / "requirements.txt").write_text(requirements)
    return root


def plan_args(index: LocalIndex, cache_dir: Path, project: Path, *extra: str) -> list[str]:
    return [
        "plan",
        "--index-url",
        index.url,
        "--cache-dir",
        str(cache_dir),
        "--project",
        str(project),
        *extra,
    ]


def the_target(document: dict[str, object], name: str) -> dict[str, object]:
    targets = document["targets"]
    assert isinstance(targets, list)
    [found] = [target for target in targets if target["target"]["name"] == name]
    return found


def by_name(items: object) -> dict[str, dict[str, object]]:
    assert isinstance(items, list)
    return {item["name"]: item for item in items}


def test_a_sam_repository_shares_what_several_functions_need_at_one_version(
    local_index, cache_dir, tmp_path, capsys
):
    project = sam_project(
        tmp_path / "repo",
        {"Orders": "alpha\n", "Billing": "beta\n", "Legacy": "needs-old-beta\n"},
    )
    plan = run_json(capsys, *plan_args(local_index, cache_dir, project, "--json"))
    target = the_target(plan, "python3.12-arm64")
    assert target["resolved_apart"] is None, target
    [layer] = target["layers"]
    # resolved together: beta 1.0 (needs-old-beta caps it), in one layer for all three
    assert [(p["name"], p["version"]) for p in layer["packages"]] == [("beta", "1.0")]
    assert layer["functions"] == ["Billing", "Legacy", "Orders"]
    functions = by_name(target["functions"])
    assert [p["name"] for p in functions["Orders"]["own"]] == ["alpha"]
    assert [p["name"] for p in functions["Legacy"]["own"]] == ["needs-old-beta"]
    assert functions["Billing"]["own"] == [] and functions["Billing"]["layers"] == [layer["name"]]
    upload = target["upload_bytes"]
    assert upload["planned"] < upload["one_zip_per_function"]
    code, out, _ = run_cli(capsys, *plan_args(local_index, cache_dir, project))
    assert (
        code == 0 and f"layer {layer['name']}" in out and "used by: Billing, Legacy, Orders" in out
    )


def test_versions_that_conflict_stay_in_each_functions_own_package_and_say_why(
    local_index, cache_dir, tmp_path, capsys
):
    project = sam_project(
        tmp_path / "repo",
        {"Old": "needs-old-beta\n", "New": "needs-new-beta\n", "Also": "needs-new-beta\n"},
    )
    plan = run_json(capsys, *plan_args(local_index, cache_dir, project, "--json"))
    target = the_target(plan, "python3.12-arm64")
    assert target["resolved_apart"]  # uv's first line: they cannot be resolved together
    assert target["conflicts"] == [
        {"name": "beta", "versions": {"Also": "2.0", "New": "2.0", "Old": "1.0"}}
    ]
    functions = by_name(target["functions"])
    assert {p["name"]: p["version"] for p in functions["Old"]["own"]} == {
        "beta": "1.0",
        "needs-old-beta": "1.0",
    }
    assert "different versions" in functions["Old"]["notes"][0]
    # what does not conflict is still shared
    [layer] = target["layers"]
    assert [p["name"] for p in layer["packages"]] == ["needs-new-beta"]
    assert layer["functions"] == ["Also", "New"]


def test_adding_a_function_changes_only_the_layers_holding_its_distributions(
    local_index, cache_dir, tmp_path, capsys
):
    functions = {"A": "alpha\nstoredpkg\n", "B": "alpha\nstoredpkg\n", "C": "datapkg\nfatpkg\n"}
    functions["D"] = "datapkg\nfatpkg\n"
    project = sam_project(tmp_path / "repo", functions)
    before = the_target(
        run_json(capsys, *plan_args(local_index, cache_dir, project, "--json")), "python3.12-arm64"
    )
    sam_project(project, {**functions, "E": "datapkg\n"})
    after = the_target(
        run_json(capsys, *plan_args(local_index, cache_dir, project, "--json")), "python3.12-arm64"
    )
    names_before = {layer["name"] for layer in before["layers"]}
    names_after = {layer["name"] for layer in after["layers"]}
    untouched = {layer_name(["alpha", "beta", "storedpkg"])}
    assert untouched <= names_before & names_after  # A and B's layer is unchanged
    assert layer_name(["datapkg", "fatpkg"]) in names_before - names_after
    assert {layer_name(["datapkg"]), layer_name(["fatpkg"])} <= names_after
    assert json.dumps(after) == json.dumps(
        the_target(
            run_json(capsys, *plan_args(local_index, cache_dir, project, "--json")),
            "python3.12-arm64",
        )
    )  # the same inputs, the same plan


def test_a_cdk_synthesized_template_is_planned_per_target(local_index, cache_dir, tmp_path, capsys):
    cdk_out = tmp_path / "repo" / "cdk.out"
    resources: dict[str, object] = {}
    for name, arch in (("One", "arm64"), ("Two", "arm64"), ("Three", "x86_64")):
        asset = cdk_out / f"asset.{name}"
        asset.mkdir(parents=True)
        (asset / "requirements.txt").write_text("alpha\n")
        resources[f"{name}Fn"] = {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "Code": {"S3Bucket": {"Fn::Sub": "cdk-${AWS::AccountId}"}, "S3Key": "x.zip"},
                "Handler": "index.handler",
                "Runtime": "python3.11",
                "Architectures": [arch],
            },
            "Metadata": {"aws:asset:path": f"asset.{name}", "aws:asset:property": "Code"},
        }
    (cdk_out / "App.template.json").write_text(json.dumps({"Resources": resources}))
    plan = run_json(capsys, *plan_args(local_index, cache_dir, tmp_path / "repo", "--json"))
    arm = the_target(plan, "python3.11-arm64")
    assert [layer["functions"] for layer in arm["layers"]] == [["OneFn", "TwoFn"]]
    x86 = the_target(plan, "python3.11-x86_64")
    assert x86["layers"] == [] and len(x86["functions"]) == 1  # alone: nothing to share


def test_serverless_yml_and_the_toml_form_are_planned_together(
    local_index, cache_dir, tmp_path, capsys
):
    root = tmp_path / "repo"
    (root / "svc").mkdir(parents=True)
    (root / "svc" / "requirements.txt").write_text("alpha\n")
    (root / "serverless.yml").write_text(
        "service: svc\nprovider:\n  name: aws\n  runtime: python3.12\n  architecture: arm64\n"
        "functions:\n  hello:\n    handler: app.handler\n    module: svc\n"
        "  image:\n    image: 1234.dkr.ecr.eu-west-1.amazonaws.com/x:1\n"
    )
    (root / "jobs").mkdir()
    (root / "pyproject.toml").write_text(
        '[project]\nname = "repo"\nversion = "1"\n'
        "[tool.lambdalayer.functions.jobs]\n"
        'source = "jobs"\nhandler = "app.run"\ntarget = "python3.12-arm64"\n'
        'requirements = ["beta"]\n'
        'layers = ["arn:aws:lambda:eu-west-1:123456789012:layer:tracing:3"]\n'
    )
    plan = run_json(capsys, *plan_args(local_index, cache_dir, root, "--json"))
    target = the_target(plan, "python3.12-arm64")
    [layer] = target["layers"]
    assert layer["functions"] == ["hello", "jobs"] and layer["packages"][0]["name"] == "beta"
    jobs = by_name(target["functions"])["jobs"]
    assert (
        jobs["existing_layers"] == 1
        and "1 layer it already names counts against the five" in jobs["notes"][0]
    )
    assert plan["skipped"] == [{"function": "image", "reason": plan["skipped"][0]["reason"]}]
    assert "container-image" in plan["skipped"][0]["reason"]


def test_plan_matrix_is_one_job_per_target_without_resolving(tmp_path, capsys):
    project = sam_project(
        tmp_path / "repo",
        {"A": "alpha\n", "B": "alpha\n", "C": "alpha\n"},
        {"C": "      Runtime: python3.11\n      Architectures: [x86_64]\n"},
    )
    # no index at all: --matrix reads the deploy files only
    document = run_json(capsys, "plan", "--project", str(project), "--matrix")
    assert document == {
        "include": [
            {
                "target": "python3.11-x86_64",
                "runtime": "python3.11",
                "arch": "x86_64",
                "functions": "C",
            },
            {
                "target": "python3.12-arm64",
                "runtime": "python3.12",
                "arch": "arm64",
                "functions": "A,B",
            },
        ]
    }


def test_a_function_defined_twice_or_nowhere_is_one_error(tmp_path, capsys):
    code, _, err = run_cli(capsys, "plan", "--project", str(tmp_path), "--matrix")
    assert code == 1 and err.startswith("error: no functions found") and "hint:" in err
    project = sam_project(tmp_path / "repo", {"A": "alpha\n"})
    (project / "pyproject.toml").write_text(
        '[tool.lambdalayer.functions.A]\nsource = "a"\nrequirements = ["beta"]\n'
    )
    code, _, err = run_cli(capsys, "plan", "--project", str(project), "--matrix")
    assert code == 1 and "function A is defined twice" in err


# --- the choice itself, on sizes given --------------------------------------------------


def _needs(function: str, names: str, existing: int = 0) -> Needs:
    # a distribution's size depends on its name only, as a wheel's does on its version
    packages = {name: Sized("1.0", 1000 * len(name) + ord(name[-1]), 500) for name in names.split()}
    return Needs(function, packages, 10, existing)


def test_quota_pressure_keeps_every_function_within_five_layers_counting_its_own():
    # f1 shares a different distribution with each of f2..f8: seven candidate layers
    needs = [_needs("f1", " ".join(f"p{i}" for i in range(2, 9)), existing=2)]
    needs += [_needs(f"f{i}", f"p{i}") for i in range(2, 9)]
    plan = share(needs)
    f1 = next(function for function in plan.functions if function.function == "f1")
    assert len(f1.layers) + f1.existing_layers == MAX_LAYERS
    # what did not fit stays in f1's own package, and those layers dissolved (one user left)
    assert len(f1.own) == 4 and len(plan.layers) == 3
    # no function has a distribution it does not need, and each needed one is somewhere
    for function in plan.functions:
        held = {
            p.name for layer in plan.layers if layer.name in function.layers for p in layer.packages
        }
        need = next(n for n in needs if n.function == function.function)
        assert held | {p.name for p in function.own} == set(need.packages)
        assert not held & {p.name for p in function.own}


def test_a_function_over_the_unzipped_quota_is_reported_whatever_the_layers():
    huge = Needs("big", {"blob": Sized("1", UNZIPPED_LIMIT, 1), "x": Sized("1", 10, 1)})
    small = Needs("small", {"x": Sized("1", 10, 1)})
    plan = share([huge, small])
    assert [f.function for f in plan.functions if f.over_quota] == ["big"]


def test_a_function_with_five_layers_already_gets_no_shared_layer():
    plan = share(
        [_needs("full", "a b", existing=5), _needs("other", "a b"), _needs("third", "a b")]
    )
    full = next(function for function in plan.functions if function.function == "full")
    assert full.layers == () and {p.name for p in full.own} == {"a", "b"}
    assert [layer.functions for layer in plan.layers] == [("other", "third")]


@pytest.mark.parametrize(
    ("existing", "said"),
    [
        (1, "the 1 layer it already names counts against the five; its bytes are"),
        (2, "the 2 layers it already names count against the five; their bytes are"),
    ],
)
def test_the_layers_a_function_already_names_are_counted_in_english(existing, said):
    """plan printed 'the 1 layer(s) it already names count against the five' (a new
    user's review)."""
    plan = share([_needs("legacy", "a", existing=existing), _needs("other", "a")])
    legacy = next(function for function in plan.functions if function.function == "legacy")
    assert legacy.notes == (f"{said} not known here and not in its total",)


@pytest.mark.parametrize("order", [0, 1])
def test_the_choice_does_not_depend_on_the_order_functions_are_read(order):
    needs = [_needs("a", "x y z"), _needs("b", "x y"), _needs("c", "y z"), _needs("d", "z")]
    assert share(needs if order else list(reversed(needs))) == share(needs)


# --- build --all ---------------------------------------------------------------------------


def build_all_args(index: LocalIndex, cache_dir: Path, project: Path, out: Path, *extra: str):
    return [
        "build",
        "--all",
        "--bytecode",
        "none",
        "--index-url",
        index.url,
        "--cache-dir",
        str(cache_dir),
        "--project",
        str(project),
        "--output-dir",
        str(out),
        "--json",
        *extra,
    ]


def _names(path: Path) -> set[str]:
    with zipfile.ZipFile(path) as archive:
        return {name.split("/")[0] if "/" in name else name for name in archive.namelist()}


def test_build_all_builds_each_layer_once_and_each_function_with_only_its_own(
    local_index, cache_dir, tmp_path, capsys
):
    project = sam_project(
        tmp_path / "repo",
        {"Orders": "alpha\n", "Billing": "beta\n", "Legacy": "needs-old-beta\n"},
        {"Legacy": "      Layers:\n        - arn:aws:lambda:eu-west-1:123456789012:layer:x:1\n"},
    )
    out = tmp_path / "dist"
    code, stdout, _ = run_cli(capsys, *build_all_args(local_index, cache_dir, project, out))
    result = json.loads(stdout)
    assert code == 0, [row.get("error") for row in result.get("artefacts", [result])]
    rows = {(row["kind"], row["name"]): row for row in result["artefacts"]}
    assert [row["status"] for row in rows.values()] == ["built"] * 4
    [layer_key] = [key for key in rows if key[0] == "layer"]
    layer_zip = Path(rows[layer_key]["zip"])
    assert layer_zip.parent == out / "layers" and layer_zip.name.endswith("-python3.12-arm64.zip")
    with zipfile.ZipFile(layer_zip) as archive:
        assert any(
            n.startswith("python/lib/python3.12/site-packages/beta/") for n in archive.namelist()
        )
    orders = _names(Path(rows[("function", "Orders")]["zip"]))
    assert {"alpha", "app.py"} <= orders and "beta" not in orders  # beta is in the layer
    billing = _names(Path(rows[("function", "Billing")]["zip"]))
    assert "beta" not in billing and "app.py" in billing
    # what deploy tools read: each function's layers and code hash
    sam = json.loads((out / "deploy" / "sam.json").read_text())
    legacy = sam["Resources"]["Legacy"]["Properties"]
    assert legacy["Layers"][1] == "arn:aws:lambda:eu-west-1:123456789012:layer:x:1"
    assert sam["Resources"][legacy["Layers"][0]["Ref"]]["Type"] == "AWS::Serverless::LayerVersion"
    tfvars = json.loads((out / "deploy" / "terraform.auto.tfvars.json").read_text())
    orders_tf = tfvars["lambdalayer_functions"]["Orders"]
    digest = hashlib.sha256(Path(orders_tf["zip"]).read_bytes()).digest()
    assert orders_tf["source_code_hash"] == base64.b64encode(digest).decode()
    assert orders_tf["layers"] == [f"{layer_key[1]}-python3.12-arm64"]
    cdk = json.loads((out / "deploy" / "cdk.context.json").read_text())
    assert cdk["lambdalayer"]["functions"] == tfvars["lambdalayer_functions"]


def _git(project: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(project), *args],
        check=True,
        capture_output=True,
        env={
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@t",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t",
            "PATH": "/usr/bin:/bin",
            "HOME": str(project),
        },
    )


def test_changed_since_rebuilds_only_what_the_commit_range_affects(
    local_index, cache_dir, tmp_path, capsys
):
    project = sam_project(
        tmp_path / "repo", {"A": "alpha\n", "B": "alpha\n", "C": "datapkg\n", "D": "datapkg\n"}
    )
    _git(project, "init", "-q")
    _git(project, "add", ".")
    _git(project, "commit", "-qm", "one")
    out = tmp_path / "dist"
    first = run_json(capsys, *build_all_args(local_index, cache_dir, project, out))
    assert {row["status"] for row in first["artefacts"]} == {"built"}
    (project / "a" / "app.py").write_text("def handler(event, context):\n    return 2\n")
    again = run_json(
        capsys, *build_all_args(local_index, cache_dir, project, out, "--changed-since", "HEAD")
    )
    status = {(row["kind"], row["name"]): row["status"] for row in again["artefacts"]}
    assert status.pop(("function", "A")) == "built"
    assert set(status.values()) == {"unchanged"}
    # a changed requirement changes the plan: C and D's layer and both functions are rebuilt
    (project / "d" / "requirements.txt").write_text("datapkg\nstoredpkg\n")
    third = run_json(
        capsys, *build_all_args(local_index, cache_dir, project, out, "--changed-since", "HEAD")
    )
    status = {(row["kind"], row["name"]): row["status"] for row in third["artefacts"]}
    assert status[("function", "D")] == "built" and status[("function", "B")] == "unchanged"
    code, _, err = run_cli(
        capsys,
        *build_all_args(local_index, cache_dir, project, out, "--changed-since", "nope")[:-3],
        "--changed-since",
        "no-such-ref",
    )
    assert code == 1 and "error: git in" in err


def test_build_all_refuses_inputs_of_a_single_build(tmp_path, capsys):
    project = sam_project(tmp_path / "repo", {"A": "alpha\n"})
    code, _, err = run_cli(capsys, "build", "--all", "requests", "--project", str(project))
    assert code == 1 and "PACKAGE does not mix" in err


def test_the_monorepo_recipe_fans_out_over_plan_matrix_with_the_action(
    local_index, cache_dir, tmp_path, capsys
):
    import yaml

    repo = Path(__file__).resolve().parent.parent
    workflow = yaml.safe_load((repo / "recipes" / "monorepo" / "workflow.yml").read_text())
    plan_steps = [step.get("run", "") for step in workflow["jobs"]["plan"]["steps"]]
    assert any("lambdalayer plan --matrix" in run for run in plan_steps)
    build = workflow["jobs"]["build"]
    assert build["strategy"]["matrix"] == "${{ fromJSON(needs.plan.outputs.matrix) }}"
    [action] = [
        step for step in build["steps"] if "lambdalayer/lambdalayer" in step.get("uses", "")
    ]
    assert action["with"]["all-target"] == "${{ matrix.target }}"
    assert "all-target" in yaml.safe_load((repo / "action.yml").read_text())["inputs"]
    # one job of the matrix, as the action runs it
    project = sam_project(
        tmp_path / "repo",
        {"A": "alpha\n", "B": "alpha\n", "C": "beta\n"},
        {"C": "      Runtime: python3.11\n      Architectures: [x86_64]\n"},
    )
    [_, job] = run_json(capsys, "plan", "--project", str(project), "--matrix")["include"]
    assert job["target"] == "python3.12-arm64"
    outputs = tmp_path / "outputs"
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "LAMBDALAYER_SKIP_INSTALL": "1",
        "LAMBDALAYER_CACHE_DIR": str(cache_dir),
        "UV_CACHE_DIR": os.environ.get("UV_CACHE_DIR", str(tmp_path / "uv")),
        "GITHUB_OUTPUT": str(outputs),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "INPUT_ALL_TARGET": job["target"],
        "INPUT_OUTPUT_DIR": str(tmp_path / "dist"),
        "INPUT_ARGS": f"--bytecode none --index-url {local_index.url} --project {project}",
    }
    done = subprocess.run(
        ["bash", str(repo / "scripts" / "github_action.sh")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert outputs.read_text() == f"path={tmp_path / 'dist'}/deploy\n"
    functions = sorted(p.name for p in (tmp_path / "dist" / "functions").glob("*.zip"))
    assert functions == ["A-python3.12-arm64.zip", "B-python3.12-arm64.zip"]
    assert "| function | A | built |" in (tmp_path / "summary.md").read_text()


def test_a_warm_build_all_rebuilds_nothing_and_asks_each_index_page_once(
    local_index, cache_dir, tmp_path, capsys
):
    project = sam_project(
        tmp_path / "repo",
        {"A": "alpha\n", "B": "alpha\nstoredpkg\n", "C": "alpha\ndatapkg\n", "D": "datapkg\n"},
    )
    out = tmp_path / "dist"
    first = run_json(capsys, *build_all_args(local_index, cache_dir, project, out))
    assert {row["status"] for row in first["artefacts"]} == {"built"}
    built = {path: path.read_bytes() for path in sorted(out.rglob("*.zip"))}
    seen = len(local_index.requests)
    again = run_json(capsys, *build_all_args(local_index, cache_dir, project, out))
    assert {row["status"] for row in again["artefacts"]} == {"unchanged"}
    assert {path: path.read_bytes() for path in sorted(out.rglob("*.zip"))} == built
    asked = local_index.requests[seen:]
    # five resolutions from the cache, each page asked once: alpha, beta, datapkg, storedpkg
    assert sorted(asked) == sorted(set(asked)) and len(asked) == 4
    assert (out / "deploy" / "sam.json").read_bytes()  # the deploy files are written again
    # a zip changed behind its back is built again
    zip_path = Path(next(row["zip"] for row in again["artefacts"] if row["name"] == "D"))
    zip_path.write_bytes(b"not the zip")
    third = run_json(capsys, *build_all_args(local_index, cache_dir, project, out))
    status = {row["name"]: row["status"] for row in third["artefacts"]}
    assert status.pop("D") == "built" and set(status.values()) == {"unchanged"}
    assert zip_path.read_bytes() == built[zip_path]  # built again: the same bytes


def test_a_page_asked_by_many_threads_at_once_is_asked_once(local_index):
    """Four targets' plans check the same pages at the same time: one request each."""
    import threading

    from lambdalayer.net.index import checked_once, page_unchanged, page_validator

    url, validator = page_validator(local_index.url, "alpha")
    seen = len(local_index.requests)
    start = threading.Barrier(12)
    answers: list[bool] = []

    def ask() -> None:
        start.wait()
        answers.append(page_unchanged(url, validator))

    with checked_once():
        threads = [threading.Thread(target=ask) for _ in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert answers == [True] * 12
        assert local_index.requests[seen:] == ["/simple/alpha/"]
        assert page_unchanged(url, "sha256:" + "0" * 64) is False  # another validator: asked
    assert len(local_index.requests[seen:]) == 2


def test_what_does_not_fit_is_the_group_cheapest_to_upload_again():
    # f has room for one shared layer: "text" is larger unzipped, "lib" larger zipped
    text, lib = Sized("1", 9_000_000, 300_000), Sized("1", 2_000_000, 1_500_000)
    needs = [
        Needs("f", {"text": text, "lib": lib}, existing_layers=MAX_LAYERS - 1),
        Needs("g", {"text": text}),
        Needs("h", {"lib": lib}),
    ]
    plan = share(needs)
    f = next(function for function in plan.functions if function.function == "f")
    assert [p.name for p in f.own] == ["text"]  # 0.3 MB uploaded twice, not 1.5 MB
    assert [layer.functions for layer in plan.layers] == [("f", "h")]
    assert plan.planned_zipped == 2 * text.zipped + lib.zipped


def test_build_all_writes_an_sbom_a_provenance_and_an_audit_of_every_zip(
    local_index, cache_dir, tmp_path, capsys
):
    """build --all accepted --sbom, --audit and --provenance and did none of them."""
    project = sam_project(tmp_path / "repo", {"A": "alpha\n", "B": "alpha\n"})
    out, sboms = tmp_path / "dist", tmp_path / "sboms"
    args = build_all_args(local_index, cache_dir, project, out)
    first = run_json(capsys, *args, "--sbom", str(sboms), "--audit", "--provenance")
    assert first["ok"] is True
    rows = first["artefacts"]
    assert [row["kind"] for row in rows] == ["layer", "function", "function"]
    for row in rows:
        zipped = Path(row["zip"])
        assert row["sbom"] == str(sboms / f"{zipped.stem}.cdx.json")
        assert zipped.name in Path(row["sbom"]).read_text()
        assert row["provenance"] == f"{zipped}.intoto.json" and Path(row["provenance"]).is_file()
        assert row["audit"]["verdict"] == "passed"
    layer = Path(rows[0]["zip"])
    # a function's SBOM names what its shared layer provides
    assert f"layer {layer.name}" in Path(rows[1]["sbom"]).read_text()
    # a warm run builds nothing and still describes every zip (here, as SPDX)
    code, stdout, err = run_cli(capsys, *args[:-1], "--sbom", str(sboms), "--sbom-format", "spdx")
    assert code == 0, err
    assert stdout.count("unchanged") == 3
    for row in rows:
        assert f"sbom: {sboms / Path(row['zip']).stem}.spdx.json" in err


def test_build_all_refuses_what_it_cannot_do_before_building(
    local_index, cache_dir, tmp_path, capsys
):
    project = sam_project(tmp_path / "repo", {"A": "alpha\n"})
    out = tmp_path / "dist"
    args = build_all_args(local_index, cache_dir, project, out)[:-1]  # not --json
    named = tmp_path / "one.cdx.json"
    named.write_text("the previous SBOM")
    code, _, err = run_cli(capsys, *args, "--sbom", str(named))
    assert f"error: --sbom {named} is a file, but this run builds 1 zip: one SBOM each" in err
    assert named.read_text() == "the previous SBOM" and not out.exists()
    code, _, err = run_cli(capsys, *args, "--provenance", "--changed-since", "HEAD")
    assert code == 1
    assert err.splitlines() == [
        "error: --provenance attests a build made in this run, of every zip; --changed-since"
        " leaves zips as they were or takes them from elsewhere",
        "hint: drop --changed-since to build (and attest) every zip here, or drop --provenance",
    ]
    # every flag of a single build that --all does not read is refused, never ignored
    for flag in (["--lock", "x.toml"], ["--report", "r.html"], ["--print", "sha256"],
                 ["--trim", "t.toml"], ["--no-slim"], ["--timings"], ["--layout", "python"],
                 ["--exclude-runtime-provided"], ["--memory", "512"], ["--regions", "a,b"]):  # fmt: skip
        code, _, err = run_cli(capsys, *args, *flag)
        assert code == 1 and "error: --all builds what the deploy files" in err, (flag, err)
        assert f"; {flag[0]} does not mix with it" in err, (flag, err)
    assert not out.exists()


def test_a_failed_audit_of_build_all_is_one_error_naming_each_zip(
    local_index, cache_dir, tmp_path, capsys
):
    project = sam_project(tmp_path / "repo", {"A": "oldsecure==1.0\n"})
    args = build_all_args(local_index, cache_dir, project, tmp_path / "dist")[:-1]
    code, out, err = run_cli(capsys, *args, "--audit")
    assert code == 1
    assert "VULNERABLE    oldsecure 1.0: PYSEC-2026-4242" in out
    assert [line for line in err.splitlines() if line.startswith("error:")] == [
        "error: what ships breaks the policy (fail-on any) in 1 of 1 zip:"
        " A-python3.12-arm64.zip: oldsecure 1.0: PYSEC-2026-4242"
    ]
    again = run_json(capsys, *args, "--audit", "--fail-on", "none", "--json")
    assert again["ok"] is True and again["artefacts"][0]["audit"]["verdict"] != "passed"


def test_build_all_strict_fails_an_artefact_whose_check_was_not_verified(
    local_index, cache_dir, tmp_path, capsys
):
    """build --all accepted --strict and built as if it were not given."""
    project = sam_project(tmp_path / "repo", {"A": "alpha\n"})
    args = build_all_args(local_index, cache_dir, project, tmp_path / "dist")
    assert run_json(capsys, *args)["ok"] is True  # the imports of python3.12-arm64 cannot run here
    code, out, _ = run_cli(capsys, *args, "--strict")
    [row] = json.loads(out)["artefacts"]
    assert code == 1 and row["status"] == "failed", row
    assert "strict mode wants every part" in row["error"]


def test_a_plain_build_in_a_repository_of_functions_hints_build_all(tmp_path, capsys):
    """'lambdalayer build' in a SAM repository (or one of [tool.lambdalayer.functions]) with
    nothing at its root said 'nothing to build' and hinted packages or -r (a new user's
    review): it hints 'build --all' and 'plan'; elsewhere the hint is as it was."""
    hint = "are built with 'lambdalayer build --all'; 'lambdalayer plan' shows what it builds"
    project = sam_project(tmp_path / "sam", {"Orders": "alpha\n"})
    code, _, err = run_cli(capsys, "build", "--project", str(project))
    assert code == 1 and "error: nothing to build" in err and hint in err, err
    toml = tmp_path / "toml"
    (toml / "fn").mkdir(parents=True)
    (toml / "pyproject.toml").write_text(
        '[tool.lambdalayer.functions.fn]\nsource = "fn"\nrequirements = ["alpha"]\n'
        'target = "python3.12-x86_64"\n'
    )
    code, _, err = run_cli(capsys, "build", "--project", str(toml))
    assert code == 1 and hint in err, err
    (tmp_path / "plain").mkdir()
    code, _, err = run_cli(capsys, "build", "--project", str(tmp_path / "plain"))
    assert code == 1 and hint not in err and "hint: name packages" in err, err


def test_plan_text_uses_the_binary_units_of_build_and_claims_no_saving_it_lacks(
    local_index, cache_dir, tmp_path, capsys
):
    """``plan`` printed decimal MB beside build's MiB, and for one function "2.8 MB
    instead of 2.8 MB (saves 0 bytes)"."""
    shared = sam_project(tmp_path / "shared", {"Orders": "alpha\nbeta\n", "Billing": "beta\n"})
    code, out, _ = run_cli(capsys, *plan_args(local_index, cache_dir, shared))
    assert code == 0, out
    assert " MB" not in out and "of 250.0 MiB," in out, out
    [upload] = [line for line in out.splitlines() if "to upload:" in line]
    assert "with one zip per function (saves " in upload and "saves 0" not in upload, upload
    alone = sam_project(tmp_path / "alone", {"Orders": "alpha\n"})
    code, out, _ = run_cli(capsys, *plan_args(local_index, cache_dir, alone))
    assert code == 0, out
    [upload] = [line for line in out.splitlines() if "to upload:" in line]
    assert "instead of" not in upload and "saves" not in upload, upload
    assert re.fullmatch(r"  to upload: [0-9.]+ (B|KiB) \(estimated from the wheels\)", upload), (
        upload
    )
