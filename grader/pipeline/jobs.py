"""What passes between the coordinator and a worker, as plain data: the assignment (Template), one submission
(Job), the limits a kernel runs under (Limits) and what grading it gave (Outcome).

Everything is bytes and strings, so the same worker runs in a local process or on a remote Dask worker with
no shared disk or database.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

# Every submission ends with one of these; the export and the report show it.
STATUSES = {
    "graded": "graded",
    "timed_out": "took longer than the per-submission limit",
    "kernel_died": "the notebook's kernel died",
    "unreadable": "the notebook file could not be read",
    "invalid": "not a notebook of this assignment, or its graded cells were tampered with",
    "error": "the grader itself failed (please report this)",
}


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
    grading: dict[str, bytes] = field(default_factory=dict)  # the unit's grading/ folder (grader.units), by relative path


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
    warm_kernel: bool = False  # forked by the worker's warm-kernel process (grader.isolation.warm)
    flags: list[str] = field(default_factory=list)
