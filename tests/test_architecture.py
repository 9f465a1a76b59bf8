"""The shape the code keeps (issue #29): following a request through the library climbs back
to a higher layer at most :data:`MOST_CLIMBS` times (see :mod:`climbing` for the measure),
for a layer's build, an image's build and an invocation."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from climbing import climbing, layer_ranks, rank_of
from indexserver import LocalIndex

from lambdalayer.builder import BuildRequest, build
from lambdalayer.container import ImageOutputs, ImageRequest, build_image
from lambdalayer.inputs.requirements import Requirements
from lambdalayer.interpreters import find_interpreter
from lambdalayer.invoke import InvokeRequest, invoke
from lambdalayer.layer.output import ZipOutput
from lambdalayer.net.index import IndexConfig
from lambdalayer.prepare import BuildRecipe, FunctionCode
from lambdalayer.resolve.stage import Resolve
from lambdalayer.targets import Layout, get_target

MOST_CLIMBS = 10
needs_312 = pytest.mark.skipif(find_interpreter("3.12") is None, reason="no CPython 3.12 here")


def test_every_module_of_the_pipeline_has_a_layer_and_the_measure_sees_a_climb():
    ranks = layer_ranks()
    assert rank_of("lambdalayer.cli.main", ranks) == 0
    assert rank_of("lambdalayer.errors", ranks) is None  # the core: not counted
    # Going down a layer and coming back up is a climb (what the measure exists to count);
    # a value made (a dataclass's __init__) is no module entered.
    from lambdalayer.builder.plan import lock_name
    from lambdalayer.net.http import redact
    from lambdalayer.net.index import IndexConfig

    def down_and_up() -> None:
        IndexConfig()
        redact("https://user:secret@index.example/simple")
        lock_name("core", get_target("python3.12"))

    _, followed = climbing(down_and_up)
    assert followed.climbs == {("lambdalayer.net.http", "lambdalayer.builder.plan")}
    assert "lambdalayer.net.index" not in followed.modules


@needs_312
def test_a_build_climbs_back_at_most_ten_times(local_index: LocalIndex, tmp_path: Path):
    request = BuildRequest(
        get_target("python3.12", "x86_64"),
        Resolve(Requirements(specifiers=("alpha", "nativepkg")), IndexConfig(local_index.url)),
        ZipOutput(tmp_path / "layer.zip"),
        cache_dir=tmp_path / "cache",
    )
    result, followed = climbing(lambda: build(request))
    assert result.check_report is not None and result.check_report.ok
    assert len(followed.modules) > 20  # the request really went through the stages
    assert len(followed.climbs) <= MOST_CLIMBS, followed.describe()


@needs_312
def test_an_image_build_climbs_back_at_most_ten_times(
    local_index: LocalIndex, standin_layout: Path, tmp_path: Path
):
    code = tmp_path / "src"
    code.mkdir()
    (code / "app.py").write_text("def handler(event, context):\n    return 1\n")
    request = ImageRequest(
        get_target("python3.12", "x86_64"),
        Resolve(Requirements(specifiers=("alpha",)), IndexConfig(local_index.url)),
        ImageOutputs(archive=tmp_path / "image.tar", lock=tmp_path / "pylock.toml"),
        BuildRecipe(Layout.IMAGE, function=FunctionCode(code, "app.handler")),
        base=str(standin_layout),
        cache_dir=tmp_path / "cache",
    )
    result, followed = climbing(lambda: build_image(request))
    assert result.report is not None and result.report.ok
    assert len(followed.climbs) <= MOST_CLIMBS, followed.describe()


@pytest.mark.network  # AWS's runtime interface client, from the public index
@needs_312
@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")
def test_an_invocation_climbs_back_at_most_ten_times(tmp_path: Path):
    code = tmp_path / "src"
    code.mkdir()
    (code / "app.py").write_text("def handler(event, context):\n    return {'ok': True}\n")
    request = InvokeRequest("app.handler", get_target("python3.12"), code, cache_dir=tmp_path / "c")
    invoke(request, b"{}", log=lambda _line: None)  # the runtime's packages prepared first
    report, followed = climbing(lambda: invoke(request, b"{}", log=lambda _line: None))
    assert report.ok and json.loads(report.invocations[0].payload) == {"ok": True}
    assert len(followed.climbs) <= MOST_CLIMBS, followed.describe()
