"""What is in a layer, for people: a terminal table and a self-contained HTML page.

Both come from one :class:`LayerReport` (the size model of :mod:`lambdalayer.check.sizes`, the
quota with whatever the function will also have, the check's findings, the slimming, the
hashes), so the page, the table and ``--json`` show the same numbers. The HTML has no
script and loads nothing: a treemap laid out here (:func:`squarify`, the squarified
treemap of Bruls, Huizing and van Wijk) and drawn as SVG, rectangles coloured by kind of
file, with the exact bytes in each rectangle's tooltip.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lambdalayer.check.findings import CheckReport
from lambdalayer.check.request import CheckRequest
from lambdalayer.check.rules import check
from lambdalayer.check.sizes import (
    KINDS,
    DistributionSize,
    LayerSizes,
    human_bytes,
    layer_sizes,
    top_level,
)
from lambdalayer.fsutil import file_sha256
from lambdalayer.limits import DIRECT_UPLOAD_LIMIT, UNZIPPED_LIMIT, quota_text
from lambdalayer.placement import read_zip
from lambdalayer.supply.audit import PackageAudit, Verdict
from lambdalayer.supply.inventory import Inventory
from lambdalayer.supply.review import Review
from lambdalayer.targets import Layout, Target
from lambdalayer.wording import agreeing, counted

COLOURS = {"native": "#d9534f", "python": "#4a90d9", "bytecode": "#8e6cc0", "data": "#5cb85c"}
QUOTA_COLOURS = ("#2b6cb0", "#dd8a2e", "#6b8e23", "#9b59b6", "#7f8c8d")
BAR_WIDTH = 28


@dataclass(frozen=True)
class QuotaPart:
    """One thing counted toward the unzipped quota: this layer, another layer, the function."""

    name: str
    unzipped: int
    estimated: bool = False


@dataclass(frozen=True)
class WhatShips:
    """What ships in the layer: each distribution's licence, and its audit when it ran."""

    inventory: Inventory
    review: Review | None = None  # None: vulnerabilities not looked up

    def verdicts(self) -> dict[str, PackageAudit]:
        """Each distribution's audit, by name (empty when none ran)."""
        if self.review is None:
            return {}
        return {package.name: package for package in self.review.shipped.packages}

    def to_json(self) -> dict[str, object]:
        """Licences per distribution, and the audit (``null``: not looked up)."""
        return {
            "licences": {
                dist.name: dist.licence.to_json() for dist in self.inventory.distributions
            },
            "audit": self.review.to_json() if self.review else None,
        }


@dataclass(frozen=True)
class TrimFacts:
    """What ``lambdalayer trim`` did to this artefact: bytes per distribution before and
    after, Init Duration and Duration medians before and after, the costliest imports."""

    manifest: str
    level: str
    distributions: tuple[tuple[str, int, int], ...]  # name, unzipped bytes before, after
    init_ms: tuple[float | None, float | None]
    duration_ms: tuple[float | None, float | None]
    runs: int
    events_verified: int
    costliest_imports: tuple[tuple[str, int], ...]  # module, cumulative microseconds

    def to_json(self) -> dict[str, object]:
        """The figures, exact."""
        return {
            "manifest": self.manifest,
            "level": self.level,
            "distributions": [
                {"name": name, "before_bytes": before, "after_bytes": after}
                for name, before, after in self.distributions
            ],
            "init_ms": {"before": self.init_ms[0], "after": self.init_ms[1]},
            "duration_ms": {"before": self.duration_ms[0], "after": self.duration_ms[1]},
            "runs": self.runs,
            "events_verified": self.events_verified,
            "costliest_imports": [
                {"module": name, "cumulative_us": micro} for name, micro in self.costliest_imports
            ],
        }


