"""Where submissions are graded: a pool of processes on this machine, or an existing Dask cluster.

Both take jobs and yield Outcomes as they finish; the worker function (grader.execute.grade) gets everything
as bytes and returns everything as data, so a remote worker needs no shared disk or database access.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool

from .execute import Job, Limits, Outcome, Template, grade


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _crashed(job: Job, error: BaseException) -> Outcome:
    return Outcome(job.student, job.digest, "error", f"the grading worker crashed: {type(error).__name__}: {error}",
                   timestamp=job.timestamp)


def local(jobs: Iterable[Job], template: Template, limits: Limits, workers: int) -> Iterator[Outcome]:
    """Grade on this machine, `workers` submissions at a time. A worker process that dies (the machine's
    OOM killer) breaks the pool; the unfinished jobs are retried once in a fresh pool."""
    pending = {job.student: job for job in jobs}
    attempts = dict.fromkeys(pending, 0)
    while pending:
        context = multiprocessing.get_context("spawn")  # no fork of a threaded parent
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = {pool.submit(grade, job, template, limits): job for job in pending.values()}
            for student in pending:
                attempts[student] += 1
            try:
                for future in as_completed(futures):
                    job = futures[future]
                    try:
                        outcome = future.result()
                    except BrokenProcessPool:
                        raise
                    except Exception as e:  # pickling trouble and the like: report it, go on
                        outcome = _crashed(job, e)
                    del pending[job.student]
                    yield outcome
            except BrokenProcessPool as e:
                for student in [s for s in pending if attempts[s] >= 2]:
                    yield _crashed(pending.pop(student), e)


def dask(jobs: Iterable[Job], template: Template, limits: Limits, scheduler: str) -> Iterator[Outcome]:
    """Grade on the Dask cluster whose scheduler listens at `scheduler` (e.g. tcp://10.0.0.5:8786).

    The template goes to every worker once; each job carries its own files. Start workers with
    `--nthreads 1` and as many workers per machine as it has cores."""
    from distributed import Client
    from distributed import as_completed as dask_completed

    with Client(scheduler, timeout="30s") as client:
        shared = client.scatter(template, broadcast=True)
        futures = {client.submit(grade, job, shared, limits, pure=False, key=f"grade-{job.student}-{job.digest[:16]}"): job
                   for job in jobs}
        for future in dask_completed(futures):
            job = futures[future]
            try:
                outcome = future.result()
            except Exception as e:  # a worker lost with the job on it, after Dask's own retries
                outcome = _crashed(job, e)
            yield outcome
