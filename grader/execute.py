"""Grade one submission on a worker: the "isolate", "execute" and "judge" steps of the pipeline.

A worker receives everything as bytes (the submission's files and the assignment's Template), so the same
function runs in a local process pool or on a remote Dask worker with no shared disk or database. It builds
a private scratch course, runs nbgrader's own autograde there with the course's config (the student's kernel
started by grader.sandbox: limits, and where Linux allows it a root filesystem of its own holding only what
it needs (bubblewrap), a pid namespace and a user id of its own) and returns an Outcome. Nothing the kernel
started runs by the time results are read: ExecuteGradedCells kills and waits for every process left once
the kernel has shut down, and takes back its scratch folders, before nbgrader writes the graded notebook and
the judge reads the evidence. The hidden tests' verdicts are given here, after the kernel has run, from
the evidence it left (grader.preprocessors.JudgeHiddenTests). Only the coordinator writes the real
gradebook (grader.record).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import json
import os
import resource
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from nbgrader import utils
from nbgrader.preprocessors import Execute
from traitlets import Bool, List, Unicode

from . import course, evidence, scan
from .preprocessors import JudgeHiddenTests

# Every submission ends with one of these; the export and the report show it.
STATUSES = {
    "graded": "graded",
    "timed_out": "took longer than the per-submission limit",
    "kernel_died": "the notebook's kernel died",
    "unreadable": "the notebook file could not be read",
    "invalid": "not a notebook of this assignment, or its graded cells were tampered with",
    "error": "the grader itself failed (please report this)",
}
KERNEL_NAME = "resnet-course-grading"


@dataclass(frozen=True)
class Limits:
    cell_timeout: int = 180  # seconds per cell (nbgrader interrupts the cell; grading goes on)
    submission_timeout: int = 600  # wall-clock seconds per submission
    memory_mb: int = 8192  # address space of the kernel and each process it starts
    max_file_mb: int = 256  # largest file the kernel may write
    threads: int = 1  # math-library threads per kernel (workers x threads = cores is the fastest)
    run_all_cells: bool = False  # True: also run the cells after the last graded one (as plain nbgrader)
    keras_backend: str | None = None  # KERAS_BACKEND of the kernels (default: inherited, else tensorflow)
    network: bool = False  # False: kernels run in an empty network namespace where Linux allows it
    max_processes: int = 512  # processes and threads of one kernel (binds where kernels get their own user id)
    private: tuple[str, ...] = ()  # course folders whose contents the kernels must not see (besides this repo's)


@dataclass(frozen=True)
class Template:
    """What a worker needs of the assignment: a gradebook that knows it (and no student) and its files."""

    assignment: str
    notebooks: tuple[str, ...]  # notebook names without .ipynb
    exercise_cells: frozenset[str]  # grade ids of the solution cells: recognise this assignment's notebooks
    gradebook: bytes
    files: dict[str, bytes]  # the source folder's other files (pictures, sample photo), by relative path
    digest: str
    release: dict[str, bytes] = field(default_factory=dict)  # the student version of each notebook


@dataclass(frozen=True)
class Job:
    student: str
    files: dict[str, bytes]  # the submission, by path relative to the student's assignment folder
    timestamp: str | None = None

    @property
    def digest(self) -> str:
        h = hashlib.sha256()
        for name in sorted(self.files):
            h.update(name.encode() + b"\0" + hashlib.sha256(self.files[name]).digest())
        return h.hexdigest()


@dataclass
class Outcome:
    student: str
    digest: str
    status: str
    message: str = ""
    scores: dict[str, dict[str, float | None]] = field(default_factory=dict)  # notebook -> grade id -> points
    comments: dict[str, dict[str, str | None]] = field(default_factory=dict)  # notebook -> cell -> auto comment
    messages: dict[str, str] = field(default_factory=dict)  # grade id -> why the cell lost its points
    autograded: dict[str, bytes] = field(default_factory=dict)  # the executed notebooks, for feedback
    timestamp: str | None = None
    wall_s: float = 0.0
    cpu_s: float = 0.0
    kernel_rss_mb: float = 0.0
    kernel_cpu_s: float = 0.0  # the kernel's share of cpu_s (the rest: nbgrader and the judge in the worker)
    flags: list[str] = field(default_factory=list)


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
            _after_kernel([Path(p) for p in self.scratch])

    def preprocess_cell(self, cell, resources, index):
        if index > self._last_graded:
            return cell, resources
        cell, resources = super().preprocess_cell(cell, resources, index)
        if cell.cell_type == "code":
            self._strays(index)
        return cell, resources

    def _strays(self, index: int) -> None:
        sandbox = getattr(getattr(self, "km", None), "provisioner", None)
        left = [p for p in _left_running(getattr(sandbox, "pid", None)) if p.pid not in self._seen]
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


def _left_running(sandbox_pid: int | None) -> list:
    """Processes the kernel started that are still running: below the sandbox process, all but the chain that
    leads to the kernel (grader.sandbox, bwrap and its init where used, the kernel)."""
    import psutil

    if not sandbox_pid:
        return []
    try:
        top = psutil.Process(sandbox_pid)
        below = top.children(recursive=True)
        kernels = [p for p in below if "ipykernel_launcher" in p.cmdline()[1:3]]  # (bwrap names it later)
        if not kernels:
            return []
        kernel = min(kernels, key=lambda p: (p.create_time(), p.pid))  # (its forks run the same command line)
        chain = {kernel.pid, *(p.pid for p in kernel.parents())}
    except psutil.Error:
        return []
    # Where kernels share the worker's pid namespace an orphan is re-parented to the worker (a subreaper).
    started = top.create_time()
    orphans = []
    for child in psutil.Process().children():
        try:
            if child.pid != sandbox_pid and child.create_time() >= started:
                orphans += [child, *child.children(recursive=True)]
        except psutil.Error:
            pass
    return [p for p in below if p.pid not in chain] + orphans


def _after_kernel(scratch: list[Path], wait_s: float = 10.0) -> None:
    """Once the kernel has shut down: kill every process it left (under bwrap its pid namespace is already
    gone), wait until none runs, then make its folders safe to read and write: no symbolic link (nbgrader
    would write the graded notebook through it), no FIFO or device, owned by this process's user again."""
    import psutil

    left = psutil.Process().children(recursive=True)
    for process in left:
        try:
            process.kill()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(left, timeout=wait_s)
    if alive:
        raise RuntimeError(f"{len(alive)} process(es) of the student's kernel would not die")
    for folder in scratch:
        if not folder.is_dir() or folder.is_symlink():
            continue
        for parent, dirs, files in os.walk(folder):
            for name in dirs + files:
                path = Path(parent) / name
                if path.is_symlink() or not (path.is_dir() or path.is_file()):
                    path.unlink()
                elif os.geteuid() == 0:
                    os.chown(path, 0, 0, follow_symlinks=False)
            dirs[:] = [d for d in dirs if (Path(parent) / d).is_dir() and not (Path(parent) / d).is_symlink()]
        if os.geteuid() == 0:
            os.chown(folder, 0, 0, follow_symlinks=False)


