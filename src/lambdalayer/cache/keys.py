"""Cache keys derived from the frozen requests a result depends on — never listed by hand.

:func:`key_of` walks dataclasses field by field, so a field added to a request changes
every key made from it; a field that does not change the result (where the runtime's
packages are downloaded from, say) is left out explicitly with :data:`NOT_KEYED` and a
comment saying why. An object whose identity is not its fields (an interpreter is its
X.Y.Z, a zip beside a layer is its bytes) says what stands for it in ``cache_identity()``.
lambdalayer's own code (:func:`~lambdalayer.identity.tool_identity`) is part of every key.

>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Request:
...     name: str
>>> key_of(Request("a")) == key_of(Request("a")) != key_of(Request("b"))
True
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
from collections.abc import Mapping
from pathlib import PurePath
from typing import Protocol, runtime_checkable

from lambdalayer.identity import tool_identity

# ``field(metadata=NOT_KEYED)``: the field does not change the cached result.
NOT_KEYED: Mapping[str, bool] = {"keyed": False}


@runtime_checkable
class HasCacheIdentity(Protocol):
    """An object that says what stands for it in a key (its content, its version)."""

    def cache_identity(self) -> object:
        """A value :func:`key_of` can encode in place of the object."""
        ...  # pragma: no cover


def canonical(value: object) -> object:  # noqa: PLR0911 - one return per kind of value
    """``value`` as plain JSON data, the same for equal requests on any machine.

    Raises :class:`TypeError` for a value it does not know how to key, rather than
    keying it by ``repr`` (which can hide a field that matters).
    """
    if isinstance(value, HasCacheIdentity):
        return canonical(value.cache_identity())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = [field for field in dataclasses.fields(value) if field.metadata.get("keyed", True)]
        return {
            "__type__": type(value).__qualname__,
            **{field.name: canonical(getattr(value, field.name)) for field in fields},
        }
    if isinstance(value, enum.Enum):
        return [type(value).__qualname__, canonical(value.value)]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, bytes):
        return hashlib.sha256(value).hexdigest()
    if isinstance(value, list | tuple):
        return [canonical(item) for item in value]
    if isinstance(value, set | frozenset):
        return sorted((canonical(item) for item in value), key=_sort_key)
    if isinstance(value, Mapping):
        return sorted(([canonical(k), canonical(v)] for k, v in value.items()), key=_sort_key)
    raise TypeError(f"a cache key cannot hold a {type(value).__name__}: {value!r:.60}")


def _sort_key(item: object) -> str:
    return json.dumps(item, sort_keys=True)


def key_of(*parts: object) -> str:
    """The sha256 (hex) of ``parts`` and lambdalayer's own code: the key of what they make."""
    document = [tool_identity(), *(canonical(part) for part in parts)]
    encoded = json.dumps(document, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()
