"""What a build produced: each stage's own result, and the facts the summary and ``--json`` show."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path

from lambdalayer.builder.compare import BeneathComparison
from lambdalayer.builder.request import BuildRequest
from lambdalayer.check.findings import CheckReport
from lambdalayer.check.sizes import LayerSizes
from lambdalayer.interpreters import Interpreter
from lambdalayer.layer.archive import ArchiveStats
from lambdalayer.layer.assemble import Distribution
from lambdalayer.layer.contents import LayerContents
from lambdalayer.net.fetch import FetchReport
from lambdalayer.prepare import Prepared
from lambdalayer.recipe import BytecodeMode
from lambdalayer.resolve.stage import Locked
from lambdalayer.targets import Layout, Target


@dataclass(frozen=True)
class WrittenLayer:
    """What the archive and check stages produced."""

    stats: ArchiveStats
    sha256: str  # of the zip; Lambda's CodeSha256 and Terraform's filebase64sha256 are base64
    sizes: LayerSizes
    bytecode: BytecodeMode  # what the layer holds (recorded in its comment and lock)
    check_report: CheckReport | None


@dataclass(frozen=True)
class BuildResult:
    """One build: its request and each stage's result, in the order they ran."""

    request: BuildRequest
    prepared: Prepared
    layer: WrittenLayer
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)  # stage → wall seconds
    compared: BeneathComparison | None = None  # with layers beneath: against one of everything

    @property
    def locked(self) -> Locked:
        """The lock, and why it is as it is."""
        return self.prepared.locked

    @property
    def fetched(self) -> FetchReport:
        """The wheels, by sha256."""
        return self.prepared.fetched

    @property
    def contents(self) -> LayerContents:
        """The files placed, and the facts gathered while making them."""
        return self.prepared.contents

    @property
    def compiler(self) -> Interpreter | None:
        """The CPython that compiled the bytecode."""
        return self.prepared.compiler

    @property
    def target(self) -> Target:
        """The runtime and CPU the layer is for."""
        return self.request.target

    @property
    def layout(self) -> Layout:
        """Where the packages sit in the layer."""
        return self.request.recipe.layout

    @property
    def output(self) -> Path:
        """The zip (or the directory) written."""
        return self.request.output.path

    @property
    def sha256(self) -> str:
        """The zip's sha256 (hex)."""
        return self.layer.sha256

    @property
    def base64sha256(self) -> str:
        """The zip's sha256 in base64: what Lambda reports as CodeSha256 (Terraform: filebase64sha256)."""
        return base64.b64encode(bytes.fromhex(self.sha256)).decode()

    @property
    def check_report(self) -> CheckReport | None:
        """The check's report (``None`` with ``--no-check``)."""
        return self.layer.check_report

    @property
    def distributions(self) -> tuple[Distribution, ...]:
        """The wheels in the layer, in the lock's order."""
        return self.contents.distributions

    @property
    def notices(self) -> tuple[str, ...]:
        """What the user should know that is not an error."""
        provided = [warning for item in self.locked.sources for warning in item.warnings]
        corrupt = [
            f"cached {name} did not match its hash; downloaded again"
            for name in self.fetched.replaced_corrupt
        ]
        larger = (self.compared.text(),) if self.compared and self.compared.larger else ()
        return (*provided, *corrupt, *self.contents.notices, *larger)

    @property
    def beneath(self) -> tuple[tuple[str, int], ...]:
        """Layers counted beneath that are not on this machine, with their estimated sizes."""
        return tuple(
            (item.source, item.unzipped_bytes)
            for item in self.locked.sources
            if item.zip_path is None and item.unzipped_bytes
        )

    @property
    def base_layers(self) -> tuple[tuple[str | None, str | None], ...]:
        """(ARN, SSM parameter naming its version) of each layer to attach beside this one."""
        return tuple(
            (item.layer_arn, item.ssm_parameter) for item in self.locked.sources if item.layer_arn
        )

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict with the same facts as the text summary."""
        in_layer = {row.name: row.unzipped for row in self.layer.sizes.distributions}
        locked, stats = self.locked, self.layer.stats
        return {
            "target": self.target.to_json(),
            "layout": self.layout.value,
            "output": str(self.output),
            "lock": str(self.request.lock_output) if self.request.lock_output else None,
            "packages": [
                {
                    "name": dist.name,
                    "version": dist.version,
                    "wheel": dist.wheel,
                    "unzipped_bytes": in_layer.get(dist.name, dist.unzipped_bytes),
                }
                for dist in self.distributions
            ],
            "zipped_bytes": stats.zipped_bytes,
            "sha256": self.sha256,
            "base64sha256": self.base64sha256,
            "unzipped_bytes": stats.unzipped_bytes,
            "files": stats.files,
            "downloads": self.fetched.downloads,
            "downloaded_bytes": self.fetched.downloaded_bytes,
            "backoffs": [
                {
                    "package": item.package,
                    "chosen": item.chosen,
                    "newest_excluded": item.newest_excluded,
                }
                for item in locked.backoffs
            ],
            "notices": list(self.notices),
            "slim_saved_bytes": dict(sorted(self.contents.saved.items())),
            "bytecode": {
                "compiled": self.contents.compiled,
                "python": str(self.compiler.path) if self.compiler else None,
            },
            "provided": {
                "by": [item.source for item in locked.sources],
                "packages": dict(sorted(locked.provided.items())),
            },
            "base_layers": [{"arn": arn, "ssm_parameter": ssm} for arn, ssm in self.base_layers],
            "version_notes": [
                {
                    "package": note.package,
                    "chosen": note.chosen,
                    "newest": note.newest,
                    "reason": note.reason,
                }
                for note in locked.notes
            ],
            "sizes": self.layer.sizes.to_json(),
            "check": self.check_report.to_json() if self.check_report else None,
            "beneath_compared": None
            if self.compared is None
            else {
                "beneath": [
                    {"source": name, "at_least_bytes": size} for name, size in self.compared.beneath
                ],
                "with_beneath_bytes": self.compared.with_beneath,
                "alone_bytes": self.compared.alone_bytes,
                "larger": self.compared.larger,
            },
            "seconds": round(self.seconds, 3),
            "timings": self.timings,
            "fragments_computed": self.contents.fragments_computed,
        }