# ---------------------------------------------------------------------------------------------------------
# Reading the submission before any code runs


def _safe_path(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise ValueError(f"unsafe file name {name!r}")
    return path


class Ungradable(Exception):
    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def _drop_duplicate_grade_cells(nb) -> list[str]:
    """Keep the first cell of each grade id; copies become ordinary cells. (nbgrader 0.9 crashes on a
    duplicated test cell and fails the whole submission.)"""
    seen, flags = set(), []
    for cell in nb.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id is None:
            continue
        if grade_id in seen:
            del cell.metadata["nbgrader"]
            flags.append(f"a copy of graded cell {grade_id} was ignored")
        seen.add(grade_id)
    return flags


def prepare(job: Job, template: Template) -> tuple[dict[str, bytes], list[str]]:
    """The files to grade and what was fixed on the way; raises Ungradable when nothing can be graded."""
    import nbformat

    files, flags = dict(job.files), []
    notebooks = {n for n in job.files if n.endswith(".ipynb")}
    for name in template.notebooks:
        filename = f"{name}.ipynb"
        if filename not in job.files:
            found = ", ".join(sorted(notebooks)) or "no notebook at all"
            raise Ungradable("invalid", f"{filename} is missing from the submission (found: {found})")
        raw = job.files[filename]
        if not raw.strip():
            raise Ungradable("unreadable", f"{filename} is an empty file")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise Ungradable("unreadable", f"{filename} is not UTF-8 text ({e.reason} at byte {e.start})") from None
        try:
            nb = nbformat.reads(text, as_version=4)
        except Exception as e:  # nbformat raises several types for broken JSON or structure
            raise Ungradable("unreadable", f"{filename} is not a readable notebook: "
                                           f"{str(e).splitlines()[0][:200]}") from None
        ids = {c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in nb.get("cells", [])}
        if not ids & template.exercise_cells:
            raise Ungradable("invalid", f"{filename} holds none of this assignment's exercise cells "
                                        f"({', '.join(sorted(template.exercise_cells))}): another assignment's notebook?")
        flags += scan.scan_notebook(nb)
        if filename in template.release:
            flags += scan.tampered_cells(nb, nbformat.reads(template.release[filename].decode(), as_version=4))
        fixed = _drop_duplicate_grade_cells(nb)
        if fixed:
            flags += fixed
            files[filename] = nbformat.writes(nb).encode()
    return files, flags


# ---------------------------------------------------------------------------------------------------------
# Running nbgrader in a scratch course

_LOCK = threading.Lock()  # one submission at a time per process: the kernelspec path is process-wide state


def _become_subreaper() -> None:
    """Orphaned processes a student's code leaves behind re-parent to this worker, so they can be killed."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
        except (OSError, AttributeError):
            pass


def _kill_descendants() -> None:
    import psutil

    for process in psutil.Process().children(recursive=True):
        try:
            process.kill()
        except psutil.Error:
            pass


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


# grader/ files the hidden test cells import inside the kernel; the rest of grader/ is concealed from it.
KERNEL_SIDE = {"__init__.py", "hidden.py", "hidden_residual.py", "evidence.py", "integrity.py", "watch.py"}


@functools.cache
def confinement() -> str:
    """grader.sandbox.mode() on this worker, found once."""
    from . import sandbox

    return sandbox.mode()


def concealed(private: tuple[str, ...] = ()) -> list[str]:
    """What a kernel must not see: every entry of this repository and of the `private` course folders except
    what running a notebook needs (the Python environment, the course package, the data set), and the
    grader's own files but for KERNEL_SIDE."""
    import resnet_course

    package = Path(__file__).resolve().parent
    needed = [Path(sys.prefix).resolve(), Path(resnet_course.__file__).resolve().parent, course.ROOT / "datasets",
              package]
    hide = []
    for base in dict.fromkeys([course.ROOT, *(Path(p).resolve() for p in private)]):
        if not base.is_dir():
            continue
        for entry in base.iterdir():
            entry = entry.resolve()
            if entry == package:
                hide += [str(f) for f in sorted(package.iterdir()) if f.name not in KERNEL_SIDE]
            elif not any(n == entry or entry in n.parents for n in needed) and not entry.name.endswith(".egg-info"):
                hide.append(str(entry))  # (*.egg-info: the editable install's metadata)
    return list(dict.fromkeys(hide))


def allowed() -> list[str]:
    """What a kernel in an allow-list root may read besides the Python runtime and the system's libraries:
    the course package, the data set (and SIGNS_DATA, where set) and the kernel-side grading modules."""
    import resnet_course

    package = Path(__file__).resolve().parent
    paths = [Path(resnet_course.__file__).resolve().parent, course.ROOT / "datasets",
             *(package / name for name in sorted(KERNEL_SIDE))]
    if os.environ.get("SIGNS_DATA"):
        paths.append(Path(os.environ["SIGNS_DATA"]).expanduser().resolve())
    return [str(p) for p in paths if p.exists()]


def _write_kernelspec(folder: Path, report: Path, limits: Limits, keep: list[Path]) -> None:
    spec = folder / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True)
    confine = []
    if confinement().startswith("bwrap"):
        confine = ["--confine=bwrap", *(f"--allow={p}" for p in allowed()), *(f"--keep={p}" for p in keep)]
    elif confinement() != "limits":
        confine = ["--confine", *(f"--conceal={p}" for p in concealed(limits.private)),
                   *(f"--keep={p}" for p in keep)]
    if confinement() in ("user", "bwrap-user"):
        confine.append(f"--max-processes={limits.max_processes}")
    argv = [sys.executable, "-m", "grader.sandbox", "--report", str(report), "--memory-mb", str(limits.memory_mb),
            "--cpu-seconds", str(limits.submission_timeout * max(1, limits.threads)),
            "--max-file-mb", str(limits.max_file_mb), *([] if limits.network else ["--no-network"]), *confine, "--",
            sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
            "--HistoryManager.enabled=False",  # no history database to create in each fresh home folder
            # Once the kernel is told to shut down, skip the interpreter's clean-up: tearing TensorFlow down
            # costs more CPU (about 1.5 s) than any graded cell. (No name is bound in the notebook.)
            # The watch notes what cells leave running (grader.watch), from before the first cell.
            """--IPKernelApp.exec_lines=["__import__('atexit').register(__import__('os')._exit, 0);"""
            """__import__('grader.watch', fromlist=['start']).start()"]"""]
    threads = str(limits.threads)
    env = {"TF_NUM_INTRAOP_THREADS": threads, "TF_NUM_INTEROP_THREADS": threads, "OMP_NUM_THREADS": threads,
           "MKL_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads, "TF_CPP_MIN_LOG_LEVEL": "3",
           "MPLBACKEND": "agg", evidence.ENV: str(folder / "evidence")}
    if limits.keras_backend:
        env["KERAS_BACKEND"] = limits.keras_backend
    (spec / "kernel.json").write_text(json.dumps(
        {"argv": argv, "display_name": "ResNet course grading", "language": "python", "env": env}))


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


