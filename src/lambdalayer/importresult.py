"""What importing one module did, as data: the environment's import runs produce it, the
check judges it, a report keeps it (``[module, error, facts]`` in JSON)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ImportResult:
    """One module's import: ``error`` is the exception's last line as Python prints it (or
    ``None`` if it worked), and what it says as data (from the child: nothing reads the
    message again).

    ``missing``: the module the exception itself did not find (a ``ModuleNotFoundError``);
    ``wanted``: every module not found along its chain of causes; ``piece``: the name a
    namespace package lacks (``google.cloud.bigquery_storage``); ``no_callable``: the
    attribute a handler module lacks; ``imported``: the whole dotted name the failing import
    statement asked for (``ruamel.yaml`` where Python says only ``No module named 'ruamel'``);
    ``where``: the file and line the exception was raised at. ``seen`` and ``absent``: the
    top-level names loaded, and looked for in vain, by every import of the child so far —
    what a reused result is keyed by (:mod:`lambdalayer.check.reuse`); not kept in reports.
    """

    module: str
    error: str | None
    missing: str | None = None
    wanted: tuple[str, ...] = ()
    piece: str | None = None
    no_callable: str | None = None
    imported: str | None = None
    where: str | None = None
    seen: tuple[str, ...] | None = None  # None: not recorded (a report read back, a time-out)
    absent: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether the import succeeded."""
        return self.error is None

    @classmethod
    def from_json(cls, item: Sequence[Any]) -> ImportResult:
        """A results line of the child, or a report's: ``[module, error, facts]``."""
        module, error = str(item[0]), None if item[1] is None else str(item[1])
        facts = item[2] if len(item) > 2 and isinstance(item[2], dict) else {}
        return cls(
            module,
            error,
            facts.get("missing"),
            tuple(str(name) for name in facts.get("wanted") or ()),
            facts.get("piece"),
            facts.get("no_callable"),
            facts.get("imported"),
            facts.get("where"),
        )

    def facts(self) -> dict[str, object]:
        """What :meth:`from_json` reads back as the third item."""
        return {
            "missing": self.missing,
            "wanted": list(self.wanted),
            "piece": self.piece,
            "no_callable": self.no_callable,
            "imported": self.imported,
            "where": self.where,
        }
