"""``--on-top-of``: what a layer is built on top of, parsed where it is read.

``aws-sdk-pandas`` (AWS's managed layer, its newest release the data knows) or
``aws-sdk-pandas==3.17.1``; ``layer:PATH.zip`` (any layer zip); ``layer:arn:aws:lambda:…``
(a published layer version). A spec that is none of these is one error here, not a
surprise deep in the build.

>>> OnTopOf.parse("aws-sdk-pandas==3.17.1")
OnTopOf(kind=<Beneath.MANAGED: 'managed'>, value='3.17.1')
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from lambdalayer.errors import InputError

MANAGED = "aws-sdk-pandas"


class Beneath(enum.StrEnum):
    """Which kind of layer is beneath."""

    MANAGED = "managed"  # value: the release, or None for the newest the data knows
    LAYER_ZIP = "layer-zip"  # value: the zip's path
    PUBLISHED = "published"  # value: the layer version's ARN


@dataclass(frozen=True)
class OnTopOf:
    """A parsed ``--on-top-of`` (or ``on-top-of`` in the configuration)."""

    kind: Beneath
    value: str | None = None

    @classmethod
    def parse(cls, spec: str, where: str = "--on-top-of") -> OnTopOf:
        """The layer ``spec`` names; one :class:`InputError` naming ``where`` when it names none."""
        text = spec.strip()
        if text == MANAGED:
            return cls(Beneath.MANAGED)
        if text.startswith(f"{MANAGED}==") and text.removeprefix(f"{MANAGED}==").strip():
            return cls(Beneath.MANAGED, text.removeprefix(f"{MANAGED}==").strip())
        if text.startswith("layer:arn:"):
            return cls(Beneath.PUBLISHED, text.removeprefix("layer:"))
        if text.startswith("layer:") and text.removeprefix("layer:"):
            return cls(Beneath.LAYER_ZIP, text.removeprefix("layer:"))
        raise InputError(
            f"{where} {spec!r:.80} names no layer",
            hint=f"use {MANAGED}, {MANAGED}==VERSION, layer:PATH.zip or"
            " layer:arn:aws:lambda:REGION:ACCOUNT:layer:NAME:N",
        )

    @property
    def zip_path(self) -> Path | None:
        """The layer zip on this machine, for ``layer:PATH.zip``."""
        return Path(self.value) if self.kind is Beneath.LAYER_ZIP and self.value else None

    def __str__(self) -> str:
        if self.kind is Beneath.MANAGED:
            return f"{MANAGED}=={self.value}" if self.value else MANAGED
        return f"layer:{self.value}"
