"""Where submissions are graded: a pool of processes on this machine, or an existing Dask cluster.

Both take jobs and yield Outcomes as they finish; the worker function (grader.pipeline.execute.grade) gets everything
as bytes and returns everything as data, so a remote worker needs no shared disk or database access.

Before a cluster grades anything, `probe` checks that it can: the scheduler and every worker import this
grader (a scheduler without it cannot even read a grading task), with the same versions of what a grade
depends on, and says how each worker confines student code. A cluster that cannot grade stops the run with
one sentence (ClusterProblem) before anything is recorded.
"""

from __future__ import annotations

import functools
import hashlib
import multiprocessing
import os
import platform
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # (grader.pipeline.execute imports nbgrader: seconds; the command line's checks must not wait for it)
    from grader.pipeline.jobs import Job, Limits, Outcome, Template

GRADER = Path(__file__).resolve().parent.parent  # the grader package, whose source every worker must share
CONNECT_TIMEOUT_S = 5  # an unreachable scheduler is said after this long
WORKERS_TIMEOUT_S = 30  # a scheduler without workers, after this long
PROBE_TIMEOUT_S = 120  # the probe task itself (a worker's first import of nbgrader can take a while)
# What a grade depends on: these must be the same on every machine that grades (the source digest covers
# the grader, the hidden tests and the course package).
PACKAGES = ("nbgrader", "nbclient", "nbformat", "ipykernel", "keras", "tensorflow", "torch", "jax", "numpy",
            "distributed", "resnet-course")
START_WORKERS = "PYTHONPATH=<this repository> dask worker {address} --nthreads 1"


# grader.isolation.sandbox.mode() of a worker, said in words
CONFINEMENT = {"bwrap-user": "in a root of their own (bubblewrap) with a user id of their own",
               "bwrap": "in a root of their own (bubblewrap) but the worker's user id",
               "user": "with a user id of their own and a private view of the files",
               "namespace": "with a private view of the files but the worker's user id",
               "limits": "with resource limits only (no Linux namespaces)"}


class Problem(Exception):
    """Something the instructor must do first (collect, fix the cluster); the message says what, in one line."""


class ClusterProblem(Problem):
    """The cluster cannot grade (unreachable, no workers, a scheduler or worker without the grader or with
    other versions); the message is one sentence for the instructor."""


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _crashed(job: Job, error: BaseException) -> Outcome:
    from grader.pipeline.jobs import Outcome

    return Outcome(job.student, job.digest, "error", f"the grading worker crashed: {type(error).__name__}: {error}",
                   timestamp=job.timestamp)


_GRADING = False  # in a pool worker: a submission is being graded


def _grade_here(job: Job, template: Template, limits: Limits) -> Outcome:
    global _GRADING
    from grader.pipeline.execute import grade

    _GRADING = True
    try:
        return grade(job, template, limits)
    finally:
        _GRADING = False


def _on_ctrl_c(signum, frame) -> None:
    """Ctrl-C reaches every process of the terminal's group, pool workers included: a worker stops its kernels
    at once and goes quietly (the coordinator says what was recorded). Grading, it unwinds (its scratch
    folders are removed); idle, it just ends."""
    from grader.isolation.processes import kill_descendants

    kill_descendants()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)  # no traceback from a worker that is going away
    if _GRADING:
        raise KeyboardInterrupt
    os._exit(130)


def _pool_worker() -> None:
    import signal

    # (a handler, not SIG_IGN: kernels started from here get the default disposition back at exec, as before)
    signal.signal(signal.SIGINT, _on_ctrl_c)


def _stop(pool: ProcessPoolExecutor, grace_s: float = 3.0) -> None:
    """End a pool's workers: a few seconds to unwind by themselves (Ctrl-C reached them too), then killed;
    their kernels die with them (grader.isolation.sandbox: PR_SET_PDEATHSIG)."""
    import time

    processes = list((getattr(pool, "_processes", None) or {}).values())
    deadline = time.monotonic() + grace_s
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
    for process in processes:
        if process.is_alive():
            process.kill()


