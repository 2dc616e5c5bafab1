"""Grade one submission on a worker: the "isolate", "execute" and "judge" steps of the pipeline.

A worker receives everything as bytes (the submission's files and the assignment's Template), so the same
function runs in a local process pool or on a remote Dask worker with no shared disk or database. It builds
a private scratch course, runs nbgrader's own autograde there with the course's config (the student's kernel
started by grader.isolation.sandbox: limits, and where Linux allows it a root filesystem of its own holding only what
it needs (bubblewrap), a pid namespace and a user id of its own) and returns an Outcome. Nothing the kernel
started runs by the time results are read: ExecuteGradedCells kills and waits for every process left once
the kernel has shut down, and takes back its scratch folders, before nbgrader writes the graded notebook and
the judge reads the evidence. The hidden tests' verdicts are given here, after the kernel has run, from
the evidence it left (grader.preprocessors.JudgeHiddenTests). Only the coordinator writes the real
gradebook (grader.pipeline.record).
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from pathlib import Path

from nbgrader import utils
from nbgrader.preprocessors import Execute
from traitlets import Bool, List, Unicode

from grader import course, units
from grader.pipeline.jobs import Job, Limits, Outcome, Template
from grader.isolation.kernelspec import KERNEL_NAME, warm_zygote, write_kernelspec
from grader.pipeline.prepare import Ungradable, prepare, safe_path
from grader.preprocessors import JudgeHiddenTests
from grader.isolation.processes import after_kernel, become_subreaper, cpu_seconds, kill_descendants, left_running
from grader.pipeline.results import cell_messages, failure, timed_out_cells, watch_flags


class ExecuteGradedCells(Execute):
    """nbgrader's Execute, stopping after the last graded code cell (unless all_cells): later cells (training,
    saving a model) cannot change a grade, and skipping them is most of the speed-up over plain nbgrader.

    After each cell it notes the processes the kernel left running (seen from outside the kernel, where student
    code cannot hide them: `observed`); once the kernel has shut down it kills whatever is left, waits until
    it is gone and takes back the scratch folders (`scratch`: symbolic links and special files removed, the
    grader's user id again) before anything the kernel could have touched is read."""

    all_cells = Bool(False, help="run the cells after the last graded one too").tag(config=True)
    scratch = List(Unicode(), help="folders the kernel could write, taken back when it ends").tag(config=True)
    observed: list[tuple[int, str]] = []  # (cell index, what was seen): flags of the submission being graded

    def preprocess(self, nb, resources=None, km=None):
        graded = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and utils.is_grade(c)]
        self._last_graded = len(nb.cells) if self.all_cells else max(graded, default=len(nb.cells))
        self._seen: set[int] = set()
        try:
            return super().preprocess(nb, resources, km)
        finally:
            after_kernel([Path(p) for p in self.scratch])

    def preprocess_cell(self, cell, resources, index):
        if index > self._last_graded:
            return cell, resources
        cell, resources = super().preprocess_cell(cell, resources, index)
        if cell.cell_type == "code":
            self._strays(index)
        return cell, resources

    def _strays(self, index: int) -> None:
        sandbox = getattr(getattr(self, "km", None), "provisioner", None)
        left = [p for p in left_running(getattr(sandbox, "pid", None)) if p.pid not in self._seen]
        self._seen.update(p.pid for p in left)
        if left:
            names = []
            for process in left[:3]:
                try:
                    names.append(" ".join(process.cmdline())[:60])
                except Exception:  # noqa: BLE001  (gone meanwhile)
                    pass
            ExecuteGradedCells.observed.append((index, f"{len(left)} process(es) it started still running after the "
                                                       f"cell ({'; '.join(names)}); killed when the kernel ended"))


_LOCK = threading.Lock()  # one submission at a time per process: the kernelspec path is process-wide state


def _config(root: Path, limits: Limits):
    config = course.load_config(root)
    config.Execute.timeout = limits.cell_timeout
    config.Execute.kernel_name = KERNEL_NAME
    # Unix sockets in the scratch folder instead of TCP ports: nothing listens on the network, and the
    # kernel does not warn that its TCP traffic is unencrypted.
    config.KernelManager.transport = "ipc"
    config.KernelManager.ip = str(root / "ipc" / "kernel")  # a folder of its own: the kernel sees only it
    from nbgrader.converters import Autograde

    steps = Autograde.class_traits()["autograde_preprocessors"].default()
    steps = [ExecuteGradedCells if s is Execute else s for s in steps]
    config.ExecuteGradedCells.all_cells = limits.run_all_cells
    config.ExecuteGradedCells.scratch = [str(root / "autograded"), str(root / "evidence"), str(root / "ipc")]
    # The hidden tests' verdicts are given here, outside the kernel, from the evidence it left.
    steps.insert(1, JudgeHiddenTests)
    config.Autograde.autograde_preprocessors = steps
    config.JudgeHiddenTests.evidence_dir = str(root / "evidence")
    return config


