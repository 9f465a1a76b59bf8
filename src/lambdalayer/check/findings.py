"""What ``check`` reports: findings with a severity, each part's verdict, and the report.

Every part of a check (names, binaries, glibc, libraries, ABI, layout, sizes, conflicts,
shadows, imports) is ``passed``, ``failed`` (an error was found) or ``not verified`` (it did
not run: why, and how to get it run). A report is ``ok`` only when every part passed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambdalayer.importresult import ImportResult
from lambdalayer.targets import Target
from lambdalayer.wording import counted


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


class Verdict(enum.StrEnum):
    """What one part of a check (or the whole check) came to."""

    PASSED = "passed"
    FAILED = "failed"
    NOT_VERIFIED = "not verified"


class Part(enum.StrEnum):
    """A part of a check, each judging some kinds of finding."""

    NAMES = "names"
    BINARIES = "binaries"
    GLIBC = "glibc"
    LIBRARIES = "libraries"
    ABI = "abi"
    LAYOUT = "layout"
    SIZES = "sizes"
    CONFLICTS = "conflicts"
    SHADOWS = "shadows"
    IMPORTS = "imports"


PART_OF_KIND = {
    Kind.PATH: Part.NAMES,
    Kind.ZIP: Part.NAMES,
    Kind.BINARY: Part.BINARIES,
    Kind.ELF_MACHINE: Part.BINARIES,
    Kind.ELF_LOAD: Part.BINARIES,
    Kind.GLIBC: Part.GLIBC,
    Kind.LIBRARY: Part.LIBRARIES,
    Kind.ABI: Part.ABI,
    Kind.LAYOUT: Part.LAYOUT,
    Kind.CONTENT: Part.LAYOUT,
    Kind.HANDLER: Part.LAYOUT,
    Kind.SIZE: Part.SIZES,
    Kind.CONFLICT: Part.CONFLICTS,
    Kind.SHADOW: Part.SHADOWS,
    Kind.IMPORT: Part.IMPORTS,
}


@dataclass(frozen=True)
class Unverified:
    """A part that did not run: why, and the one thing that gets it run (``how``)."""

    part: Part
    why: str
    how: str | None = None

    def to_json(self) -> dict[str, object]:
        """JSON-ready form."""
        return {"part": self.part.value, "why": self.why, "how": self.how}

    @classmethod
    def from_json(cls, document: dict[str, object]) -> Unverified:
        """The part :meth:`to_json` described."""
        how = document.get("how")
        return cls(
            Part(str(document["part"])), str(document["why"]), None if how is None else str(how)
        )


@dataclass(frozen=True)
class PartVerdict:
    """One part's verdict; ``detail``: where it ran (passed), how many errors (failed), or
    why it did not run (not verified, with ``how``)."""

    part: Part
    verdict: Verdict
    detail: str | None = None
    how: str | None = None

    def to_json(self) -> dict[str, object]:
        """JSON-ready form."""
        return {
            "part": self.part.value,
            "verdict": self.verdict.value,
            "detail": self.detail,
            "how": self.how,
        }


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
    unverified: tuple[Unverified, ...] = ()  # the parts that did not run
    providers_wanted: tuple[str, ...] = ()  # index projects a missing module's hint could name
    container: bool = False  # a container image's: the total is the whole image, its base's too

    @property
    def errors(self) -> tuple[Finding, ...]:
        """The findings that fail the check."""
        return tuple(finding for finding in self.findings if finding.severity is Severity.ERROR)

    @property
    def failed(self) -> bool:
        """True when something is an error: the layer would fail on Lambda."""
        return bool(self.errors)

    @property
    def verdict(self) -> Verdict:
        """Failed when anything is an error, else not verified when a part did not run, else passed."""
        if self.failed:
            return Verdict.FAILED
        return Verdict.NOT_VERIFIED if self.unverified else Verdict.PASSED

    @property
    def ok(self) -> bool:
        """True only when every part ran and passed (warnings allowed)."""
        return self.verdict is Verdict.PASSED

    @property
    def parts(self) -> tuple[PartVerdict, ...]:
        """Every part's verdict, in :class:`Part`'s order."""
        verdicts = []
        for part in Part:
            errors = sum(PART_OF_KIND[finding.kind] is part for finding in self.errors)
            unverified = next((item for item in self.unverified if item.part is part), None)
            if errors:
                verdicts.append(PartVerdict(part, Verdict.FAILED, counted(errors, "error")))
            elif unverified is not None:
                verdicts.append(
                    PartVerdict(part, Verdict.NOT_VERIFIED, unverified.why, unverified.how)
                )
            else:
                ran_in = self.imports_ran_in if part is Part.IMPORTS else None
                verdicts.append(PartVerdict(part, Verdict.PASSED, ran_in))
        return tuple(verdicts)

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
            tuple(Unverified.from_json(item) for item in document.get("unverified") or ()),
            tuple(str(name) for name in document.get("providers_wanted") or ()),
            bool(document.get("container", False)),
        )

    def to_json(self) -> dict[str, object]:
        """JSON-ready form, for ``--json``."""
        return {
            "path": str(self.path),
            "target": self.target.to_json(),
            "ok": self.ok,
            "verdict": self.verdict.value,
            "parts": [part.to_json() for part in self.parts],
            "unverified": [item.to_json() for item in self.unverified],
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
            "providers_wanted": list(self.providers_wanted),
            "container": self.container,
        }
