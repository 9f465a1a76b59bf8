"""The one exception tree of lambdalayer.

Every failure the user can act on is a :class:`LambdaLayerError`; the CLI prints its
``message`` as one ``error:`` line and its ``hint`` (when there is one) as a ``hint:``
line, and exits non-zero. Anything else escaping the library is a bug.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the type only: the core never imports the check package at run time
    from lambdalayer.check.findings import CheckReport


def option(setting: str, value: object | None = None) -> str:
    """How a library message names a setting its caller can change: ```Class.field```, or
    ```Class.field=value``` — a library caller reads what to set; the command line puts its
    own flag there (its table: :mod:`lambdalayer.cli.flags`).

    >>> option("BuildRequest.check", False)
    '`BuildRequest.check=False`'
    """
    return f"`{setting}`" if value is None else f"`{setting}={value}`"


_LEFT_BEHIND = "left behind: "


def leave_behind(error: BaseException, what: str) -> None:
    """Note on ``error``, as it propagates, ``what`` it leaves for the user to put right by
    hand (a file a failed build could not put back): :func:`left_behind` reads it."""
    error.add_note(_LEFT_BEHIND + what)


def left_behind(error: BaseException) -> list[str]:
    """What ``error`` left for the user to put right by hand (:func:`leave_behind`), each
    said as a hint; the command line says them whatever the error (Ctrl-C, SIGTERM too)."""
    notes: list[str] = getattr(error, "__notes__", [])
    return [note.removeprefix(_LEFT_BEHIND) for note in notes if note.startswith(_LEFT_BEHIND)]


class LambdaLayerError(Exception):
    """Root of every error lambdalayer reports to a user."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def with_left_behind(error: LambdaLayerError, raised: BaseException) -> LambdaLayerError:
    """``error`` (said for ``raised``) with what ``raised`` left to put right by hand
    (:func:`left_behind`) first in its hint."""
    if left := left_behind(raised):
        error.hint = "; ".join([*left, *([error.hint] if error.hint else [])])
    return error


class TargetError(LambdaLayerError):
    """An unknown runtime or an architecture the runtime does not offer."""


class InputError(LambdaLayerError):
    """A requirement, requirements file or lock file that cannot be used."""


class InputTooLargeError(InputError):
    """An input over the bound it is read to (``limit`` bytes)."""

    def __init__(self, message: str, *, limit: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.limit = limit


class ResolutionError(LambdaLayerError):
    """No set of wheels satisfies the requirements for the target."""

    def __init__(
        self, message: str, *, hint: str | None = None, package: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.package = package


class SourceOnlyError(ResolutionError):
    """A package published only as a source distribution (no wheel at all)."""


class FetchError(LambdaLayerError):
    """A wheel could not be downloaded, or its content did not match its hash."""

    def __init__(self, message: str, *, hint: str | None = None, url: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.url = url


class AssembleError(LambdaLayerError):
    """A wheel that cannot be laid out in a layer (bad paths, wrong tags, broken file)."""


class OutputError(LambdaLayerError):
    """The output path cannot be written."""


class LayerCheckError(LambdaLayerError):
    """A layer that would not load on its runtime; ``report`` (when the check ran) says why."""

    def __init__(
        self, message: str, report: CheckReport | None, *, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.report = report


class SourceBuildError(ResolutionError):
    """A source-only package whose build contains native code (it would be for this machine)."""


class CacheError(LambdaLayerError):
    """The cache cannot be used: not writable, not owned by this user, or damaged beyond repair."""


class AwsError(LambdaLayerError):
    """An AWS call that failed, with the error code when AWS gave one."""

    def __init__(self, message: str, *, hint: str | None = None, code: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.code = code


class AttachError(LambdaLayerError):
    """Attaching would exceed a limit or break the function."""


class TransientError(Exception):
    """A network failure worth another attempt (dropped connection, 5xx, timeout).

    Internal to the HTTP layer: after the last attempt it becomes a :class:`FetchError`.
    """


class UnsafeArchiveError(InputError):
    """An archive (zip, tar layer) with a member that may not be unpacked as it says: outside
    its root, a link out, a device, past its quota, or damaged."""


class AdvisoryError(LambdaLayerError):
    """An index's vulnerability answer that is not what its JSON API gives."""


class PolicyError(LambdaLayerError):
    """What ships breaks the project's policy: a known vulnerability, a denied licence.

    ``review`` is the review's JSON, for ``--json``'s error document.
    """

    def __init__(
        self, message: str, *, hint: str | None = None, review: dict[str, object] | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.review = review


class ProvenanceError(LambdaLayerError):
    """A provenance statement that cannot be read, or that the artefact does not match."""


class RequestRefused(Exception):  # noqa: N818 - a request refused, not a failure of ours
    """A request to the Runtime API's server that is not HTTP it reads: answered with
    ``status`` (a 4xx) and the connection closed. Internal to that server."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ClientGone(Exception):  # noqa: N818 - the client left: nothing to answer
    """A Runtime API client that closed its connection or was too slow. Internal."""


class TrimError(LambdaLayerError):
    """A trimmed artefact that does not answer a traced event as the untrimmed one did (the
    event, and the first file access that differed), or a trace that could not be made."""
