"""``--cache-url``: the fleet's shared cache around a plan and its build.

Opens the store the URL names (``s3://bucket/prefix`` through the AWS chain and the
proxy settings, ``file:///mount`` for a share), pulls the resolutions and check results
it holds before the plan (under the team's cache key only), hands the plan a read-through
for wheels (each verified by its sha256), then the build the zips of the artefacts it is
about to make (by their inputs' stamp; the fragments only when one of them is not
there), and writes back what this run has that the store has not
(:mod:`lambdalayer.cache.remote`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

from lambdalayer.aws.client import AwsSettings
from lambdalayer.aws.s3store import s3_store
from lambdalayer.builder.fleet import FleetPlan
from lambdalayer.cache.buckets import Bucket
from lambdalayer.cache.remote import PULLED_FIRST, FleetCache, RemoteStore, file_store
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
        """Write back the plan's wheels and every trusted derived entry the store has not."""
        self.push_wheels(plan_wheels(plan))
        self.push_derived()

    def pull_artefacts(self, stamps: Sequence[str]) -> None:
        """Bring the zips of ``stamps`` the store has; when one is missing (it will be built
        here), the fragments and the plan's wheels too."""
        if self.pull_entries(Bucket.ARTEFACTS, stamps):
            self.pull_derived((Bucket.FRAGMENTS,))
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
    runs; derived entries pulled first. Write back with :meth:`SharedCache.write_back`."""
    store = open_store(url, aws)
    with Cache.open(cache_dir) as cache:
        shared = SharedCache(store, cache)
        shared.pull_derived(PULLED_FIRST)
        yield shared
