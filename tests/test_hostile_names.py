"""Names a user or a remote answer gives are matched whole: a trailing newline is not a name.

``re.match(r"^[a-z]+$", "deps\\n")`` matches: ``$`` also matches before a final newline.
Every validation uses ``fullmatch`` (and ``tests/test_layout.py`` refuses a pattern that ends
in ``$``). Generated from a model of each name: a valid one, then one control character or
a trailing newline added somewhere; each must be refused with one error naming it.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from hostilecases import generated
from hypothesis import given
from hypothesis import strategies as st

from lambdalayer.aws.client import parse_layer_arn
from lambdalayer.aws.publish import PublishRequest, validate
from lambdalayer.blobstore import BlobStore
from lambdalayer.errors import LambdaLayerError
from lambdalayer.inputs.config import load_config
from lambdalayer.lock import parse_pylock
from lambdalayer.oci.reference import ImageReference

pytestmark = pytest.mark.hostile

NAME_CHARACTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
CONTROL = st.sampled_from(["\n", "\r", "\r\n", "\x00", "\t", "\x1b", "\x7f", " "])


@st.composite
def spoiled(draw: st.DrawFn, valid: st.SearchStrategy[str]) -> str:
    """A valid name with a control character put in it (at the end, most often)."""
    name = draw(valid)
    where = draw(st.one_of(st.just(len(name)), st.integers(0, len(name))))
    return name[:where] + draw(CONTROL) + name[where:]


LAYER_NAMES = st.text(NAME_CHARACTERS, min_size=1, max_size=40).filter(lambda n: n[0] not in "-_")
HEX = st.text("0123456789abcdef", min_size=64, max_size=64)


def _toml_string(text: str) -> str:
    """``text`` as a TOML basic string (JSON's escapes are TOML's, but for DEL)."""
    return json.dumps(text).replace("\x7f", "\\u007f")


def _zip(tmp_path: Path) -> Path:
    path = tmp_path / "layer.zip"
    if not path.exists():
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("python/x.py", "")
    return path


@generated(120)
@given(name=spoiled(LAYER_NAMES))
def test_a_layer_name_with_a_control_character_is_refused(tmp_path, name):
    with pytest.raises(LambdaLayerError, match="invalid layer name"):
        validate(PublishRequest(_zip(tmp_path), name))


def test_publish_name_with_a_trailing_newline_is_one_error_line(tmp_path, capsys):
    from cliutil import run_cli

    code, _out, err = run_cli(
        capsys,
        "publish",
        str(_zip(tmp_path)),
        "--name",
        "deps\n",
        "--region",
        "us-east-1",
        "--endpoint-url",
        "http://127.0.0.1:9",
    )
    assert code != 0
    assert [line for line in err.splitlines() if line.startswith("error:")] == [
        "error: invalid layer name 'deps\\n'"
    ]
    assert "Traceback" not in err


@generated(60)
@given(name=spoiled(LAYER_NAMES))
def test_a_config_layer_name_with_a_control_character_is_refused(tmp_path_factory, name):
    project = tmp_path_factory.mktemp("project")
    key = _toml_string(name)
    (project / "lambdalayer.toml").write_text(f'[layers.{key}]\nrequirements = ["x.txt"]\n')
    with pytest.raises(LambdaLayerError, match="layer name"):
        load_config(project)


@generated(60)
@given(digest=spoiled(HEX))
def test_a_lock_hash_with_a_control_character_is_refused(digest):
    escaped = _toml_string(digest)
    text = (
        'lock-version = "1.0"\ncreated-by = "t"\n[[packages]]\nname = "six"\nversion = "1"\n'
        'wheels = [{ name = "six-1-py3-none-any.whl", url = "http://127.0.0.1:9/six-1-py3-none-any.whl",'
        f" hashes = {{ sha256 = {escaped} }} }}]\n"
    )
    with pytest.raises(LambdaLayerError, match="sha256"):
        parse_pylock(text)


@generated(60)
@given(hexdigits=spoiled(HEX))
def test_a_blob_digest_with_a_control_character_is_never_a_path(tmp_path, hexdigits):
    with pytest.raises(LambdaLayerError, match="not a sha256 digest"):
        BlobStore(tmp_path).path(f"sha256:{hexdigits}")


@generated(60)
@given(name=LAYER_NAMES, version=st.integers(1, 9999), data=st.data())
def test_a_layer_arn_with_a_control_character_is_refused(name, version, data):
    arn = f"arn:aws:lambda:us-east-1:123456789012:layer:{name}:{version}"
    assert parse_layer_arn(arn) == (arn.rsplit(":", 1)[0], version)
    with pytest.raises(LambdaLayerError, match="not a layer version ARN"):
        parse_layer_arn(data.draw(spoiled(st.just(arn))))


@generated(60)
@given(tag=spoiled(st.text(NAME_CHARACTERS + ".", min_size=1, max_size=20)))
def test_an_image_tag_with_a_control_character_inside_is_refused(tag):
    text = f"127.0.0.1:5000/repo:{tag}"
    if text != text.strip():
        return  # surrounding white space is trimmed from what the user typed
    with pytest.raises(LambdaLayerError):
        ImageReference.parse(text)