@dataclass(frozen=True)
class LayerReport:
    """Everything the report shows."""

    path: Path
    target: Target
    sizes: LayerSizes
    quota: tuple[QuotaPart, ...]
    sha256: str
    base64sha256: str
    check: CheckReport | None = None
    slim_saved: dict[str, int] = field(default_factory=dict)
    lock: Path | None = None
    ships: WhatShips | None = None
    trim: TrimFacts | None = None

    @property
    def quota_total(self) -> int:
        """Unzipped bytes of everything counted toward Lambda's quota."""
        return sum(part.unzipped for part in self.quota)

    def to_json(self) -> dict[str, object]:
        """The numbers of the report, exact bytes."""
        return {
            "path": str(self.path),
            "target": self.target.to_json(),
            "sha256": self.sha256,
            "base64sha256": self.base64sha256,
            "sizes": self.sizes.to_json(),
            "quota": {
                "limit_bytes": UNZIPPED_LIMIT,
                "total_bytes": self.quota_total,
                "parts": [
                    {"name": p.name, "unzipped_bytes": p.unzipped, "estimated": p.estimated}
                    for p in self.quota
                ],
            },
            "direct_upload": {
                "limit_bytes": DIRECT_UPLOAD_LIMIT,
                "zip_bytes": self.sizes.zipped_file_bytes,
            },
            "slim_saved_bytes": dict(sorted(self.slim_saved.items())),
            "findings": [finding.to_json() for finding in self.check.findings]
            if self.check
            else [],
            "lock": str(self.lock) if self.lock else None,
            "what_ships": self.ships.to_json() if self.ships else None,
            "trim": self.trim.to_json() if self.trim else None,
        }


@dataclass(frozen=True)
class BuildFacts:
    """What a build already knows of the layer it wrote (so the report reads nothing twice)."""

    check_report: CheckReport | None
    sizes: LayerSizes
    sha256: str
    slim_saved: dict[str, int] = field(default_factory=dict)
    lock: Path | None = None


def layer_report(path: Path, request: CheckRequest, built: BuildFacts | None = None) -> LayerReport:
    """The report of the zip at ``path`` among ``request``'s other zips and layers beneath.

    Without ``built`` (what a build knows), the zip is read and checked here (no imports).
    """
    if built is not None and built.check_report is not None:
        sizes, check_report = built.sizes, built.check_report
    else:  # the zip read once, for both
        placement = read_zip(path, Layout.FUNCTION if request.function else Layout.SITE_PACKAGES)
        sizes = built.sizes if built else layer_sizes(placement)
        check_report = check(placement, dataclasses.replace(request, imports=None))
    parts = [QuotaPart(f"this layer ({path.name})", sizes.unzipped)]
    parts += [
        QuotaPart(other.name, layer_sizes(read_zip(other, Layout.SITE_PACKAGES)).unzipped)
        for other in request.with_zips
    ]
    parts += [QuotaPart(name, size, estimated=True) for name, size in request.beneath]
    digest = built.sha256 if built else file_sha256(path)
    return LayerReport(
        path=path,
        target=request.target,
        sizes=sizes,
        quota=tuple(parts),
        sha256=digest,
        base64sha256=base64.b64encode(bytes.fromhex(digest)).decode(),
        check=check_report,
        slim_saved=dict(built.slim_saved if built else {}),
        lock=built.lock if built else None,
    )


# --- terminal -------------------------------------------------------------------------------


