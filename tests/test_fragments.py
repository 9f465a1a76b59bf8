"""Issue 12: wheels become cached fragments; resolutions and check reports are reused.

Every build here is real (local index, uv, the cache on disk); what is asserted is what the
cache did (fragments computed, uv runs, cached reports) and that the bytes never depend on it.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from cliutil import run_cli
from indexserver import LocalIndex
from wheelmaker import make_wheel

import lambdalayer.cache.keys as keys_module
from lambdalayer.builder import BuildRequest, build
from lambdalayer.inputs.requirements import gather
from lambdalayer.interpreters import find_interpreter
from lambdalayer.layer.output import ZipOutput
from lambdalayer.net.index import IndexConfig
from lambdalayer.resolve.stage import Resolve
from lambdalayer.targets import get_target

PACKAGES = ("alpha", "fatpkg", "nativepkg", "datapkg")


def build_json(capsys, index: LocalIndex, cache: Path, out: Path, *extra: str) -> dict[str, object]:  # type: ignore[no-untyped-def]
    runtime = [] if "--runtime" in extra else ["--runtime", "python3.11"]
    code, stdout, err = run_cli(
        capsys,
        "build",
        "--index-url",
        index.url,
        "--cache-dir",
        str(cache),
        "-o",
        str(out),
        *runtime,
        "--json",
        *extra,
    )
    assert code == 0, err
    result: dict[str, object] = json.loads(stdout)
    return result


def fragment_dirs(cache: Path) -> list[Path]:
    return sorted(path.parent for path in (cache / "fragments").glob("*/*/facts.json"))


def test_a_rebuild_computes_no_fragment_and_gives_the_same_bytes(
    local_index, cache_dir, tmp_path, capsys
):
    first = build_json(capsys, local_index, cache_dir, tmp_path / "a.zip", *PACKAGES)
    assert first["fragments_computed"] == 5  # alpha, beta, fatpkg, nativepkg, datapkg
    second = build_json(capsys, local_index, cache_dir, tmp_path / "b.zip", *PACKAGES)
    assert second["fragments_computed"] == 0
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    assert second["sha256"] == first["sha256"]
    assert set(second["timings"]) >= {"resolve", "fetch", "fragments", "archive", "check"}  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "change",
    [
        ("--skip-rule", "tests"),
        ("--runtime", "python3.12"),
        ("--layout", "python"),
        ("--bytecode", "none"),
    ],
)
def test_a_changed_rule_target_layout_or_bytecode_computes_new_fragments(
    local_index, cache_dir, tmp_path, capsys, change
):
    build_json(capsys, local_index, cache_dir, tmp_path / "a.zip", "fatpkg")
    changed = build_json(capsys, local_index, cache_dir, tmp_path / "b.zip", "fatpkg", *change)
    assert changed["fragments_computed"] == 1
    assert (tmp_path / "a.zip").read_bytes() != (tmp_path / "b.zip").read_bytes()


def test_another_tool_version_computes_new_fragments(
    local_index, cache_dir, tmp_path, capsys, monkeypatch
):
    build_json(capsys, local_index, cache_dir, tmp_path / "a.zip", "fatpkg")
    monkeypatch.setattr(keys_module, "tool_identity", lambda: "another version of lambdalayer")
    again = build_json(capsys, local_index, cache_dir, tmp_path / "b.zip", "fatpkg")
    assert again["fragments_computed"] == 1
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()


@pytest.mark.parametrize(
    "damage", ["truncate-zip", "flip-zip-byte", "drop-tree-file", "garble-facts"]
)
def test_a_damaged_fragment_is_computed_again(local_index, cache_dir, tmp_path, capsys, damage):
    build_json(capsys, local_index, cache_dir, tmp_path / "a.zip", "fatpkg", "--bytecode", "none")
    [fragment] = fragment_dirs(cache_dir)
    if damage == "truncate-zip":
        data = (fragment / "layer.zip").read_bytes()
        (fragment / "layer.zip").write_bytes(data[: len(data) // 2])
    elif damage == "flip-zip-byte":
        data = bytearray((fragment / "layer.zip").read_bytes())
        data[40] ^= 0xFF
        (fragment / "layer.zip").write_bytes(bytes(data))
    elif damage == "drop-tree-file":
        victim = next(path for path in (fragment / "tree").rglob("*.py"))
        victim.parent.chmod(0o755)
        victim.unlink()
    else:
        (fragment / "facts.json").write_text("{ not json")
    again = build_json(
        capsys, local_index, cache_dir, tmp_path / "b.zip", "fatpkg", "--bytecode", "none"
    )
    assert again["fragments_computed"] == 1
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()


def test_one_new_requirement_computes_one_fragment_and_matches_a_build_from_scratch(
    local_index, cache_dir, tmp_path, capsys
):
    build_json(capsys, local_index, cache_dir, tmp_path / "a.zip", *PACKAGES)
    partial = build_json(capsys, local_index, cache_dir, tmp_path / "b.zip", *PACKAGES, "storedpkg")
    assert partial["fragments_computed"] == 1
    build_json(
        capsys, local_index, tmp_path / "fresh-cache", tmp_path / "c.zip", *PACKAGES, "storedpkg"
    )
    assert (tmp_path / "b.zip").read_bytes() == (tmp_path / "c.zip").read_bytes()


def test_two_builds_sharing_a_cache_at_once(local_index, cache_dir, tmp_path):
    requirements = gather(list(PACKAGES), []).requirements
    outputs = [tmp_path / "one.zip", tmp_path / "two.zip"]
    errors: list[BaseException] = []

    def one(out: Path) -> None:
        try:
            source = Resolve(requirements, IndexConfig(local_index.url))
            build(
                BuildRequest(get_target("python3.11"), source, ZipOutput(out), cache_dir=cache_dir)
            )
        except BaseException as error:  # reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=one, args=(out,)) for out in outputs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert outputs[0].read_bytes() == outputs[1].read_bytes()
    assert len(fragment_dirs(cache_dir)) == 5
    assert not list((cache_dir / "fragments").glob("*/.tmp-*"))


def test_an_unchanged_resolution_runs_no_uv_and_a_new_release_resolves_again(
    tmp_path, cache_dir, capsys
):
    root = tmp_path / "index"
    root.mkdir()
    make_wheel(root, "gamma", "1.0")
    with LocalIndex(root) as index:
        build_json(capsys, index, cache_dir, tmp_path / "a.zip", "gamma", "--bytecode", "none")
        seen = len(index.requests)
        again = build_json(
            capsys, index, cache_dir, tmp_path / "b.zip", "gamma", "--bytecode", "none"
        )
        # Only the project page is asked again (to see that it has not changed): uv did not run.
        assert index.requests[seen:] == ["/simple/gamma/"]
        assert again["packages"][0]["version"] == "1.0"  # type: ignore[index]
        make_wheel(root, "gamma", "2.0")
        newer = build_json(
            capsys, index, cache_dir, tmp_path / "c.zip", "gamma", "--bytecode", "none"
        )
        assert newer["packages"][0]["version"] == "2.0"  # type: ignore[index]


def test_the_check_of_the_same_bytes_is_reused(local_index, cache_dir, tmp_path, capsys):
    first = build_json(capsys, local_index, cache_dir, tmp_path / "a.zip", "alpha")
    code, _, err = run_cli(
        capsys,
        "build",
        "--index-url",
        local_index.url,
        "--cache-dir",
        str(cache_dir),
        "-o",
        str(tmp_path / "b.zip"),
        "--runtime",
        "python3.11",
        "alpha",
    )
    assert code == 0
    assert "checked before: the same bytes for python3.11-x86_64 (cached report)" in err
    second = build_json(capsys, local_index, cache_dir, tmp_path / "c.zip", "alpha")
    for report in (first["check"], second["check"]):
        assert isinstance(report, dict)
    assert {k: v for k, v in first["check"].items() if k != "path"} == {  # type: ignore[union-attr]
        k: v
        for k, v in second["check"].items()
        if k != "path"  # type: ignore[union-attr]
    }
    assert second["check"]["path"] == str(tmp_path / "c.zip")  # type: ignore[index]


# Issue 13: outputs that deploy tools take -------------------------------------------------


def test_directory_output_has_the_zips_files_modes_and_one_mtime(
    local_index, cache_dir, tmp_path, capsys
):
    import os
    import zipfile

    zipped = build_json(
        capsys, local_index, cache_dir, tmp_path / "layer.zip", "datapkg", "beta==1.0"
    )
    tree = tmp_path / "artifacts"
    tree.mkdir()
    (tree / "unrelated.txt").write_text("not ours")
    code, out, err = run_cli(
        capsys,
        "build",
        "datapkg",
        "beta==1.0",
        "--runtime",
        "python3.11",
        "--index-url",
        local_index.url,
        "--cache-dir",
        str(cache_dir),
        "-o",
        f"{tree}/",
    )
    assert code == 0, err
    assert f"built the layer's files into {tree}" in out
    with zipfile.ZipFile(tmp_path / "layer.zip") as archive:
        for info in archive.infolist():
            path = tree / info.filename
            assert path.exists(), info.filename
            assert (path.stat().st_mode & 0o777) == (info.external_attr >> 16) & 0o777, (
                info.filename
            )
            if not info.is_dir():
                assert path.read_bytes() == archive.read(info)
                assert int(path.stat().st_mtime) == 315532800
    assert (tree / "unrelated.txt").read_text() == "not ours"
    executable = next(tree.rglob("run.sh"))
    assert os.access(executable, os.X_OK)
    # A second build without datapkg removes what only the first one wrote, nothing else.
    code, _, err = run_cli(
        capsys,
        "build",
        "beta==1.0",
        "--runtime",
        "python3.11",
        "--index-url",
        local_index.url,
        "--cache-dir",
        str(cache_dir),
        "-o",
        str(tree),
    )
    assert code == 0, err
    assert not list(tree.rglob("run.sh"))
    assert (tree / "unrelated.txt").exists()
    assert zipped["sha256"]


def test_print_gives_one_value_or_flat_json_for_terraform(local_index, cache_dir, tmp_path, capsys):
    import base64
    import hashlib

    out = tmp_path / "layer.zip"
    args = [
        "build",
        "beta==1.0",
        "--runtime",
        "python3.11",
        "--index-url",
        local_index.url,
        "--cache-dir",
        str(cache_dir),
        "-o",
        str(out),
    ]
    code, printed, _ = run_cli(capsys, *args, "--print", "base64sha256")
    assert code == 0
    digest = hashlib.sha256(out.read_bytes()).digest()
    assert printed.strip() == base64.b64encode(digest).decode()
    code, printed, _ = run_cli(capsys, *args, "--print", "terraform")
    flat = json.loads(printed)
    assert all(isinstance(value, str) for value in flat.values())
    assert flat["sha256"] == digest.hex() and flat["path"] == str(out)


def test_lock_command_writes_the_targets_lock_without_building(
    local_index, cache_dir, tmp_path, capsys
):
    lock = tmp_path / "pylock.toml"
    code, out, err = run_cli(
        capsys,
        "lock",
        "alpha",
        "nativepkg",
        "--runtime",
        "python3.11",
        "--index-url",
        local_index.url,
        "--cache-dir",
        str(cache_dir),
        "-o",
        str(lock),
    )
    assert code == 0, err
    assert "locked 3 packages for python3.11-x86_64" in out
    text = lock.read_text()
    assert (
        'name = "nativepkg"' in text
        and "manylinux_2_17_x86_64" in text
        and 'target = "python3.11-x86_64"' in text
    )
    assert not list(tmp_path.glob("*.zip"))
    code, out, _ = run_cli(
        capsys,
        "lock",
        "beta",
        "--runtime",
        "python3.11,python3.12",
        "--index-url",
        local_index.url,
        "--cache-dir",
        str(cache_dir),
        "--output-dir",
        str(tmp_path / "locks"),
    )
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "locks").iterdir()) == [
        "pylock.python311-x86_64.toml",
        "pylock.python312-x86_64.toml",
    ]


def test_a_resolution_is_reused_when_an_extra_index_lacks_the_package(tmp_path, cache_dir, capsys):
    main_root, extra_root = tmp_path / "main", tmp_path / "extra"
    main_root.mkdir()
    extra_root.mkdir()
    make_wheel(main_root, "gamma", "1.0")
    with LocalIndex(main_root) as index, LocalIndex(extra_root) as extra:
        args = ("gamma", "--bytecode", "none", "--extra-index-url", extra.url)
        build_json(capsys, index, cache_dir, tmp_path / "a.zip", *args)
        seen_main, seen_extra = len(index.requests), len(extra.requests)
        build_json(capsys, index, cache_dir, tmp_path / "b.zip", *args)
        assert index.requests[seen_main:] == ["/simple/gamma/"]  # uv did not run
        assert extra.requests[seen_extra:] == ["/simple/gamma/"]  # still absent there


@pytest.mark.skipif(find_interpreter("3.11") is None, reason="no CPython 3.11 here")
def test_a_changed_requirement_imports_again_only_what_it_can_affect(
    local_index, cache_dir, tmp_path, capsys
):
    def imports(*packages: str) -> tuple[dict[str, bool], str]:
        result = build_json(capsys, local_index, cache_dir, tmp_path / "l.zip", *packages)
        check = result["check"]
        assert isinstance(check, dict)
        outcome = {item["module"]: item["ok"] for item in check["imports"]}
        return outcome, str(check["imports_ran_in"])

    first, ran_in = imports("alpha", "--bytecode", "none")
    assert first == {"alpha": True, "beta": True} and "last imported" not in ran_in
    # storedpkg is new and alpha's closure (alpha, beta) is unchanged: only storedpkg imports
    second, ran_in = imports("alpha", "storedpkg", "--bytecode", "none")
    assert second == {"alpha": True, "beta": True, "storedpkg": True}
    assert "2 of them as when they last imported" in ran_in
    # beta changes (2.0 -> 1.0): beta and alpha, which requires it, import again
    third, ran_in = imports("alpha", "beta==1.0", "storedpkg", "--bytecode", "none")
    assert third == {"alpha": True, "beta": True, "storedpkg": True}
    assert "1 of them as when they last imported" in ran_in
