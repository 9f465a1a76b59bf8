"""The functions a repository deploys, read from SAM, CloudFormation (cdk.out) and
serverless.yml — one reader for init and the many-functions plan — and targets as pairs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cliutil import run_cli, run_json
from hostilecases import generated
from hypothesis import given
from hypothesis import strategies as st

from lambdalayer.errors import InputError
from lambdalayer.inputs.deploy import find_deploy_files, read_deploy_file
from lambdalayer.inputs.scaffold import detect_targets

SAM = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Py:
    Type: String
    Default: python3.11
  Unknown:
    Type: String
Globals:
  Function:
    Runtime: python3.12
    Architectures: [arm64]
    Layers:
      - !Ref DepsLayer
Resources:
  DepsLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layer/
      CompatibleRuntimes: [python3.12]
  Api:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: api/
      Handler: app.handler
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: worker/
      Handler: jobs.run
      Runtime: !Ref Py
      Architectures: [x86_64]
      Layers:
        - arn:aws:lambda:eu-west-1:123456789012:layer:shared:3
  Odd:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: odd/
      Handler: x.y
      Runtime: !Ref Unknown
  Image:
    Type: AWS::Serverless::Function
    Properties:
      PackageType: Image
      ImageUri: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/fn:latest
  Node:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: node/
      Handler: index.handler
      Runtime: nodejs20.x
"""


def _sam_project(root: Path) -> Path:
    root.mkdir()
    (root / "template.yaml").write_text(SAM)
    for name in ("api", "worker", "odd", "layer"):
        (root / name).mkdir()
    (root / "api" / "requirements.txt").write_text("beta==1.0\n")
    return root


def test_a_sam_template_gives_each_function_its_own_runtime_cpu_and_layers(tmp_path: Path):
    project = _sam_project(tmp_path / "p")
    deploy = read_deploy_file(project / "template.yaml")
    functions = {function.name: function for function in deploy.functions}
    api, worker, odd = functions["Api"], functions["Worker"], functions["Odd"]
    assert (api.runtime, api.arch, api.handler) == ("python3.12", "arm64", "app.handler")
    assert api.code_dir == project / "api" and api.requirements == project / "api/requirements.txt"
    assert api.layers == ("layer in this template: DepsLayer",)
    assert (worker.runtime, worker.arch) == ("python3.11", "x86_64")  # its own, and a default
    assert worker.layers == ("arn:aws:lambda:eu-west-1:123456789012:layer:shared:3",)
    assert odd.runtime is None and odd.unresolved == (
        'Odd.Runtime: {"Ref": "Unknown"} (not static)',
    )
    assert functions["Image"].image and not functions["Node"].is_python
    assert deploy.targets() == [("python3.12", "arm64"), ("python3.11", "x86_64")]
    [layer] = deploy.layers
    assert (layer.name, layer.content_dir, layer.runtimes) == (
        "DepsLayer",
        project / "layer",
        ("python3.12",),
    )


def test_a_cdk_synthesized_template_names_the_staged_code(tmp_path: Path):
    cdk_out = tmp_path / "cdk.out"
    asset = cdk_out / "asset.abc123"
    asset.mkdir(parents=True)
    (asset / "requirements.txt").write_text("beta==1.0\n")
    template = {
        "Resources": {
            "HandlerServiceRole": {"Type": "AWS::IAM::Role", "Properties": {}},
            "Handler886CB40B": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Code": {"S3Bucket": {"Fn::Sub": "cdk-${AWS::AccountId}"}, "S3Key": "x.zip"},
                    "Handler": "index.handler",
                    "Runtime": "python3.13",
                    "Architectures": ["arm64"],
                    "Layers": [{"Ref": "DepsLayerABC"}],
                },
                "Metadata": {"aws:asset:path": "asset.abc123", "aws:asset:property": "Code"},
            },
            "DepsLayerABC": {"Type": "AWS::Lambda::LayerVersion", "Properties": {}},
        }
    }
    (cdk_out / "App.template.json").write_text(json.dumps(template))
    [path] = find_deploy_files(tmp_path)
    [function] = read_deploy_file(path).functions
    assert (function.runtime, function.arch) == ("python3.13", "arm64")
    assert function.code_dir == asset and function.requirements == asset / "requirements.txt"
    assert function.layers == ("layer in this template: DepsLayerABC",)


