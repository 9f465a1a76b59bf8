"""What ``check`` reports: findings with a severity, and the report that gathers them."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambdalayer.importresult import ImportResult
from lambdalayer.targets import Target


class Severity(enum.IntEnum):
    """How bad a finding is; errors fail the check."""

    ERROR = 3
    WARNING = 2
    INFO = 1

    def __str__(self) -> str:
        return self.name.lower()


class Kind(enum.StrEnum):
    """What a finding is about (``--json``'s ``kind``)."""

    PATH = "path"  # a member name that lands elsewhere when unzipped
    ZIP = "zip"  # a member no unzip reads alike
    BINARY = "binary"  # a binary for another OS, or an unreadable ELF file
    ELF_MACHINE = "elf-machine"
    ELF_LOAD = "elf-load"
    GLIBC = "glibc"
    LIBRARY = "library"  # a needed library the runtime lacks
    ABI = "abi"
    LAYOUT = "layout"
    CONTENT = "content"
    SIZE = "size"
    CONFLICT = "conflict"
    SHADOW = "shadow"  # a distribution that hides the runtime's own copy
    HANDLER = "handler"
    IMPORT = "import"


@dataclass(frozen=True)
class Finding:
    """One thing found, with the member it concerns and what to do about it."""

    severity: Severity
    kind: Kind
    message: str
    member: str | None = None
    package: str | None = None
    fix: str | None = None

    @classmethod
    def from_json(cls, document: dict[str, object]) -> Finding:
        """The finding :meth:`to_json` described."""
        return cls(
            Severity[str(document["severity"]).upper()],
            Kind(str(document["kind"])),
            str(document["message"]),
            *(
                None if document.get(key) is None else str(document[key])
                for key in ("member", "package", "fix")
            ),
        )

    def to_json(self) -> dict[str, object]:
        """JSON-ready form."""
        return {
            "severity": str(self.severity),
            "kind": self.kind.value,
            "message": self.message,
            "member": self.member,
            "package": self.package,
            "fix": self.fix,
        }


@dataclass(frozen=True)
class CheckReport:
    """Everything ``check`` found about one layer zip."""

    path: Path
    target: Target
    findings: tuple[Finding, ...]
    zipped_bytes: int
    unzipped_bytes: int
    total_unzipped_bytes: int
    imports: tuple[ImportResult, ...] = ()
    imports_skipped: str | None = None
    imports_ran_in: str | None = (
        None  # where the imports ran: this machine's libraries, or an image
    )
    runtime_wanted: tuple[str, ...] = ()  # failed for want of the runtime's packages, not given

    @property
    def errors(self) -> tuple[Finding, ...]:
        """The findings that fail the check."""
        return tuple(finding for finding in self.findings if finding.severity is Severity.ERROR)

    @property
    def ok(self) -> bool:
        """True when nothing is an error (warnings allowed)."""
        return not self.errors

    @classmethod
    def from_json(cls, document: dict[str, Any], path: Path, target: Target) -> CheckReport:
        """The report :meth:`to_json` described, for the zip now at ``path``."""
        return cls(
            path,
            target,
            tuple(Finding.from_json(item) for item in document["findings"]),
            int(document["zipped_bytes"]),
            int(document["unzipped_bytes"]),
            int(document["total_unzipped_bytes"]),
            tuple(
                ImportResult.from_json([item["module"], item["error"], item.get("facts") or {}])
                for item in document["imports"]
            ),
            document.get("imports_skipped"),
            document.get("imports_ran_in"),
            tuple(str(module) for module in document.get("runtime_wanted") or ()),
        )

    def to_json(self) -> dict[str, object]:
        """JSON-ready form, for ``--json``."""
        return {
            "path": str(self.path),
            "target": self.target.to_json(),
            "ok": self.ok,
            "zipped_bytes": self.zipped_bytes,
            "unzipped_bytes": self.unzipped_bytes,
            "total_unzipped_bytes": self.total_unzipped_bytes,
            "findings": [finding.to_json() for finding in self.findings],
            "imports": [
                {"module": item.module, "ok": item.ok, "error": item.error}
                | ({} if item.ok else {"facts": item.facts()})
                for item in self.imports
            ],
            "imports_skipped": self.imports_skipped,
            "imports_ran_in": self.imports_ran_in,
            "runtime_wanted": list(self.runtime_wanted),
        }