def render_text(report: LayerReport) -> str:
    """The table: one aligned row per distribution with a bar, then the quota lines."""
    rows = report.sizes.distributions
    name_width = max([len("package"), *(len(row.name) for row in rows)])
    version_width = max([len("version"), *(len(row.version or "-") for row in rows)])
    largest = max((row.unzipped for row in rows), default=1) or 1
    lines = [
        f"{report.path} for {report.target.name}: {counted(len(rows), 'distribution')},"
        f" {human_bytes(report.sizes.unzipped)} unzipped,"
        f" {human_bytes(report.sizes.zipped_file_bytes)} zipped",
        f"{'package':<{name_width}}  {'version':<{version_width}}  {'unzipped':>10} "
        f" {'zipped':>10}  {'share':>5}",
    ]
    for row in rows:
        bar = "█" * max(1, round(BAR_WIDTH * row.unzipped / largest)) if row.unzipped else ""
        share = row.unzipped / report.sizes.unzipped if report.sizes.unzipped else 0.0
        lines.append(
            f"{row.name:<{name_width}}  {row.version or '-':<{version_width}} "
            f" {human_bytes(row.unzipped):>10}"
            f"  {human_bytes(row.zipped):>10}  {share:>5.0%}  {bar}"
        )
    total = report.quota_total
    parts = " + ".join(
        f"{part.name} {human_bytes(part.unzipped)}{' (est.)' if part.estimated else ''}"
        for part in report.quota
    )
    if len(report.quota) == 1:  # "16.0 MiB = 16.0 MiB" says nothing
        parts = report.quota[0].name
    lines.append(
        f"quota: {parts}{'' if len(report.quota) == 1 else ' ='} {human_bytes(total)} of"
        f" Lambda's {quota_text(UNZIPPED_LIMIT)} unzipped"
        f" ({total / UNZIPPED_LIMIT:.0%});"
        f" {'OVER' if total > UNZIPPED_LIMIT else f'{human_bytes(UNZIPPED_LIMIT - total)} left'}"
    )
    zip_bytes = report.sizes.zipped_file_bytes
    upload = "over: publish through S3" if zip_bytes > DIRECT_UPLOAD_LIMIT else "direct upload fits"
    lines.append(
        f"zip: {human_bytes(zip_bytes)} of Lambda's {quota_text(DIRECT_UPLOAD_LIMIT)}"
        f" direct-upload limit ({upload})"
    )
    lines.append(f"sha256 {report.sha256}  base64sha256 {report.base64sha256}")
    if report.ships is not None:
        lines += _ships_text(report.ships)
    if report.trim is not None:
        lines += _trim_text(report.trim)
    return "\n".join(lines) + "\n"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def _trim_text(trim: TrimFacts) -> list[str]:
    saved = sum(before - after for _, before, after in trim.distributions)
    lines = [
        f"trimmed by {trim.manifest} (level {trim.level}): {human_bytes(saved)} saved;"
        f" {counted(trim.events_verified, 'event')}"
        f" {agreeing(trim.events_verified, 'answers', 'answer')} the same",
        f"Init Duration {_ms(trim.init_ms[0])} before, {_ms(trim.init_ms[1])} after; Duration"
        f" {_ms(trim.duration_ms[0])} before, {_ms(trim.duration_ms[1])} after (medians of {trim.runs})",
    ]
    lines += [
        f"  {name}: {human_bytes(before - after)} saved"
        for name, before, after in trim.distributions
        if before != after
    ]
    return lines


def _trim_html(trim: TrimFacts | None) -> str:
    if trim is None:
        return "<p>not trimmed (lambdalayer trim writes this section)</p>"
    rows = "".join(
        f'<tr class="trim-row"><td>{html.escape(name)}</td><td data-bytes="{before}">'
        f'{human_bytes(before)}</td><td data-bytes="{after}">{human_bytes(after)}</td>'
        f"<td>{human_bytes(before - after)}</td></tr>"
        for name, before, after in trim.distributions
    )
    imports = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{micro / 1000:.1f} ms</td></tr>"
        for name, micro in trim.costliest_imports
    )
    return (
        f"<p>{html.escape(trim.manifest)}, level {html.escape(trim.level)}:"
        f" {counted(trim.events_verified, 'traced event')}"
        f" {agreeing(trim.events_verified, 'answers', 'answer')} the same. Init Duration"
        f" {_ms(trim.init_ms[0])} before, {_ms(trim.init_ms[1])} after; Duration"
        f" {_ms(trim.duration_ms[0])} before, {_ms(trim.duration_ms[1])} after (medians of"
        f" {trim.runs} cold runs, this machine's figures).</p>"
        f'<table id="trim"><tr><th>distribution</th><th>before</th><th>after</th><th>saved</th></tr>{rows}</table>'
        f"<h3>Costliest imports at init (-X importtime, cumulative): defer these</h3>"
        f"<table><tr><th>module</th><th>cumulative</th></tr>{imports}</table>"
    )


def _ships_text(ships: WhatShips) -> list[str]:
    dists = ships.inventory.distributions
    unknown = [dist for dist in dists if not dist.licence.known]
    named = f" (not known: {', '.join(dist.name for dist in unknown)})" if unknown else ""
    lines = [f"licences: {len(dists) - len(unknown)} of {len(dists)} known{named}"]
    if ships.review is None:
        lines.append("vulnerabilities: not looked up (--audit)")
    else:
        shipped = ships.review.shipped
        vulnerable = ", ".join(
            f"{p.name} {p.version} ({', '.join(a.id for a in p.advisories)})"
            for p in shipped.vulnerable
        )
        lines.append(
            f"vulnerabilities: {len(shipped.vulnerable)} vulnerable"
            f"{': ' + vulnerable if vulnerable else ''}, {len(shipped.not_verified)} not verified"
        )
    return lines


# --- treemap --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rect:
    """A rectangle of the treemap."""

    x: float
    y: float
    width: float
    height: float