def test_serverless_functions_take_the_providers_defaults_and_self_variables(tmp_path: Path):
    (tmp_path / "serverless.yml").write_text(
        "service: svc\n"
        "custom:\n  py: python3.11\n"
        "provider:\n  name: aws\n  runtime: python3.12\n  architecture: arm64\n"
        "functions:\n"
        "  hello:\n    handler: handler.hello\n"
        "  legacy:\n    handler: old.main\n    runtime: ${self:custom.py}\n"
        "    architecture: x86_64\n    module: legacy\n"
        "  envy:\n    handler: e.h\n    runtime: ${env:PYTHON_RUNTIME}\n"
    )
    (tmp_path / "legacy").mkdir()
    deploy = read_deploy_file(tmp_path / "serverless.yml")
    functions = {function.name: function for function in deploy.functions}
    assert (functions["hello"].runtime, functions["hello"].arch) == ("python3.12", "arm64")
    assert (functions["legacy"].runtime, functions["legacy"].arch) == ("python3.11", "x86_64")
    assert functions["legacy"].code_dir == tmp_path / "legacy"
    assert functions["envy"].runtime is None
    assert functions["envy"].unresolved == ("envy.runtime: ${env:PYTHON_RUNTIME} (not static)",)
    assert deploy.targets() == [("python3.12", "arm64"), ("python3.11", "x86_64")]


def test_init_writes_every_distinct_target_and_build_builds_exactly_those(
    local_index, tmp_path: Path, capsys
):
    project = _sam_project(tmp_path / "p")
    (project / "requirements.txt").write_text("beta==1.0\n")
    code, _, err = run_cli(capsys, "init", "--project", str(project))
    assert code == 0, err
    text = (project / "lambdalayer.toml").read_text()
    assert 'targets = ["python3.12-arm64", "python3.11-x86_64"]' in text
    assert "runtime =" not in text  # never one function's runtime with another's CPU
    assert "Odd.Runtime" in err  # what could not be resolved is said
    document = run_json(
        capsys,
        "build",
        "--project",
        str(project),
        "--bytecode",
        "none",
        "--no-check",
        "--index-url",
        local_index.url,
        "--cache-dir",
        str(tmp_path / "c"),
        "--json",
    )
    assert [row["target"]["name"] for row in document["builds"]] == [
        "python3.12-arm64",
        "python3.11-x86_64",
    ]


UNRESOLVED = """\
Parameters:
  Arch:
    Type: String
Resources:
  ApiFn:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Architectures: [arm64]
  WorkerFn:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: {runtime}
      Architectures: [!Ref Arch]
"""


@pytest.mark.parametrize("runtime", ["python3.11", '!Sub "python3.11"'])
def test_a_function_whose_cpu_is_not_static_is_left_out_with_a_warning_never_guessed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], runtime: str
):
    """A new user's template: ``!Ref Arch`` with no default gave WorkerFn x86_64 silently, and
    a ``!Sub`` without variables dropped it with only a note. A ``!Sub`` of a plain string is
    that string; a CPU that is not static is never guessed: the function is named as left out."""
    (tmp_path / "requirements.txt").write_text("alpha\n")
    (tmp_path / "template.yaml").write_text(UNRESOLVED.format(runtime=runtime))
    deploy = read_deploy_file(tmp_path / "template.yaml")
    worker = next(function for function in deploy.functions if function.name == "WorkerFn")
    assert worker.runtime == "python3.11" and worker.arch is None
    assert deploy.targets() == [("python3.12", "arm64")]
    assert [function.name for function in deploy.left_out()] == ["WorkerFn"]
    code, _, err = run_cli(capsys, "init", "--project", str(tmp_path))
    assert code == 0, err
    assert "warning: template.yaml: WorkerFn is left out of the targets" in err
    assert 'Ref": "Arch"' in err and "hint: add its target" in err
    text = (tmp_path / "lambdalayer.toml").read_text()
    assert "python3.12" in text and "x86_64" not in text and "python3.11" not in text


def test_a_template_whose_only_function_is_not_static_asks_for_the_target(tmp_path: Path):
    (tmp_path / "template.yaml").write_text(
        "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n"
        "      Runtime: !Ref Py\n"
    )
    detected = detect_targets(tmp_path)
    assert detected.targets == () and detected.warnings
    assert "Fn is left out of the targets" in detected.warnings[0]


