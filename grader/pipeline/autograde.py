"""Grade a class: find the submissions, skip those already graded, grade the rest in parallel (locally or on
Dask) with a progress bar, and record each outcome as it arrives. A grader error never replaces an earlier
result (grader.pipeline.record) and is retried by the next run; on a cluster, one probe checks first that it can grade
(grader.pipeline.executors.probe).

    python -m grader autograde resnet50                 # every new or changed submission, all cores
    python -m grader autograde resnet50 --force alice   # re-grade alice even if nothing changed
    python -m grader autograde resnet50 --scheduler tcp://head-node:8786
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from grader import course

from grader.pipeline import executors, record
from grader.pipeline.jobs import Job, Limits, Template

SKIPPED_FILES = {"timestamp.txt", "submission.json"}  # (nbgrader's, and collect's note of the LMS's details)
SKIPPED_DIRS = {".ipynb_checkpoints", "__pycache__"}


Problem = executors.Problem  # something the instructor must do first, said in one line

class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a run; `summary` holds what was recorded before it (each result is recorded whole)."""

    def __init__(self, summary: "Summary", remaining: int):
        super().__init__()
        self.summary, self.remaining = summary, remaining


@dataclass
class Summary:
    graded: list[dict] = field(default_factory=list)  # status records of the submissions graded in this run
    skipped: list[str] = field(default_factory=list)  # unchanged since their last grading
    wall_s: float = 0.0
    notes: list[str] = field(default_factory=list)  # what the cluster probe found

    @property
    def statuses(self) -> Counter:
        return Counter(r["status"] for r in self.graded)

    @property
    def errors(self) -> list[dict]:
        """Records of this run's grader errors (each with "kept": the earlier status, where one was kept)."""
        return [r for r in self.graded if r["status"] == "error"]

    def error_line(self, assignment: str) -> str | None:
        """One line for the end of a run that hit grader errors (None when it hit none)."""
        errors = self.errors
        if not errors:
            return None
        kept = sum(1 for r in errors if r.get("kept"))
        earlier = f"earlier grades kept for {kept}" if kept else "no earlier grades to keep"
        if kept == len(errors):
            earlier = "earlier grades kept"
        first = errors[0]["message"]
        return (f"{len(errors)} of {len(self.graded)} submissions hit an error of the grader; {earlier}; rerun to "
                f"retry (python -m grader autograde {assignment}); first error: {first}")


def students(root: Path, assignment: str) -> list[str]:
    submitted = Path(root) / "submitted"
    return sorted(p.name for p in submitted.iterdir() if (p / assignment).is_dir()) if submitted.exists() else []


def _files(folder: Path):
    """(relative name, path) of every file of a submission that is graded, in name order."""
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if path.is_file() and not path.is_symlink() and relative.as_posix() not in SKIPPED_FILES \
                and not SKIPPED_DIRS & set(relative.parts):
            yield relative.as_posix(), path


def job(root: Path, assignment: str, student: str) -> Job:
    folder = Path(root) / "submitted" / student / assignment
    files = {name: path.read_bytes() for name, path in _files(folder)}
    stamp = folder / "timestamp.txt"
    timestamp = stamp.read_text().strip() if stamp.is_file() else None
    return Job(student, files, timestamp or None)


DIGESTS = "digests.cache"  # (in grading/<assignment>/: not *.json, which are the status files)
RACY_S = 2.0  # a file changed this recently may change again within the same mtime tick: never cached


