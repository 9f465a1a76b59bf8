"""Lambda's size quotas are stated one way everywhere: AWS's wording, then the exact bytes (#33)."""

from __future__ import annotations

import zipfile

import pytest

from lambdalayer.aws.publish import PublishRequest, validate
from lambdalayer.check.request import CheckRequest
from lambdalayer.check.rules import check_zip
from lambdalayer.cli.main import main
from lambdalayer.errors import InputError
from lambdalayer.limits import DIRECT_UPLOAD, IMAGE, UNZIPPED, quota_text
from lambdalayer.targets import get_target

SITE = "python/lib/python3.12/site-packages/"
UPLOAD = "50 MB (52,428,800 bytes)"


def test_each_quota_is_aws_wording_and_its_exact_bytes():
    assert quota_text(DIRECT_UPLOAD.bytes) == UPLOAD
    assert quota_text(UNZIPPED.bytes) == "250 MB (262,144,000 bytes)"
    assert quota_text(IMAGE.bytes) == "10 GB (10,737,418,240 bytes)"
    # AWS's MB are 1,048,576 bytes: its wording and its bytes agree
    for quota, unit in ((DIRECT_UPLOAD, 2**20), (UNZIPPED, 2**20), (IMAGE, 2**30)):
        assert int(quota.aws.split()[0]) * unit == quota.bytes


def test_the_direct_upload_limit_reads_alike_in_check_publish_and_report(tmp_path, capsys):
    """It was "50 MB" in the check, "52,428,800-byte" in publish and "50.0 MiB" in the report."""
    big = tmp_path / "big.zip"
    with zipfile.ZipFile(big, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(f"{SITE}m.py", "")
        archive.writestr(f"{SITE}data.bin", bytes(DIRECT_UPLOAD.bytes + 1))
    report = check_zip(big, CheckRequest(get_target("python3.12"), imports=None))
    [finding] = [item for item in report.findings if item.kind == "size"]
    assert f"over Lambda's {UPLOAD} direct-upload limit" in finding.message
    with pytest.raises(InputError) as raised:
        validate(PublishRequest(big, "big"))
    assert f"over Lambda's {UPLOAD} direct-upload limit" in raised.value.message
    assert main(["report", str(big), "--runtime", "python3.12"]) == 0
    assert f"of Lambda's {UPLOAD} direct-upload limit (over" in capsys.readouterr().out