def _first_line(text: str, limit: int = 300) -> str:
    line = next((s for s in str(text).splitlines() if s.strip()), "")
    return line[:limit]


def cell_messages(nb) -> dict[str, str]:
    """{grade id: why it lost points} from an autograded notebook's test cells."""
    messages = {}
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("grade"):
            continue
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                messages[meta["grade_id"]] = f"{output.ename}: {output.evalue}"[:2000]
                break
            if output.get("name") == "stderr":
                messages[meta["grade_id"]] = "wrote to stderr: " + _first_line(output.get("text", ""))
                break
    return messages


def timed_out_cells(nb) -> list[str]:
    """Grade ids (or cell numbers) of the cells nbgrader interrupted at the cell time limit."""
    return [cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or f"#{i + 1}"
            for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
            and any(o.output_type == "error" and o.get("ename") == "CellTimeoutError" for o in cell.get("outputs", []))]


def _cell_name(nb, index: int) -> str:
    cell = nb.cells[index] if 0 <= index < len(nb.cells) else {}
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or f"#{index + 1}"


def watch_flags(nb, folder: Path, observed: list[tuple[int, str]] = ()) -> list[str]:
    """Flags for review from what the kernel's watch noted (grader.watch: cell and line) and from the processes
    seen from outside after each cell (`observed`: cell index, what). Read once the kernel has ended."""
    from . import watch

    counts = {c.get("execution_count"): i for i, c in enumerate(nb.cells)
              if c.cell_type == "code" and c.get("execution_count") is not None}
    flags, noted = [], set()
    path = folder / watch.NOTES
    try:
        notes = json.loads(path.read_text()) if path.is_file() and path.stat().st_size < 1_000_000 else []
        if not isinstance(notes, list):
            raise ValueError("not a list")
    except (OSError, ValueError) as e:
        notes = []
        flags.append(f"the kernel's watch notes were unreadable (altered by the submission?): {_first_line(e, 80)}")
    for note in notes[:100]:
        if not isinstance(note, dict) or note.get("kind") not in watch.KINDS or not isinstance(note.get("what"), str):
            flags.append("the kernel's watch notes were altered")
            break
        index = counts.get(note.get("count"))
        where = _cell_name(nb, index) if index is not None else f"[{note.get('count')}]"
        line = note.get("line") if isinstance(note.get("line"), int) else None
        flags.append(f"cell {where}{f', line {line}' if line else ''}: {note['what'][:200]}")
        if note["kind"] == "process" and index is not None:
            noted.add(index)
    flags += [f"cell {_cell_name(nb, index)}: {what}" for index, what in observed if index not in noted]
    return list(dict.fromkeys(flags))