def _worst(row: Sequence[float], side: float) -> float:
    total = sum(row)
    if total <= 0 or side <= 0:
        return float("inf")
    # An empty file (a package's empty __init__.py) has no area: it never makes a row worse.
    return max(
        (
            max(side * side * value / (total * total), total * total / (side * side * value))
            for value in row
            if value > 0
        ),
        default=float("inf"),
    )


def squarify(values: Sequence[float], box: Rect) -> list[Rect]:
    """Rectangles for ``values`` (largest first) filling ``box``, each close to a square."""
    total = sum(values)
    if total <= 0 or not values:
        return [Rect(box.x, box.y, 0, 0) for _ in values]
    scale = box.width * box.height / total
    areas = [value * scale for value in values]
    rects: list[Rect] = []
    x, y, width, height = box.x, box.y, box.width, box.height
    start = 0
    while start < len(areas):
        side = min(width, height)
        row = [areas[start]]
        while start + len(row) < len(areas) and _worst(
            [*row, areas[start + len(row)]], side
        ) <= _worst(row, side):
            row.append(areas[start + len(row)])
        row_total = sum(row)
        if width >= height:  # lay the row out as a column on the left
            column = row_total / height if height else 0
            offset = y
            for area in row:
                cell = area / column if column else 0
                rects.append(Rect(x, offset, column, cell))
                offset += cell
            x, width = x + column, width - column
        else:  # as a row on the top
            band = row_total / width if width else 0
            offset = x
            for area in row:
                cell = area / band if band else 0
                rects.append(Rect(offset, y, cell, band))
                offset += cell
            y, height = y + band, height - band
        start += len(row)
    return rects


def _inset(rect: Rect, pad: float, top: float = 0.0) -> Rect:
    return Rect(
        rect.x + pad,
        rect.y + pad + top,
        max(0.0, rect.width - 2 * pad),
        max(0.0, rect.height - 2 * pad - top),
    )


def _title(*parts: str) -> str:
    return f"<title>{html.escape(' — '.join(parts))}</title>"


def _distribution_svg(dist: DistributionSize, box: Rect) -> list[str]:
    kinds = dist.by_kind()
    main_kind = max(KINDS, key=lambda kind: kinds[kind])
    parts = [
        f'<g class="package" data-name="{html.escape(dist.name)}">'
        f'<rect class="package-rect" x="{box.x:.1f}" y="{box.y:.1f}" width="{box.width:.1f}"'
        f' height="{box.height:.1f}"'
        f' fill="#f4f4f4" stroke="#333" stroke-width="1">'
        + _title(
            f"{dist.name} {dist.version or ''}".strip(),
            f"{dist.unzipped:,} bytes unzipped",
            f"{dist.zipped:,} zipped",
        )
        + "</rect>"
    ]
    label = 14.0 if box.height > 30 and box.width > 40 else 0.0
    if label:
        parts.append(
            f'<text x="{box.x + 4:.1f}" y="{box.y + 12:.1f}" class="label">'
            f"{html.escape(dist.name)} {human_bytes(dist.unzipped)}</text>"
        )
    inner = _inset(box, 2, label)
    directories = list(dist.by_directory().items())[:12]
    for (directory, size), rect in zip(
        directories, squarify([size for _, size in directories], inner), strict=True
    ):
        files = sorted(
            (f for f in dist.files if top_level(f.member) == directory), key=lambda f: -f.unzipped
        )[:8]
        colour = COLOURS[main_kind]
        parts.append(
            f'<rect x="{rect.x:.1f}" y="{rect.y:.1f}" width="{rect.width:.1f}"'
            f' height="{rect.height:.1f}"'
            f' fill="{colour}" fill-opacity="0.25" stroke="#666" stroke-width="0.5">'
            + _title(f"{dist.name}: {directory}", f"{size:,} bytes")
            + "</rect>"
        )
        for file, cell in zip(
            files, squarify([f.unzipped for f in files], _inset(rect, 1)), strict=True
        ):
            if cell.width < 1 or cell.height < 1:
                continue
            parts.append(
                f'<rect x="{cell.x:.1f}" y="{cell.y:.1f}" width="{cell.width:.1f}"'
                f' height="{cell.height:.1f}"'
                f' fill="{COLOURS[file.kind]}" fill-opacity="0.85" stroke="#fff"'
                ' stroke-width="0.5">'
                + _title(
                    file.member,
                    f"{file.unzipped:,} bytes unzipped",
                    f"{file.zipped:,} zipped",
                    file.kind,
                )
                + "</rect>"
            )
            if cell.width > 110 and cell.height > 18:
                name = file.member.rsplit("/", 1)[-1]
                limit = int(cell.width / 6.5) - 8
                short = name if len(name) <= limit else name[: max(limit - 1, 1)] + "…"
                parts.append(
                    f'<text x="{cell.x + 3:.1f}" y="{cell.y + 12:.1f}" class="file-label">'
                    f"{html.escape(short)} {human_bytes(file.unzipped)}</text>"
                )
    parts.append("</g>")
    return parts