class Digests:
    """Job.digest of each submission without reading its bytes when nothing changed: each file's sha256 is
    cached by (size, mtime_ns) of that path; a file whose size or mtime differs is read and hashed again.
    Only a cache: lost or unreadable, everything is hashed again."""

    def __init__(self, root: Path, assignment: str):
        self.path = record.status_dir(root, assignment) / DIGESTS
        self.root, self.assignment = Path(root), assignment
        try:
            self.entries = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.entries = {}
        self.changed = False

    def digest(self, student: str) -> str:
        folder = self.root / "submitted" / student / self.assignment
        old, new = self.entries.get(student, {}), {}
        now = time.time_ns()
        h = hashlib.sha256()
        for name, path in _files(folder):
            st = path.stat()
            cached = old.get(name)
            if cached and cached[0] == st.st_size and cached[1] == st.st_mtime_ns:
                sha = cached[2]
            else:
                sha = hashlib.sha256(path.read_bytes()).hexdigest()
            if now - st.st_mtime_ns > RACY_S * 1e9:
                new[name] = [st.st_size, st.st_mtime_ns, sha]
            h.update(name.encode() + b"\0" + bytes.fromhex(sha))  # (exactly as Job.digest)
        if new != old:
            self.entries[student], self.changed = new, True
        return h.hexdigest()

    def save(self) -> None:
        if self.changed:
            record._write_atomically(self.path, json.dumps(self.entries).encode())


