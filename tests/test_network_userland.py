"""Lambda's userland with real packages from the public index (marker ``network``).

opencv-python is the most reported layer failure on Lambda (``libGL.so.1: cannot open
shared object file``); the static check must catch it for both CPUs, and the headless
variant must pass. pandas must import inside the stand-in images of both CPUs.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cliutil import run_cli

from lambdalayer.check.request import CheckRequest, ImportOptions
from lambdalayer.check.rules import check_zip
from lambdalayer.targets import get_target

pytestmark = pytest.mark.network
needs_bwrap = pytest.mark.skipif(
    shutil.which("bwrap") is None, reason="bubblewrap is not installed"
)
needs_qemu = pytest.mark.skipif(
    shutil.which("qemu-aarch64-static") is None, reason="qemu-user-static is not installed"
)


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("network-cache")


@pytest.mark.parametrize("arch", ["x86_64", "arm64"])
def test_opencv_python_fails_naming_libgl_and_the_chain_and_headless_passes(
    arch, shared_cache, tmp_path, capsys
):
    out = tmp_path / "cv.zip"
    code, _, err = run_cli(
        capsys,
        "build",
        "opencv-python",
        "--runtime",
        "python3.12",
        "--arch",
        arch,
        "--cache-dir",
        str(shared_cache),
        "-o",
        str(out),
        "--bytecode",
        "none",
    )
    assert code == 1
    assert "needs libGL.so.1, which python3.12 (Amazon Linux 2023" in err
    assert "cv2/cv2.abi3.so → opencv_python.libs/libQt5Gui-" in err
    assert "fix: use opencv-python-headless instead of opencv-python" in err
    assert not out.exists()
    headless = tmp_path / "cvh.zip"
    code, _, err = run_cli(
        capsys,
        "build",
        "opencv-python-headless",
        "--runtime",
        "python3.12",
        "--arch",
        arch,
        "--cache-dir",
        str(shared_cache),
        "-o",
        str(headless),
        "--bytecode",
        "none",
    )
    assert code == 0, err
    report = check_zip(headless, CheckRequest(get_target("python3.12", arch), imports=None))
    assert not [finding for finding in report.findings if finding.kind == "library"]


@needs_bwrap
def test_pandas_imports_inside_the_x86_64_stand_in(x86_image, shared_cache, tmp_path, capsys):
    layer = tmp_path / "pandas.zip"
    code, _, err = run_cli(
        capsys,
        "build",
        "pandas",
        "--runtime",
        "python3.12",
        "--cache-dir",
        str(shared_cache),
        "-o",
        str(layer),
        "--no-check",
    )
    assert code == 0, err
    report = check_zip(
        layer, CheckRequest(get_target("python3.12"), imports=ImportOptions(image=x86_image))
    )
    assert report.ok, report.findings
    assert {result.module for result in report.imports} >= {"pandas", "numpy"}
    assert all(result.ok for result in report.imports)


@needs_bwrap
@needs_qemu
def test_pandas_imports_inside_the_arm64_stand_in_under_qemu(
    arm_image, shared_cache, tmp_path, capsys
):
    layer = tmp_path / "pandas-arm.zip"
    code, _, err = run_cli(
        capsys,
        "build",
        "pandas",
        "--runtime",
        "python3.11",
        "--arch",
        "arm64",
        "--cache-dir",
        str(shared_cache),
        "-o",
        str(layer),
        "--no-check",
    )
    assert code == 0, err
    report = check_zip(
        layer,
        CheckRequest(get_target("python3.11", "arm64"), imports=ImportOptions(image=arm_image)),
    )
    assert report.ok, report.findings
    assert all(result.ok for result in report.imports) and report.imports
    assert report.imports_ran_in is not None and "qemu-aarch64-static" in report.imports_ran_in


@needs_bwrap
@needs_qemu
@pytest.mark.skipif(shutil.which("llvm-strip") is None, reason="llvm-strip is not installed")
def test_a_strip_that_breaks_aarch64_alignment_is_not_used(
    arm_image, shared_cache, tmp_path, capsys
):
    # llvm-strip 14 rewrites numpy's 64 KiB-aligned aarch64 objects so that the loader
    # refuses them; the build must notice and keep those files as the wheel ships them.
    layer = tmp_path / "numpy-arm.zip"
    code, _, err = run_cli(
        capsys,
        "build",
        "numpy",
        "--runtime",
        "python3.11",
        "--arch",
        "arm64",
        "--cache-dir",
        str(shared_cache),
        "-o",
        str(layer),
        "--no-check",
        "--strip-program",
        "llvm-strip",
    )
    assert code == 0, err
    assert "llvm-strip left" in err and "kept unstripped" in err
    report = check_zip(
        layer,
        CheckRequest(get_target("python3.11", "arm64"), imports=ImportOptions(image=arm_image)),
    )
    assert report.ok, report.findings
    assert [result.ok for result in report.imports] == [True]