def _kernel_end(report: Path) -> str:
    if not report.exists():
        return "the kernel stopped responding"
    end = json.loads(report.read_text())
    if end.get("processes"):
        return (f"the kernel's code started {end['processes']} processes (a fork bomb?); all of them were killed "
                "to protect the other submissions")
    if "signal" in end:
        cause = {"SIGKILL": "killed (out of memory, or the per-submission limit)", "SIGXCPU": "CPU-time limit",
                 "SIGSEGV": "segmentation fault", "SIGABRT": "aborted"}.get(end["name"], end["name"])
        return f"the kernel was killed by {end['name']}: {cause}"
    return f"the kernel exited with code {end['exit_code']} (os._exit or sys.exit from outside a cell?)"


def _failure(result: dict, report: Path, timed_out: bool, limits: Limits) -> tuple[str, str]:
    text = (result.get("error") or "") + "\n" + (result.get("log") or "")
    if timed_out:
        return "timed_out", f"grading took longer than the {limits.submission_timeout} s per-submission limit"
    if "DeadKernelError" in text or "Kernel died" in text or "UnresponsiveKernelError" in text or report.exists():
        return "kernel_died", _kernel_end(report)
    errors = [line[len("[ERROR] "):] for line in text.splitlines() if line.startswith("[ERROR] ")]
    nbgrader_says = next((e for e in errors if "cell" in e.lower() or "grade" in e.lower()), None)
    if nbgrader_says or "ValidationError" in text or "MetadataValidation" in text:
        detail = nbgrader_says or _first_line(text.split("Error:")[-1])
        return "invalid", f"nbgrader refused the notebook: {detail}"
    return "error", "the grader failed: " + _first_line(errors[-1] if errors else text.strip().splitlines()[-1])