def treemap_svg(sizes: LayerSizes, width: int = 1100, height: int = 560) -> str:
    """The layer as nested rectangles: distributions → top-level directories → largest files."""
    rows = [row for row in sizes.distributions if row.unzipped > 0]
    rects = squarify([row.unzipped for row in rows], Rect(0, 0, width, height))
    body = [
        part for row, rect in zip(rows, rects, strict=True) for part in _distribution_svg(row, rect)
    ]
    return (
        f'<svg id="treemap" viewBox="0 0 {width} {height}"'
        f' width="{width}" height="{height}" role="img">{"".join(body)}</svg>'
    )


# --- HTML -----------------------------------------------------------------------------------

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1160px}
h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:24px 0 8px}
.meta{color:#555} code{font-size:12px}
table{border-collapse:collapse} td,th{padding:3px 10px;text-align:right;border-bottom:1px solid #eee}
td:first-child,th:first-child{text-align:left}
.label{font-size:11px;fill:#111;pointer-events:none}
.file-label{font-size:10px;fill:#fff;pointer-events:none}
.legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}
.bar{display:flex;height:22px;border:1px solid #333;width:1100px;position:relative;background:#fafafa}
.bar div{height:100%} .over{color:#b00;font-weight:bold}
.finding-error{color:#b00} .finding-warning{color:#a60}
.vulnerable{color:#b00;font-weight:bold} .not-verified,.licence-unknown{color:#a60}
"""


def _quota_html(report: LayerReport) -> str:
    scale = max(report.quota_total, UNZIPPED_LIMIT)
    segments = "".join(
        '<div class="quota-part"'
        f' style="width:{part.unzipped / scale * 100:.2f}%;background:{QUOTA_COLOURS[i % len(QUOTA_COLOURS)]}"'
        f' title="{html.escape(part.name)}: {part.unzipped:,}'
        f' bytes{" (estimated)" if part.estimated else ""}"></div>'
        for i, part in enumerate(report.quota)
    )
    limit = f'<div style="position:absolute;left:{UNZIPPED_LIMIT / scale * 100:.2f}%;top:-4px;bottom:-4px;border-left:2px dashed #b00"></div>'
    legend = " ".join(
        f'<span style="background:{QUOTA_COLOURS[i % len(QUOTA_COLOURS)]}"></span>{html.escape(part.name)}'
        f" {human_bytes(part.unzipped)}{' (estimated)' if part.estimated else ''}"
        for i, part in enumerate(report.quota)
    )
    total = report.quota_total
    state = (
        f'<span class="over">over by {human_bytes(total - UNZIPPED_LIMIT)}</span>'
        if total > UNZIPPED_LIMIT
        else f"{human_bytes(UNZIPPED_LIMIT - total)} left"
    )
    zip_bytes = report.sizes.zipped_file_bytes
    return (
        f'<div class="bar" id="quota">{segments}{limit}</div><p class="legend">{legend}</p>'
        f"<p>{total:,} bytes unzipped of Lambda's {quota_text(UNZIPPED_LIMIT)}"
        f" ({total / UNZIPPED_LIMIT:.0%}):"
        f" {state}. "
        f"Zip: {zip_bytes:,} bytes, {'over' if zip_bytes > DIRECT_UPLOAD_LIMIT else 'under'} the"
        f" Lambda's {quota_text(DIRECT_UPLOAD_LIMIT)} direct-upload limit.</p>"
    )


def _vulnerability_cell(audit: PackageAudit | None) -> str:
    if audit is None:
        return '<td class="not-looked-up">not looked up</td>'
    if audit.verdict is Verdict.NOT_VERIFIED:
        return f'<td class="not-verified" title="{html.escape(audit.why_not_verified or "")}">not verified</td>'
    if not audit.advisories:
        ignored = f" ({len(audit.ignored)} ignored)" if audit.ignored else ""
        return f'<td class="no-known">none known{ignored}</td>'
    # The id with its summary and link in the tooltip: the page links to nothing.
    links = ", ".join(
        f'<span class="advisory" title="{html.escape(" — ".join(filter(None, [a.summary, a.link])))}">'
        f"{html.escape(a.id)}</span>"
        for a in audit.advisories
    )
    return f'<td class="vulnerable">{links}</td>'


def _ships_html(ships: WhatShips | None) -> str:
    """The "what ships" section: licences, and vulnerabilities when they were looked up."""
    if ships is None:
        return "<p>not read</p>"
    verdicts = ships.verdicts()
    rows = "".join(
        f'<tr class="ships-row" data-name="{html.escape(dist.name)}"><td>{html.escape(dist.name)}</td>'
        f"<td>{html.escape(dist.version)}</td>"
        + (
            f'<td class="licence">{html.escape(dist.licence.spdx)}</td>'
            if dist.licence.spdx
            else f'<td class="licence-unknown">not known: {html.escape(dist.licence.declared or "nothing declared")}</td>'
        )
        + _vulnerability_cell(verdicts.get(dist.name) if ships.review else None)
        + "</tr>"
        for dist in ships.inventory.distributions
    )
    unknown = sum(1 for dist in ships.inventory.distributions if not dist.licence.known)
    if ships.review is None:
        audit = "Vulnerabilities were not looked up (report --audit, or build --report --audit)."
    else:
        shipped = ships.review.shipped
        audit = (
            f"Looked up in {html.escape(shipped.api or 'no JSON API')}: {len(shipped.vulnerable)}"
            f" vulnerable, {len(shipped.not_verified)} not verified."
        )
    return (
        f"<p>{counted(len(ships.inventory.distributions), 'distribution')};"
        f" {counted(unknown, 'licence')} not known"
        f" as SPDX expressions. {audit}</p>"
        '<table id="what-ships"><tr><th>package</th><th>version</th><th>licence</th>'
        f"<th>known vulnerabilities</th></tr>{rows}</table>"
    )


def render_html(report: LayerReport) -> str:
    """One self-contained page (no script, no network)."""
    rows = "".join(
        f'<tr class="package-row"><td>{html.escape(d.name)}</td><td>{html.escape(d.version or "-")}</td>'
        f'<td data-bytes="{d.unzipped}">{human_bytes(d.unzipped)}</td><td'
        f' data-bytes="{d.zipped}">{human_bytes(d.zipped)}</td>'
        f"<td>{len(d.files)}</td></tr>"
        for d in report.sizes.distributions
    )
    legend = " ".join(
        f'<span style="background:{colour}"></span>{kind}' for kind, colour in COLOURS.items()
    )
    slim = "".join(
        f"<tr><td>{html.escape(rule)}</td><td>{human_bytes(size)}</td></tr>"
        for rule, size in sorted(report.slim_saved.items())
    )
    findings = "".join(
        f'<li class="finding-{finding.severity}">{finding.severity} {html.escape(finding.kind)}:'
        f" {html.escape(finding.message)}</li>"
        for finding in (report.check.findings if report.check else ())
    )
    data = json.dumps(report.to_json()).replace("</", "<\\/")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Layer report: {html.escape(report.path.name)}</title>
<style>{_STYLE}</style></head><body>
<h1>{html.escape(report.path.name)} — {html.escape(report.target.name)}</h1>
<p class="meta">Python {report.target.runtime.python_version}, {html.escape(report.target.runtime.os)}, {report.target.machine}.
sha256 <code>{report.sha256}</code> · base64sha256 <code>{report.base64sha256}</code>
{f" · lock <code>{html.escape(str(report.lock))}</code>" if report.lock else ""}</p>
<h2>Quota</h2>{_quota_html(report)}
<h2>What takes the space</h2><p class="legend">{legend}</p>{treemap_svg(report.sizes)}
<h2>Packages</h2><table id="packages"><tr><th>package</th><th>version</th><th>unzipped</th><th>zipped</th><th>files</th></tr>{rows}</table>
<h2>Slimming</h2>{f"<table><tr><th>rule</th><th>saved</th></tr>{slim}</table>" if slim else "<p>not known for a zip checked on its own (build with --report to see it)</p>"}
<h2>Check</h2>{f"<ul>{findings}</ul>" if findings else "<p>no findings</p>"}
<h2>What ships</h2>{_ships_html(report.ships)}
<h2>Trim</h2>{_trim_html(report.trim)}
<script type="application/json" id="report-data">{data}</script>
</body></html>
"""
