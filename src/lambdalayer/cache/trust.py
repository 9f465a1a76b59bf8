"""What the cache may be trusted with: the rules, in one place (SECURITY.md says why).

- **Wheels** are addressed by their sha256 and verified on every use: whoever wrote them,
  a wheel whose bytes differ is never used.
- **Derived entries** (fragments, resolutions, check and import results, roots, trees,
  unpacked images, records) cannot be verified from their content. One is used only when
  the cache's directory, its bucket, the entry and every directory between are owned by
  this user and writable by no one else (the user's own private group aside) — else it is
  set aside and made again. The cache's own directory failing that rule is an error: a
  cache another user can write is not this user's cache.
- **A cache key** (``LAMBDALAYER_CACHE_KEY``, or ``LAMBDALAYER_CACHE_KEY_FILE`` naming a
  file outside the cache — a CI secret) adds a keyed MAC (HMAC-SHA256) of every derived
  entry's content, written when the entry is made and checked when it is used: an entry
  changed since, or made without the key, is made again. A CI cache restored by the
  runner's own user passes the ownership rule; the MAC is how a team protects it further.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from lambdalayer.errors import CacheError
from lambdalayer.fsutil import read_small_file
from lambdalayer.zipnames import printable

KEY_ENV = "LAMBDALAYER_CACHE_KEY"
KEY_FILE_ENV = "LAMBDALAYER_CACHE_KEY_FILE"
_KEY_FILE_LIMIT = 4096


def _private_group(facts: os.stat_result) -> bool:
    """Whether the file's group is this user's own private group (a group-writable file
    there is writable by this user only)."""
    return facts.st_gid == os.getegid() and facts.st_gid == os.geteuid()


def safe_owner(facts: os.stat_result) -> bool:
    """Owned by this user, and writable by no other (the user's private group aside)."""
    if facts.st_uid != os.geteuid():
        return False
    if facts.st_mode & stat.S_IWOTH:
        return False
    return not (facts.st_mode & stat.S_IWGRP) or _private_group(facts)


def check_root(root: Path) -> None:
    """Refuse a cache directory another user owns or may write (``CacheError``)."""
    try:
        facts = root.lstat()
    except FileNotFoundError:
        return
    except OSError as error:
        raise CacheError(
            f"cannot use the cache at {root}: {error.strerror or error}",
            hint="set LAMBDALAYER_CACHE_DIR (or --cache-dir) to a directory of your own",
        ) from error
    if stat.S_ISLNK(facts.st_mode) or not stat.S_ISDIR(facts.st_mode):
        raise CacheError(
            f"the cache at {printable(str(root))} is "
            + ("a symbolic link" if stat.S_ISLNK(facts.st_mode) else "not a directory")
            + ": whoever can change it would decide where lambdalayer writes and what it reads",
            hint="give the real directory (--cache-dir or LAMBDALAYER_CACHE_DIR)",
        )
    if not safe_owner(facts):
        whose = "another user owns it" if facts.st_uid != os.geteuid() else "others may write it"
        raise CacheError(
            f"the cache at {root} cannot be trusted: {whose}, so whoever writes there would"
            " decide what goes into your layers",
            hint="use a cache of your own (LAMBDALAYER_CACHE_DIR or --cache-dir), or make this"
            " one yours: chown it and chmod go-w",
        )


def owned_chain(root: Path, entry: Path) -> bool:
    """Whether ``entry`` and every directory from ``root`` down to it pass :func:`safe_owner`."""
    try:
        relative = entry.relative_to(root)
    except ValueError:
        return False
    place = root
    for part in relative.parts:
        place = place / part
        try:
            facts = place.lstat()
        except OSError:
            return False
        if not safe_owner(facts):
            return False
    return True


def cache_key(environ: Mapping[str, str], root: Path) -> bytes | None:
    """The user's cache key, if one is configured (``None``: ownership is the only rule)."""
    if environ.get(KEY_ENV):
        return os.fsencode(environ[KEY_ENV])  # the bytes the environment holds, any encoding
    named = environ.get(KEY_FILE_ENV)
    if not named:
        return None
    path = Path(named)
    try:
        if path.resolve().is_relative_to(root.resolve()):
            raise CacheError(
                f"{KEY_FILE_ENV}={path} is inside the cache it protects",
                hint="keep the key outside the cache (a CI secret, a file in your home)",
            )
        key = read_small_file(path, _KEY_FILE_LIMIT + 1)
    except OSError as error:
        raise CacheError(
            f"cannot read the cache key {KEY_FILE_ENV}={path}: {error.strerror or error}",
            hint=f"point {KEY_FILE_ENV} at a readable file, or unset it",
        ) from error
    if len(key) > _KEY_FILE_LIMIT or not key.strip():
        raise CacheError(
            f"{KEY_FILE_ENV}={path} is {'empty' if not key.strip() else 'over 4 KiB'}: not a key",
            hint="put a random secret of 32 or more bytes in it",
        )
    return key.strip()


def real_directory(path: Path) -> bool:
    """Whether ``path`` is a directory itself, not a link to one (nor anything else)."""
    try:
        return stat.S_ISDIR(path.lstat().st_mode)
    except OSError:
        return False


def check_own_directory(place: Path) -> None:
    """Refuse (:class:`CacheError`) one of the cache's own directories — the locks', seals',
    trash's, a bucket's — that is there as a link or as anything but a directory: nothing is
    read, written, listed or removed through what a link names. An absent one is fine."""
    if not real_directory(place) and (place.exists() or place.is_symlink()):
        raise CacheError(
            f"{printable(str(place))} in the cache is a link or not a directory: the cache is"
            " not as lambdalayer made it, and nothing is written, listed or removed through it",
            hint="remove it (lambdalayer remakes what it needs), or use another --cache-dir",
        )


def content_digest(path: Path) -> str:
    """A digest of everything an entry holds: each file's path, type, mode and bytes (a
    symbolic link's target), in a fixed order; links are never followed."""
    digest = hashlib.sha256()
    facts = path.lstat()
    if not stat.S_ISDIR(facts.st_mode):
        _add(digest, path, ".", facts)
        return digest.hexdigest()
    for directory, dirs, files in os.walk(path):
        dirs.sort()
        here = Path(directory)
        for name in sorted(files) + sorted(dirs):
            item = here / name
            _add(digest, item, str(item.relative_to(path)), item.lstat())
    return digest.hexdigest()


def _add(digest: hashlib._Hash, path: Path, name: str, facts: os.stat_result) -> None:
    kind = stat.S_IFMT(facts.st_mode)
    digest.update(f"{name}\0{kind}\0{stat.S_IMODE(facts.st_mode):o}\0".encode())
    if stat.S_ISLNK(facts.st_mode):
        digest.update(str(path.readlink()).encode() + b"\0")
    elif stat.S_ISREG(facts.st_mode):
        with path.open("rb") as stream:
            for chunk in iter(lambda: stream.read(1 << 20), b""):
                digest.update(chunk)
        digest.update(b"\0")


def seal(key: bytes, label: str, path: Path) -> str:
    """The MAC of the entry at ``path`` under ``key`` (``label``: its bucket and key)."""
    message = f"{label}\0{content_digest(path)}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def object_seal(key: bytes, label: str, size: int, sha256: str) -> str:
    """The MAC a shared cache's object carries (:mod:`lambdalayer.cache.remote`): under
    ``key``, of its bucket and key (``label``), its payload's size and its payload's
    sha256 — so the header alone says whether the payload may be read at all, and the
    payload's bytes are then held to it exactly."""
    message = f"lambdalayer-cache 2\0{label}\0{size}\0{sha256.lower()}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()