def ensure_released(assignment: str, root: Path, db_url: str) -> None:
    """Autograding needs the assignment in the gradebook; a course that never ran `release` gets it now."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url) as gb:
        try:
            gb.find_assignment(assignment)
            return
        except MissingEntry:
            pass
    print(f"{assignment} is not in the gradebook yet: generating its release first")
    course.generate_release(assignment, root)


def isolation(limits: Limits, scheduler: str | None) -> str:
    """What confines student code here; a missing mechanism is said, not skipped silently."""
    from grader.isolation.kernelspec import confinement
    from grader.isolation.sandbox import network_isolation_available

    lines = [f"kernels limited to {limits.memory_mb} MB, {limits.cell_timeout} s per cell, "
             f"{limits.submission_timeout} s per submission, each in its own scratch course"]
    where = "on this machine" if not scheduler else "on this machine (on the Dask workers: the next line)"
    mode = confinement()
    if mode.startswith("bwrap"):
        lines.append(f"{where}: each kernel runs in a root of its own holding only its scratch folder, Python and "
                     "its packages, the course package, the data set and the hidden tests' modules (bubblewrap), "
                     "in a pid namespace of its own: nothing it starts outlives it"
                     + (f"; as a user id of its own, at most {limits.max_processes} processes" if mode == "bwrap-user"
                        else "; WARNING: not running as root, so kernels keep your user id and the process limit "
                             "is not set"))
        from grader.isolation.kernelspec import WARM_ENV

        if os.environ.get(WARM_ENV) != "0":
            lines.append("kernels forked from one process per worker that has imported Keras once (warm kernels, "
                         "grader.isolation.warm: as a user id per worker rather than per kernel, each in a pid and "
                         f"mount namespace of its own; {WARM_ENV}=0 starts every kernel afresh)")
    elif mode == "user":
        lines.append(f"{where}: each kernel runs as a user id of its own, at most {limits.max_processes} "
                     "processes, and sees neither the course's instructor folders, the gradebook, the grader's "
                     "reference nor other submissions (private mount namespace)")
    elif mode == "namespace":
        lines.append(f"{where}: kernels see neither the course's instructor folders, the gradebook, the grader's "
                     "reference nor other submissions (private mount namespace); WARNING: not running as root, so "
                     "they keep your user id: they can write your other files and the process limit is not set")
    else:
        lines.append(f"WARNING {where}: no Linux namespaces (needs root or unprivileged user namespaces): kernels "
                     "run as you and can read and write what you can; only the resource limits apply")
    if mode in ("user", "namespace"):
        from grader.isolation.sandbox import SANDBOX_ENV, bwrap_failure, bwrap_path

        why = (f"{SANDBOX_ENV}=paths is set" if os.environ.get(SANDBOX_ENV) == "paths" else
               f"bubblewrap (bwrap) does not work here ({bwrap_failure()})" if bwrap_path() else
               "bubblewrap (bwrap) is not installed")
        lines.append(f"WARNING: {why}, so kernels see the rest of this machine (other copies of the course, home "
                     "folders) but for the paths hidden above; install the Debian/Ubuntu package bubblewrap "
                     "(python3 kit.py grader does it as root)")
    if limits.network:
        lines.append("network allowed (--allow-network)")
    elif network_isolation_available():
        lines.append("no network")
    else:
        lines.append("WARNING: cannot cut the network here; student code can reach the network")
    return "isolation: " + "; ".join(lines)


@contextlib.contextmanager
def _interruptible(summary: Summary, total: int):
    try:
        yield
    except KeyboardInterrupt:
        raise Interrupted(summary, total - len(summary.graded)) from None


def run(assignment: str, root: Path | None = None, only: list[str] | None = None, force: bool = False,
        workers: int | None = None, scheduler: str | None = None, limits: Limits = Limits(),
        progress: bool = True, template: Template | None = None) -> Summary:
    from tqdm import tqdm

    root = Path(root or course.ROOT)
    limits = dataclasses.replace(limits, private=tuple(dict.fromkeys([*limits.private, str(root.resolve())])))
    db_url = course.load_config(root).CourseDirectory.db_url
    start = time.monotonic()
    everyone = students(root, assignment)
    if not everyone:
        raise Problem(f"no submissions of {assignment} under {root / 'submitted'}: collect them first "
                      f"(python -m grader collect {assignment} <LMS zip or folder>)")
    unknown = sorted(set(only or []) - set(everyone))
    if unknown:
        raise Problem(f"no submission of {assignment} for: {', '.join(unknown)} (see {root / 'submitted'})")
    chosen = only or everyone
    with contextlib.ExitStack() as stack:
        # An unreachable scheduler or a cluster that cannot grade is said at once, before anything is built
        # or recorded.
        client = stack.enter_context(executors.connect(scheduler)) if scheduler else None
        summary = Summary(notes=executors.probe(client) if client is not None else [])
        template = template or course.template(assignment, root)
        ensure_released(assignment, root, db_url)
        done, failed = record.load(root, assignment), record.load_errors(root, assignment)
        todo, digests = [], Digests(root, assignment)
        for student in chosen:
            previous = done.get(student)
            # A submission whose last run hit a grader error is graded again, changed or not.
            if not force and previous and previous.get("status") != "error" and student not in failed \
                    and previous.get("key") == record.key(digests.digest(student), template):
                summary.skipped.append(student)
            else:
                todo.append(student)
        digests.save()
        todo = [job(root, assignment, student) for student in todo]  # (only these are read whole)

        if client is not None:
            outcomes = executors.dask(todo, template, limits, client)
            where = f"Dask at {scheduler}"
        else:
            workers = workers or executors.default_workers()
            outcomes = executors.local(todo, template, limits, workers)
            where = f"{workers} local worker(s)"
        if progress:
            print(isolation(limits, scheduler))
            for note in summary.notes:
                print(note)
            print(f"{assignment}: grading {len(todo)} submission(s) on {where}; "
                  f"{len(summary.skipped)} unchanged since last time (use --force to re-grade them)")
        bar = tqdm(total=len(todo), unit="submission", disable=not progress, dynamic_ncols=True)
        recorder = stack.enter_context(record.Recorder(template, root, db_url))  # (one gradebook for the run)
        recorder.prepare({j.student: j.timestamp for j in todo})  # (new students' rows in bulk, before any result)
        with bar, _interruptible(summary, len(todo)):
            for outcome in outcomes:
                rec = recorder.save(outcome)
                summary.graded.append(rec)
                if outcome.status != "graded":
                    kept = f" (its earlier result, {rec['kept']}, is kept)" if rec.get("kept") else ""
                    bar.write(f"  {outcome.student}: {outcome.status}: {outcome.message}{kept}")
                bar.set_postfix(dict(summary.statuses), refresh=False)
                bar.update()
    summary.wall_s = round(time.monotonic() - start, 2)
    return summary
