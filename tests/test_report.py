"""Issue 14: the size report — one size model, an aligned terminal table, an HTML page that a
real headless browser (Debian's chromium; .ci/run installs it) loads and draws."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from cliutil import run_cli

from lambdalayer.check.request import CheckRequest
from lambdalayer.report import Rect, layer_report, render_text, squarify
from lambdalayer.targets import get_target

SITE = "python/lib/python3.12/site-packages/"
CHROMIUM = (
    shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
)


def dist(prefix: str, name: str, version: str, files: dict[str, bytes]) -> dict[str, bytes]:
    info = f"{prefix}{name.replace('-', '_')}-{version}.dist-info/"
    record = "".join(f"{path},,\n" for path in files) + f"{info.removeprefix(prefix)}METADATA,,\n"
    return {
        **{prefix + path: data for path, data in files.items()},
        f"{info}METADATA": f"Name: {name}\nVersion: {version}\n".encode(),
        f"{info}RECORD": record.encode(),
    }


@pytest.fixture
def layer(tmp_path: Path) -> Path:
    members = {
        **dist(
            SITE,
            "scikit_learn",
            "1.5.2.post1.dev20261128+local.build",
            {
                "sklearn/__init__.py": b"x" * 3000,
                "sklearn/_core.cpython-312-x86_64-linux-gnu.so": b"\x7fELF" + bytes(90000),
                "sklearn/datasets/data.csv": b"1,2\n" * 5000,
            },
        ),
        **dist(SITE, "six", "1.17.0", {"six.py": b"y" * 4000}),
        # bytecode compiled by the build: not in any RECORD, belongs to six all the same
        f"{SITE}__pycache__/six.cpython-312.pyc": b"z" * 2500,
    }
    path = tmp_path / "layer.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        archive.comment = (
            b"lambdalayer target=python3.12-x86_64 layout=site-packages bytecode=unchecked-hash"
        )
    return path


def test_one_size_model_canonical_names_and_bytecode_with_its_package(layer):
    report = layer_report(layer, CheckRequest(get_target("python3.12")))
    names = [row.name for row in report.sizes.distributions]
    assert names == ["scikit-learn", "six"]  # canonical names; no "python", no "(no distribution)"
    six = report.sizes.distributions[1]
    assert six.unzipped == 4000 + 2500 + len(b"Name: six\nVersion: 1.17.0\n") + len(
        b"six.py,,\nsix-1.17.0.dist-info/METADATA,,\n"
    )
    assert six.by_kind()["bytecode"] == 2500
    assert report.sizes.unzipped == sum(row.unzipped for row in report.sizes.distributions)


def test_the_terminal_table_aligns_for_any_version_length(layer):
    text = render_text(layer_report(layer, CheckRequest(get_target("python3.12"))))
    rows = [
        line for line in text.splitlines() if line.startswith(("package", "scikit-learn", "six"))
    ]
    assert len(rows) == 3
    end = rows[0].index("unzipped") + len("unzipped")  # the column is right-aligned
    zipped_end = rows[0].index("zipped", end) + len("zipped")
    for row in rows[1:]:
        assert row[end - 2 : end] in {"iB", " B"} and row[end] == " ", row
        assert row[zipped_end - 2 : zipped_end] in {"iB", " B"}, row
    assert "1.5.2.post1.dev20261128+local.build" in rows[1]
    assert "quota: this layer (layer.zip)" in text
    assert "of Lambda's 250 MB (262,144,000 bytes) unzipped" in text
    assert "of Lambda's 50 MB (52,428,800 bytes) direct-upload limit (direct upload fits)" in text


def test_squarify_fills_the_box_with_the_right_areas():
    values = [6, 6, 4, 3, 2, 2, 1]
    rects = squarify(values, Rect(0, 0, 6, 4))
    for value, rect in zip(values, rects, strict=True):
        assert rect.width * rect.height == pytest.approx(value, rel=1e-9)
        assert (
            rect.x >= -1e-9
            and rect.y >= -1e-9
            and rect.x + rect.width <= 6 + 1e-9
            and rect.y + rect.height <= 4 + 1e-9
        )
    assert sum(r.width * r.height for r in rects) == pytest.approx(24)


def test_report_json_and_quota_with_the_managed_layer_beneath(layer, capsys):
    code, out, err = run_cli(
        capsys, "report", str(layer), "--on-top-of", "aws-sdk-pandas", "--json"
    )
    assert code == 0, err
    document = json.loads(out)
    parts = document["quota"]["parts"]
    assert parts[0]["name"] == "this layer (layer.zip)" and parts[1]["estimated"] is True
    assert document["quota"]["total_bytes"] == sum(part["unzipped_bytes"] for part in parts)
    assert [d["name"] for d in document["sizes"]["distributions"]] == ["scikit-learn", "six"]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_the_html_report_loads_in_a_real_browser_without_errors(layer, tmp_path, capsys):
    page = tmp_path / "report.html"
    code, _, err = run_cli(capsys, "report", str(layer), "-o", str(page))
    assert code == 0, err
    text = page.read_text()
    assert not re.search(r"""(src|href)=["']?\w+:|url\(|@import""", text)  # nothing to fetch
    screenshot = tmp_path / "shot.png"
    common = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--enable-logging=stderr",
        "--v=0",
    ]
    shot = subprocess.run(
        [*common, f"--screenshot={screenshot}", "--window-size=1200,1400", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert screenshot.is_file() and screenshot.stat().st_size > 10_000, shot.stderr[-2000:]
    assert "Uncaught" not in shot.stderr and "CONSOLE" not in shot.stderr
    dom = subprocess.run(
        [*common, "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    for name in ("scikit-learn", "six"):
        assert f'data-name="{name}"' in dom  # one treemap rectangle group per package
    assert dom.count('class="package-rect"') == 2
    data = json.loads(
        re.search(
            r'<script type="application/json" id="report-data">(.*?)</script>', dom, re.S
        ).group(1)
    )
    code, out, _ = run_cli(capsys, "report", str(layer), "--json")
    expected = json.loads(out)
    expected.pop("schema")
    expected.pop("ok")
    assert data == expected  # the numbers in the page are --json's
    for row in data["sizes"]["distributions"]:
        assert f'data-bytes="{row["unzipped_bytes"]}"' in dom


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_the_report_shows_what_ships_in_a_real_browser(local_index, tmp_path, capsys):
    from test_sbom import build_layer

    layer = build_layer(local_index, tmp_path / "cache", tmp_path, "licensed", "oldsecure==1.0")
    page = tmp_path / "report.html"
    code, out, err = run_cli(
        capsys,
        "report",
        str(layer),
        "-o",
        str(page),
        "--audit",
        "--lock",
        str(tmp_path / "pylock.toml"),
        "--index-url",
        local_index.url,
        "--cache-dir",
        str(tmp_path / "cache"),
    )
    assert code == 0, err
    assert "licences: 4 of 5 known (not known: classic)" in out
    assert "vulnerabilities: 1 vulnerable: oldsecure 1.0 (PYSEC-2026-4242), 0 not verified" in out
    assert not re.search(r"""(src|href)=["']?\w+:|url\(|@import""", page.read_text())
    dom = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    rows = dict(re.findall(r'<tr class="ships-row" data-name="([^"]+)">(.*?)</tr>', dom, re.S))
    assert sorted(rows) == ["classic", "gplpkg", "licensed", "oldsecure", "vendoring"]
    assert '<td class="vulnerable"><span class="advisory"' in rows["oldsecure"]
    assert "PYSEC-2026-4242</span>" in rows["oldsecure"]
    assert '<td class="licence">MIT OR Apache-2.0</td>' in rows["licensed"]
    assert '<td class="licence-unknown">not known: BSD</td>' in rows["classic"]
    assert '<td class="no-known">none known</td>' in rows["vendoring"]
    data = json.loads(
        re.search(
            r'<script type="application/json" id="report-data">(.*?)</script>', dom, re.S
        ).group(1)
    )
    assert data["what_ships"]["audit"]["vulnerabilities"]["vulnerable"] == 1