def local(jobs: Iterable[Job], template: Template, limits: Limits, workers: int) -> Iterator[Outcome]:
    """Grade on this machine, `workers` submissions at a time. A worker process that dies (the machine's
    OOM killer) breaks the pool; the unfinished jobs are retried once in a fresh pool. Ctrl-C stops the
    workers and their kernels within seconds; nothing unfinished is recorded (the caller records outcomes)."""
    pending = {job.student: job for job in jobs}
    attempts = dict.fromkeys(pending, 0)
    while pending:
        context = multiprocessing.get_context("spawn")  # no fork of a threaded parent
        with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_pool_worker) as pool:
            futures = {pool.submit(_grade_here, job, template, limits): job for job in pending.values()}
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
            except BaseException:  # Ctrl-C or the caller stopping: do not wait for what nobody will record
                for future in futures:
                    future.cancel()
                _stop(pool)
                raise


# ---------------------------------------------------------------------------------------------------------
# Dask


@functools.cache
def _source_digest() -> str:
    """sha256 of the grader's and the course package's files: another checkout grades differently."""
    import resnet_course

    digest = hashlib.sha256()
    for package in (GRADER, Path(resnet_course.__file__).resolve().parent):
        for path in sorted(package.rglob("*")):
            if path.is_file() and path.suffix in (".py", ".json") and "__pycache__" not in path.parts:
                digest.update(path.relative_to(package.parent).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def facts(sandbox: bool = True) -> dict:
    """What a grading process here runs: Python, the versions of PACKAGES, the grader's source digest and
    (sandbox=True) how it confines student code (grader.isolation.sandbox.mode). Imports what a grading task names
    (grader.pipeline.execute, hence nbgrader): a process that cannot, cannot read one."""
    from importlib import metadata

    from grader.pipeline import execute  # noqa: F401

    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    out = {"python": platform.python_version(), "versions": versions, "source": _source_digest(),
           "grader": str(GRADER), "host": platform.node()}
    if sandbox:
        from grader.isolation.kernelspec import confinement

        out["sandbox"] = confinement()
    return out


# Evaluated on the scheduler and workers by the built-in eval, which any Python can unpickle: the probe must
# reach a process that cannot import the grader to tell that it cannot.
_FACTS_THERE = "__import__('grader.pipeline.executors', fromlist=['facts']).facts({sandbox})"


def _differences(there: dict, here: dict, packages=PACKAGES) -> list[str]:
    out = []
    if there["python"].rsplit(".", 1)[0] != here["python"].rsplit(".", 1)[0]:
        out.append(f"Python {there['python']} (here {here['python']})")
    for name, version in here["versions"].items():
        if name in packages and there["versions"].get(name) != version:
            out.append(f"{name} {there['versions'].get(name) or 'not installed'} (here {version or 'not installed'})")
    if there["source"] != here["source"] and not out:
        out.append(f"another copy of grader/ or resnet_course/ ({there['grader']} differs from this machine's)")
    return out


def _one_line(error: BaseException) -> str:
    text = next((line.strip() for line in str(error).splitlines() if line.strip()), "")
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


@contextmanager
def connect(scheduler: str, timeout: float = CONNECT_TIMEOUT_S):
    """A Dask client of the scheduler at `scheduler`; ClusterProblem within `timeout` seconds if none answers."""
    from distributed import Client

    try:
        client = Client(scheduler, timeout=f"{timeout}s")
    except (OSError, TimeoutError, ValueError) as e:
        raise ClusterProblem(f"no Dask scheduler answered at {scheduler} within {timeout:g} s ({_one_line(e)}): "
                             "is `dask scheduler` running there, and is its port open from this machine?") from None
    try:
        yield client
    finally:
        client.close()


def probe(client, timeout: float = PROBE_TIMEOUT_S, workers_timeout: float = WORKERS_TIMEOUT_S) -> list[str]:
    """Check that the cluster behind `client` can run grading jobs; returns what to tell the instructor (one
    line per kind of worker), raises ClusterProblem with one sentence when it cannot grade."""
    address = client.scheduler.address
    here = facts(sandbox=False)
    problems = []
    try:
        scheduler = client.run_on_scheduler(eval, _FACTS_THERE.format(sandbox=False))
    except ImportError as e:
        raise ClusterProblem(f"the Dask scheduler at {address} cannot import the grader ({_one_line(e)}), so it "
                             f"cannot read grading tasks: start it from this repository with it on PYTHONPATH "
                             f"(PYTHONPATH=<this repository> dask scheduler)") from None
    except Exception:  # a scheduler that refuses run_on_scheduler: the grading-task check below still runs
        scheduler = None
    if scheduler is not None:
        # (the scheduler only reads tasks: what unpickling them needs must match)
        problems += [f"the scheduler has {d}" for d in _differences(scheduler, here, ("distributed", "nbgrader"))]
    try:
        client.wait_for_workers(1, timeout=workers_timeout)
    except TimeoutError:
        raise ClusterProblem(f"the Dask scheduler at {address} has no workers (waited {workers_timeout:g} s): start "
                             f"them with {START_WORKERS.format(address=address)}") from None
    found = client.run(eval, _FACTS_THERE.format(sandbox=True), on_error="return")
    for worker, answer in sorted(found.items()):
        if isinstance(answer, BaseException):
            problems.append(f"worker {worker} cannot import the grader ({_one_line(answer)})")
        else:
            problems += [f"worker {worker} has {d}" for d in _differences(answer, here)]
    if problems:
        hint = ("start the scheduler and workers from this repository, in the same environment, with it on "
                "PYTHONPATH (see README, On a cluster)")
        raise ClusterProblem(f"the Dask cluster at {address} cannot grade: {'; '.join(problems[:4])}"
                             f"{f' (and {len(problems) - 4} more)' if len(problems) > 4 else ''}; {hint}")
    # The way grading jobs travel (the scheduler reads the task, a worker unpickles and runs it), once per worker.
    futures = [client.submit(facts, True, workers=[w], allow_other_workers=False, pure=False, key=f"grader-probe-{w}")
               for w in sorted(found)]
    try:
        answers = [future.result(timeout=timeout) for future in futures]
    except TimeoutError:
        raise ClusterProblem(f"the Dask cluster at {address} did not run a probe task within {timeout:g} s: are its "
                             "workers busy or stuck?") from None
    except Exception as e:
        raise ClusterProblem(f"the Dask cluster at {address} cannot run grading tasks ({_one_line(e)}): start the "
                             "scheduler and workers from this repository with it on PYTHONPATH (see README, "
                             "On a cluster)") from None
    finally:
        for future in futures:
            future.release()
    threads = client.nthreads()
    modes: dict[str, int] = {}
    for answer in answers:
        modes[answer["sandbox"]] = modes.get(answer["sandbox"], 0) + 1
    notes = [f"Dask at {address}: {len(answers)} worker(s) ready; their kernels: "
             + ", ".join(f"{n} {CONFINEMENT.get(m, m)}" for m, n in sorted(modes.items()))]
    if "limits" in modes:
        notes.append(f"WARNING: {modes['limits']} Dask worker(s) have no Linux namespaces: kernels there run as the "
                     "worker's user and can read and write what it can; only the resource limits apply")
    many = sorted(w for w, n in threads.items() if n > 1)
    if many:
        notes.append(f"note: {len(many)} worker(s) have more than one thread but grade one submission at a time; "
                     "start them with --nthreads 1 and one worker per core (--nworkers)")
    return notes


def dask(jobs: Iterable[Job], template: Template, limits: Limits, client) -> Iterator[Outcome]:
    """Grade on a Dask cluster: `client` (from connect()) or the scheduler's address (e.g. tcp://10.0.0.5:8786).

    The template goes to every worker once; each job carries its own files. Start workers with
    `--nthreads 1` and as many workers per machine as it has cores."""
    from distributed import as_completed as dask_completed

    from grader.pipeline.execute import grade

    if isinstance(client, str):
        with connect(client) as connected:
            yield from dask(jobs, template, limits, connected)
        return
    shared = client.scatter(template, broadcast=True)
    futures = {client.submit(grade, job, shared, limits, pure=False, key=f"grade-{job.student}-{job.digest[:16]}"): job
               for job in jobs}
    try:
        for future in dask_completed(futures):
            job = futures[future]
            try:
                outcome = future.result()
            except Exception as e:  # a worker lost with the job on it, after Dask's own retries
                outcome = _crashed(job, e)
            yield outcome
    finally:  # Ctrl-C or the caller stopping: the cluster drops what is not finished
        client.cancel(list(futures))