def grade(job: Job, template: Template, limits: Limits = Limits()) -> Outcome:
    """Grade one submission in a private scratch course; never raises for anything the submission does."""
    with _LOCK:
        start_wall, start_cpu = time.monotonic(), cpu_seconds()
        outcome = Outcome(job.student, job.digest, "error", timestamp=job.timestamp)
        try:
            # The unit's hidden tests (in the kernel) and judges (here) load from what the coordinator sent.
            with units.loaded_from(units.materialize(template.assignment, template.files, template.grading,
                                                     template.digest)):
                # (replacing a zygote hands its whole history's CPU time to this process: not this submission's)
                before = cpu_seconds()
                zygote = warm_zygote(template.assignment, limits)
                start_cpu += cpu_seconds() - before
                _grade(job, template, limits, outcome, zygote)
        except Exception as e:  # a bug of ours must still give this student a status, not crash the run
            outcome.status, outcome.message = "error", f"the grader failed: {type(e).__name__}: {e}"
        finally:
            kill_descendants()
        outcome.wall_s = round(time.monotonic() - start_wall, 3)
        # (a warm kernel is the zygote's child, not among this process's children: its CPU time is added)
        outcome.cpu_s = round(cpu_seconds() - start_cpu + (outcome.kernel_cpu_s if outcome.warm_kernel else 0), 3)
        return outcome


def _grade(job: Job, template: Template, limits: Limits, outcome: Outcome, zygote=None) -> None:
    from nbgrader.api import Gradebook

    try:
        files, outcome.flags = prepare(job, template)
    except Ungradable as e:
        outcome.status, outcome.message = e.status, e.message
        return
    become_subreaper()
    assignment, student = template.assignment, job.student
    # The scratch gradebook lives apart from the scratch course, under a random name, so student code that
    # walks up from its working folder does not find it.
    # With warm kernels the scratch course lives in the folder the zygote shares with this worker; others may
    # pass through its top folder (to the kernel's own folders, handed to the zygote's user id) but not list it.
    with tempfile.TemporaryDirectory(prefix="grade-", dir=zygote and zygote.base) as tmp, \
            tempfile.TemporaryDirectory(prefix="gb-") as db_dir:
        root = Path(tmp)
        if zygote is not None:
            root.chmod(0o711)
        gradebook = Path(db_dir) / f"{os.urandom(8).hex()}.db"
        gradebook.write_bytes(template.gradebook)
        for name, data in template.files.items():
            target = root / "solutions" / assignment / safe_path(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        (root / "solutions" / assignment).mkdir(parents=True, exist_ok=True)
        folder = root / "submitted" / student / assignment
        for name, data in files.items():
            target = folder / safe_path(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        if job.timestamp:
            (folder / "timestamp.txt").write_text(job.timestamp)
        report = root / "kernel-end.json"
        for kept in ("ipc", "evidence"):
            (root / kept).mkdir()
        write_kernelspec(root, report, assignment, limits, [root / "ipc", root / "evidence"], zygote)
        os.environ["JUPYTER_PATH"] = str(root)

        config = _config(root, limits)
        config.CourseDirectory.db_url = f"sqlite:///{gradebook}"
        course.kernel_environment()
        from nbgrader.apps import NbGraderAPI
        from nbgrader.coursedir import CourseDirectory

        api = NbGraderAPI(CourseDirectory(config=config), config=config)
        ExecuteGradedCells.observed = []
        fired = threading.Event()
        watchdog = threading.Timer(limits.submission_timeout, lambda: (fired.set(), kill_descendants()))
        watchdog.start()
        try:
            result = api.autograde(assignment, student, force=True, create=True)
        finally:
            watchdog.cancel()
        if report.exists():
            end = json.loads(report.read_text())
            outcome.kernel_rss_mb, outcome.kernel_cpu_s = round(end.get("max_rss_mb", 0.0), 1), round(end.get("cpu_s", 0.0), 2)
        outcome.warm_kernel = zygote is not None
        if not result.get("success") or fired.is_set():
            outcome.status, outcome.message = failure(result, report, fired.is_set(), limits)
            return

        import nbformat

        with Gradebook(config.CourseDirectory.db_url) as gb:
            submission = gb.find_submission(assignment, student)
            for notebook in submission.notebooks:
                outcome.scores[notebook.name] = {g.name: g.auto_score for g in notebook.grades}
                outcome.comments[notebook.name] = {c.name: c.auto_comment for c in notebook.comments}
        graded = root / "autograded" / student / assignment
        for name in template.notebooks:
            path = graded / f"{name}.ipynb"
            outcome.autograded[f"{name}.ipynb"] = path.read_bytes()
            nb = nbformat.reads(path.read_text(), as_version=4)
            outcome.messages.update(cell_messages(nb))
            outcome.flags += [f"cell {where} ran past the {limits.cell_timeout} s cell limit"
                              for where in timed_out_cells(nb)]
            outcome.flags += watch_flags(nb, root / "evidence", ExecuteGradedCells.observed)
        outcome.status = "graded"
        outcome.message = "; ".join(outcome.flags)