def grade(job: Job, template: Template, limits: Limits = Limits()) -> Outcome:
    """Grade one submission in a private scratch course; never raises for anything the submission does."""
    with _LOCK:
        start_wall, start_cpu = time.monotonic(), _cpu_seconds()
        outcome = Outcome(job.student, job.digest, "error", timestamp=job.timestamp)
        try:
            _grade(job, template, limits, outcome)
        except Exception as e:  # a bug of ours must still give this student a status, not crash the run
            outcome.status, outcome.message = "error", f"the grader failed: {type(e).__name__}: {e}"
        finally:
            _kill_descendants()
        outcome.wall_s = round(time.monotonic() - start_wall, 3)
        outcome.cpu_s = round(_cpu_seconds() - start_cpu, 3)
        return outcome


def _grade(job: Job, template: Template, limits: Limits, outcome: Outcome) -> None:
    from nbgrader.api import Gradebook

    try:
        files, outcome.flags = prepare(job, template)
    except Ungradable as e:
        outcome.status, outcome.message = e.status, e.message
        return
    _become_subreaper()
    assignment, student = template.assignment, job.student
    # The scratch gradebook lives apart from the scratch course, under a random name, so student code that
    # walks up from its working folder does not find it.
    with tempfile.TemporaryDirectory(prefix="grade-") as tmp, tempfile.TemporaryDirectory(prefix="gb-") as db_dir:
        root = Path(tmp)
        gradebook = Path(db_dir) / f"{os.urandom(8).hex()}.db"
        gradebook.write_bytes(template.gradebook)
        for name, data in template.files.items():
            target = root / "solutions" / assignment / _safe_path(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        (root / "solutions" / assignment).mkdir(parents=True, exist_ok=True)
        folder = root / "submitted" / student / assignment
        for name, data in files.items():
            target = folder / _safe_path(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        if job.timestamp:
            (folder / "timestamp.txt").write_text(job.timestamp)
        report = root / "kernel-end.json"
        for kept in ("ipc", "evidence"):
            (root / kept).mkdir()
        _write_kernelspec(root, report, limits, [root / "ipc", root / "evidence"])
        os.environ["JUPYTER_PATH"] = str(root)

        config = _config(root, limits)
        config.CourseDirectory.db_url = f"sqlite:///{gradebook}"
        course.kernel_environment()
        from nbgrader.apps import NbGraderAPI
        from nbgrader.coursedir import CourseDirectory

        api = NbGraderAPI(CourseDirectory(config=config), config=config)
        ExecuteGradedCells.observed = []
        fired = threading.Event()
        watchdog = threading.Timer(limits.submission_timeout, lambda: (fired.set(), _kill_descendants()))
        watchdog.start()
        try:
            result = api.autograde(assignment, student, force=True, create=True)
        finally:
            watchdog.cancel()
        if report.exists():
            end = json.loads(report.read_text())
            outcome.kernel_rss_mb, outcome.kernel_cpu_s = round(end.get("max_rss_mb", 0.0), 1), round(end.get("cpu_s", 0.0), 2)
        if not result.get("success") or fired.is_set():
            outcome.status, outcome.message = _failure(result, report, fired.is_set(), limits)
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
