"""``--cache-url``: the fleet's shared cache around a plan and its build.

Opens the store the URL names (``s3://bucket/prefix`` through the AWS chain and the
proxy settings, ``file:///mount`` for a share) and, while the plan and the build run,
reads through it by key: each resolution, wheels' sizes, check result or fragment the
local cache misses is asked of the store then (under the team's cache key only), so a
job reads what its own plan and build need and nothing else the store holds. It hands
the plan a read-through for wheels (each verified by its sha256), then the build the
zips of the artefacts it is about to make (by their inputs' stamp; the plan's wheels
only when one of them is not there), and writes back the wheels the store has not and
the derived entries this run used — made, or read from a warm local cache — that the
store has not (each asked by name; :mod:`lambdalayer.cache.remote`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

from lambdalayer.aws.client import AwsSettings
from lambdalayer.aws.s3store import s3_store
from lambdalayer.builder.fleet import FleetPlan
from lambdalayer.cache.buckets import Bucket
from lambdalayer.cache.remote import FleetCache, RemoteStore, file_store
from lambdalayer.cache.store import Cache
from lambdalayer.errors import InputError
from lambdalayer.lock import LockedWheel


def open_store(url: str, aws: AwsSettings) -> RemoteStore:
    """The remote store ``url`` names."""
    if url.startswith("s3://"):
        return s3_store(url, aws)
    if url.startswith("file://"):
        return file_store(url)
    raise InputError(
        f"{url!r:.100} is not the URL of a shared cache (s3://bucket/prefix, file:///path)",
        hint="e.g. s3://my-ci-cache/lambdalayer (credentials from the usual AWS chain)",
    )


class SharedCache(FleetCache):
    """The fleet's cache around one plan: wheels read through, everything written back."""

    needed: Sequence[LockedWheel] = ()  # the plan's wheels, once it is made

    def planned(self, plan: FleetPlan) -> None:
        """The plan is made: its wheels are what a build here may need."""
        self.needed = plan_wheels(plan)

    def write_back(self, plan: FleetPlan) -> None:
        """Write back the plan's wheels the store has not and the derived entries used here
        that it has not."""
        self.push_wheels(plan_wheels(plan))
        self.push_derived()

    def pull_artefacts(self, stamps: Sequence[str]) -> None:
        """Bring the zips of ``stamps`` the store has; when one is missing (it will be built
        here), the plan's wheels too (its fragments are read through as the build asks)."""
        if self.pull_entries(Bucket.ARTEFACTS, stamps):
            self.pull_wheels(self.needed)


def plan_wheels(plan: FleetPlan) -> list[LockedWheel]:
    """The wheel of every package of every lock of ``plan``."""
    return [
        package.wheels[0]
        for target in plan.targets
        for lock in target.locks.values()
        for package in lock.packages
    ]


@contextlib.contextmanager
def shared_cache(url: str, aws: AwsSettings, cache_dir: Path) -> Iterator[SharedCache]:
    """The local cache at ``cache_dir`` read through from the store at ``url`` while the block
    runs. Write back with :meth:`SharedCache.write_back`."""
    with shared_store(open_store(url, aws), cache_dir) as shared:
        yield shared


@contextlib.contextmanager
def shared_store(store: RemoteStore, cache_dir: Path) -> Iterator[SharedCache]:
    """The local cache at ``cache_dir`` read through from ``store`` by key while the block
    runs (each entry a lookup misses, when it misses)."""
    with Cache.open(cache_dir) as cache:
        shared = SharedCache(store, cache)
        with shared.reading_through():
            yield shared