def test_target_flags_name_pairs_and_refuse_to_mix_with_runtime_and_arch(
    local_index, tmp_path: Path, capsys
):
    common = ["beta==1.0", "--index-url", local_index.url, "--cache-dir", str(tmp_path / "c")]
    common += ["--bytecode", "none", "--no-check", "--output-dir", str(tmp_path / "out")]
    document = run_json(
        capsys, "build", *common, "--target", "3.12-aarch64,python3.11-x86_64", "--json"
    )
    assert sorted(row["target"]["name"] for row in document["builds"]) == [
        "python3.11-x86_64",
        "python3.12-arm64",
    ]
    code, _, err = run_cli(
        capsys, "build", *common, "--target", "python3.12-arm64", "--arch", "x86_64"
    )
    assert code == 1 and "give one or the other" in err
    code, _, err = run_cli(capsys, "build", *common, "--target", "python3.12")
    assert code == 1 and "is not a target" in err


def test_configured_targets_and_runtimes_do_not_mix(tmp_path: Path):
    from lambdalayer.inputs.config import load_config

    (tmp_path / "lambdalayer.toml").write_text(
        'targets = ["python3.12-arm64"]\nruntime = "python3.12"\n'
    )
    with pytest.raises(InputError, match="give one or the other"):
        load_config(tmp_path)
    (tmp_path / "lambdalayer.toml").write_text('targets = ["py312-amd64", "python3.12-x86_64"]\n')
    config = load_config(tmp_path)
    assert config is not None and config.targets == ("python3.12-x86_64",)


def test_a_cdk_app_naming_several_runtimes_asks_for_cdk_synth(tmp_path: Path):
    (tmp_path / "app.py").write_text(
        "a = Function(runtime=Runtime.PYTHON_3_12, architecture=Architecture.ARM_64)\n"
        "b = Function(runtime=Runtime.PYTHON_3_11, architecture=Architecture.X86_64)\n"
    )
    detected = detect_targets(tmp_path)
    assert detected.targets == () and "run cdk synth" in detected.notes[0]


# --- hostile deploy files ----------------------------------------------------------------

LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)},"
    f" *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
    for i in range(8)
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (LAUGHS + "Resources: {}\n", "expands to over 200,000 values"),
        ("[" * 5000 + "]" * 5000, "not a readable deploy file"),
        ("- a list\n", "not a deploy file"),
        ("Resources: [\n", "not a readable deploy file"),
        ("key: !Unknown tag\n", "not a readable deploy file"),
        ("just: text\n", "neither a CloudFormation/SAM template"),
    ],
)
def test_a_hostile_deploy_file_is_one_error(tmp_path: Path, text: str, message: str):
    path = tmp_path / "template.yaml"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        read_deploy_file(path)


def test_a_huge_or_binary_deploy_file_is_one_error(tmp_path: Path):
    path = tmp_path / "template.yaml"
    path.write_bytes(b"Resources:\n" + b"#" * (5 * 1024 * 1024))
    with pytest.raises(InputError, match="over"):
        read_deploy_file(path)
    path.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(InputError, match="not UTF-8"):
        read_deploy_file(path)


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=20),
    st.sampled_from(["python3.12", "arm64", "x86_64", "!Ref", "${self:x}", "${env:Y}"]),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "Type",
                    "Properties",
                    "Runtime",
                    "Architectures",
                    "Layers",
                    "CodeUri",
                    "Handler",
                    "Globals",
                    "Function",
                    "Ref",
                    "Fn::If",
                    "Fn::FindInMap",
                    "PackageType",
                    "Metadata",
                    "functions",
                    "provider",
                    "runtime",
                    "architecture",
                    "module",
                    "layers",
                    "service",
                ]
            ),
            children,
            max_size=5,
        )
    ),
    max_leaves=30,
)


@generated(300)
@given(
    document=st.dictionaries(
        st.sampled_from(
            ["Resources", "Globals", "Parameters", "Mappings", "service", "functions", "provider"]
        ),
        _VALUES,
        max_size=5,
    ),
    as_yaml=st.booleans(),
)
def test_generated_deploy_files_are_read_or_refused_never_a_crash(
    tmp_path_factory, document, as_yaml
):
    import yaml

    folder = tmp_path_factory.mktemp("deploy")
    path = folder / ("template.yaml" if as_yaml else "template.json")
    path.write_text(yaml.safe_dump(document) if as_yaml else json.dumps(document))
    try:
        deploy = read_deploy_file(path)
    except InputError as error:
        assert error.message and "\n" not in error.message
        return
    for function in deploy.functions:  # every field has the type it says
        assert function.runtime is None or isinstance(function.runtime, str)
        assert function.arch in (None, "x86_64", "arm64")
        assert all(isinstance(layer, str) for layer in function.layers)
    detect_targets(folder)  # never raises for what it reads
