"""What a check is asked to do: one frozen request, which with the zip's sha256 is its cache key.

>>> request = CheckRequest(get_target("python3.12"), imports=None)  # doctest: +SKIP
>>> check(Path("layer.zip"), request).ok  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lambdalayer.cache import key_of
from lambdalayer.environment.imports import DEFAULT_IMPORT_DEADLINE
from lambdalayer.fsutil import file_sha256
from lambdalayer.interpreters import find_interpreter
from lambdalayer.runtimepackages import RuntimeTree
from lambdalayer.targets import Target

FORMAT = 4  # 4: hints name the distributions that provide a missing module


@dataclass(frozen=True)
class ImportOptions:
    """How the import stage runs (see :mod:`lambdalayer.check.importstage`).

    ``image`` is an image's root, :data:`~lambdalayer.environment.roots.HOST` for this
    machine's libraries, or ``None`` for the best root there is. ``skipped`` is a reason
    the caller already knows the imports cannot run (a layer beneath that is not here).
    ``runtime``: the runtime's own packages (boto3, …), prepared by the caller, mounted at
    ``/var/runtime`` (the check fetches nothing); ``runtime_unavailable``: why the caller
    could not prepare them, said when a module needs them.
    """

    modules: tuple[str, ...] | None = None  # None: every top-level module (or the handler)
    python: Path | None = None
    image: Path | None = None
    sandbox: str | None = None
    deadline: float = DEFAULT_IMPORT_DEADLINE
    skipped: str | None = None
    skipped_how: str | None = None  # with ``skipped``: the one thing that gets the imports run
    runtime: RuntimeTree | None = None
    runtime_unavailable: str | None = None
    projects: tuple[tuple[str, bool], ...] | None = None


@dataclass(frozen=True)
class CheckRequest:
    """Which target a zip is checked for, with what beside it, and whether imports run.

    ``with_zips`` are other layers or function packages deployed with it; ``beneath``
    names layers that are not on this machine, with their (estimated) unzipped bytes;
    ``function`` says the zip is a function package (extracted to /var/task), whose
    ``handler`` (``module.function``) must be in it and import. ``imports`` ``None``: no
    import check. ``container``: the files go into a container image (measured against
    its 10 GB, not a layer's quotas).
    """

    target: Target
    with_zips: tuple[Path, ...] = ()
    function: bool = False
    handler: str | None = None
    beneath: tuple[tuple[str, int], ...] = ()
    imports: ImportOptions | None = field(default_factory=ImportOptions)
    container: bool = False

    def cache_key(self, zip_sha256: str) -> str:
        """The key of this check of the zip with ``zip_sha256``: every field of the request,
        the other zips by their bytes, and the CPython that imports — the one of the
        layer's CPU (an aarch64 one for arm64), by its path and X.Y.Z, or none — so that a
        report made before an interpreter appeared is not reused after."""
        python = None
        if self.imports is not None:
            found = find_interpreter(
                self.target.runtime.python_version,
                explicit=self.imports.python,
                machine=self.target.machine,
            )
            python = [str(found.path), found] if found else None
        others = [file_sha256(path) for path in self.with_zips]
        return key_of(FORMAT, zip_sha256, self, others, python)
