"""Placed files are one currency: a build's fragments, the zip it wrote and the directory it
wrote read back as the same files — paths, modes, bytes and ELF facts."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest
from indexserver import LocalIndex

from lambdalayer.builder import BuildRecipe, BuildRequest, FunctionCode, build
from lambdalayer.elf import ELF_MAGIC, ElfInfo, read_elf
from lambdalayer.inputs.requirements import Requirements
from lambdalayer.layer.output import TreeOutput, ZipOutput
from lambdalayer.net.index import IndexConfig
from lambdalayer.placement import Placement, read_tree, read_zip
from lambdalayer.recipe import BytecodeMode
from lambdalayer.resolve.stage import Resolve
from lambdalayer.targets import Layout, get_target

Facts = dict[str, tuple[int, str, ElfInfo | None]]


def facts_of(placement: Placement) -> Facts:
    """Every file's mode, sha256 and ELF facts (the producer's when it knows them, else read)."""
    found: Facts = {}
    with placement.reader() as reader:
        for file in placement.files:
            data = reader.read(file, file.size + 1)
            assert len(data) == file.size
            elf = (
                file.elf if file.elf_known else (read_elf(data) if data[:4] == ELF_MAGIC else None)
            )
            found[file.arcname] = (file.mode, hashlib.sha256(data).hexdigest(), elf)
    return found


def built(
    index: LocalIndex,
    cache: Path,
    output: ZipOutput | TreeOutput,
    layout: Layout,
    function: Path | None,
) -> Placement:
    recipe = BuildRecipe(
        layout=layout,
        bytecode=BytecodeMode.NONE,
        function=FunctionCode(function) if function else None,
    )
    request = BuildRequest(
        get_target("python3.12", "x86_64"),
        Resolve(Requirements(specifiers=("alpha", "nativepkg")), IndexConfig(index.url)),
        output,
        recipe,
        cache_dir=cache,
    )
    return build(request).contents.placement


@pytest.mark.parametrize("layout", [Layout.SITE_PACKAGES, Layout.FUNCTION])
def test_a_zip_and_a_directory_read_back_are_the_files_the_fragments_placed(
    local_index, cache_dir, tmp_path, layout
):
    code = None
    if layout is Layout.FUNCTION:
        code = tmp_path / "src"
        code.mkdir()
        (code / "app.py").write_text("def handler(event, context):\n    return 1\n")
        (code / "run.sh").write_text("#!/bin/sh\n")
        (code / "run.sh").chmod(0o755)
    zipped, tree = tmp_path / "layer.zip", tmp_path / "tree"
    fragments = built(local_index, cache_dir, ZipOutput(zipped), layout, code)
    built(local_index, cache_dir, TreeOutput(tree, cache_dir), layout, code)

    from_fragments = facts_of(fragments)
    from_zip = facts_of(read_zip(zipped, layout))
    from_tree = facts_of(read_tree(tree, layout))
    assert from_zip == from_fragments
    assert from_tree == from_fragments
    elves = [name for name, (_mode, _digest, elf) in from_fragments.items() if elf is not None]
    assert elves and all(from_fragments[name][2] == from_zip[name][2] for name in elves)
    if code is not None:
        assert from_zip["run.sh"][0] == 0o755 and from_zip["app.py"][0] == 0o644


def test_a_zip_read_sets_apart_what_no_unzip_reads_alike_and_never_places_it(tmp_path):
    path = tmp_path / "odd.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("python/ok.py", "x = 1\n")
        archive.writestr("../outside.py", "x = 2\n")
        archive.writestr("python/twice.py", "a\n")
        with pytest.warns(UserWarning, match="Duplicate name"):
            archive.writestr("python/twice.py", "b\n")
    placement = read_zip(path, Layout.SITE_PACKAGES)
    assert placement.names == ["python/ok.py"]
    assert placement.unsafe == ("../outside.py",)
    assert "appears 2 times" in placement.set_apart["python/twice.py"]
    assert placement.declared_bytes == len("x = 1\n") + len("x = 2\n") + 2 + 2


def test_a_directory_read_never_follows_a_link(tmp_path):
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "real.py").write_text("x = 1\n")
    (tmp_path / "secret").write_text("password\n")
    (tmp_path / "tree" / "link.py").symlink_to(tmp_path / "secret")
    (tmp_path / "tree" / "dir").symlink_to(tmp_path)
    placement = read_tree(tmp_path / "tree", Layout.FUNCTION)
    assert placement.names == ["real.py"]
    assert set(placement.set_apart) == {"link.py", "dir"}
