"""Several builds in one run: every artefact (layers, function) for every target.

The jobs run concurrently (uv resolutions and downloads overlap; the wheel cache is safe
under concurrent use: files appear by atomic rename). One failing job does not stop the
others; each outcome carries its result or its error.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from lambdalayer.builder.pipeline import Companions, build
from lambdalayer.builder.plan import Job
from lambdalayer.builder.result import BuildResult
from lambdalayer.check.findings import CheckReport
from lambdalayer.errors import (
    LambdaLayerError,
    LayerCheckError,
    leave_behind,
    left_behind,
    with_left_behind,
)
from lambdalayer.fsutil import ensure_writable_parent, remove_empty_dirs
from lambdalayer.progress import labelled

MAX_PARALLEL_JOBS = 4


@dataclass(frozen=True)
class Outcome:
    """A job with its result, or the error that stopped it."""

    job: Job
    result: BuildResult | None = None
    error: LambdaLayerError | None = None

    @property
    def failed_check(self) -> CheckReport | None:
        """The check report of a job that failed its check."""
        if isinstance(self.error, LayerCheckError):
            return self.error.report
        return None


def run_jobs(
    jobs: Sequence[Job], notify: Callable[[str], None], companions: Companions | None = None
) -> list[Outcome]:
    """Run every job (concurrently when there are several), each writing its ``companions``
    under its output's hold (:func:`~lambdalayer.builder.pipeline.build`); outcomes in the
    jobs' order.

    A single job's error is raised; with several, each outcome carries its own. Several
    run in worker threads, which a signal does not stop (Ctrl-C, SIGTERM: raised in the main
    thread alone): then the jobs not started are not, and each running one puts its
    previous output back as it ends (``abandoned``), before the signal's exception is raised.
    """
    abandoned = threading.Event()
    left: list[str] = []  # what the jobs could not put back (said with a signal's error)

    def one(job: Job) -> Outcome:
        label = f"[{job.name} {job.request.target.name}] " if len(jobs) > 1 else ""
        try:
            made = build(job.request, labelled(notify, label), companions, abandoned)
            return Outcome(job, result=made)
        except LambdaLayerError as error:
            if len(jobs) == 1:
                raise
            left.extend(left_behind(error))
            return Outcome(job, error=with_left_behind(error, error))

    if len(jobs) == 1:
        return [one(jobs[0])]
    # The jobs share output directories: create them here, once, so that one job failing
    # early cannot remove a directory another job is about to write into; remove them at
    # the end only if every job failed and they are still empty.
    created: list[Path] = []
    for job in jobs:
        for output in (job.request.output.path, job.request.lock_output):
            if output is not None:
                created += ensure_writable_parent(output)
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_JOBS, len(jobs))) as pool:
        try:
            outcomes = list(pool.map(one, jobs))
        except BaseException as stopped:  # KeyboardInterrupt, Terminated: the jobs under way stop
            abandoned.set()
            pool.shutdown(wait=True, cancel_futures=True)
            for what in left:
                leave_behind(stopped, what)
            raise
    remove_empty_dirs(created)
    return outcomes
