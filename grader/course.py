"""nbgrader driven from Python with the course's configuration: generate a release, autograde, read scores.

Everything goes through `NbGraderAPI` with the one config file, so the CLI, the tests and the benchmarks
grade exactly as an instructor's plain `nbgrader` command would.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from grader.units import ROOT
CONFIG_FILE = Path(__file__).with_name("nbgrader_config.py")


def kernel_environment() -> None:
    """What grading kernels need: this repository importable (hidden tests import `grader`), the venv's
    tools on PATH (nbgrader runs `alembic`), and quiet TensorFlow."""
    paths = [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def load_config(root: Path | None = None, db_url: str | None = None):
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader(CONFIG_FILE.name, path=str(CONFIG_FILE.parent)).load_config()
    if root is not None:
        config.CourseDirectory.root = str(root)
        config.CourseDirectory.db_url = db_url or f"sqlite:///{Path(root) / 'gradebook.db'}"
    elif db_url:
        config.CourseDirectory.db_url = db_url
    return config


def api(root: Path | None = None, db_url: str | None = None, kernel_sockets: str | None = None):
    """nbgrader's API on the course at `root`; with `kernel_sockets` (a path prefix), its kernels talk over
    Unix sockets there, not TCP ports: nothing listens on the network, and no kernel prints its "running over
    TCP without encryption" warning into the instructor's terminal."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    kernel_environment()
    config = load_config(root, db_url)
    if kernel_sockets:
        config.KernelManager.transport = "ipc"
        config.KernelManager.ip = kernel_sockets
    return NbGraderAPI(CourseDirectory(config=config), config=config)


def _check(result: dict, what: str) -> None:
    if not result.get("success"):
        raise RuntimeError(f"{what} failed:\n{result.get('error') or result.get('log')}")


def generate_release(assignment: str, root: Path | None = None) -> Path:
    """nbgrader generate_assignment: solutions/<assignment> -> assignments/<assignment>."""
    course = api(root)
    _check(course.generate_assignment(assignment, force=True), f"generate_assignment {assignment}")
    return Path(course.coursedir.root) / course.coursedir.release_directory / assignment


def cell_points(assignment: str, root: Path | None = None) -> dict[str, float]:
    """{grade_id: points} for every graded cell of the assignment's source notebooks."""
    import json

    points = {}
    for nb in sorted((Path(root or ROOT) / "solutions" / assignment).glob("*.ipynb")):
        for cell in json.loads(nb.read_text())["cells"]:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if meta.get("grade"):
                points[meta["grade_id"]] = float(meta.get("points", 0))
    return points


def exercises(assignment: str, root: Path | None = None) -> dict[str, list[str]]:
    """{exercise: [grade_id of its test cells]}: each test cell belongs to the solution cell before it."""
    import json

    groups: dict[str, list[str]] = {}
    for nb in sorted((Path(root or ROOT) / "solutions" / assignment).glob("*.ipynb")):
        current = None
        for cell in json.loads(nb.read_text())["cells"]:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if meta.get("solution"):
                current = meta["grade_id"]
            elif meta.get("grade"):
                groups.setdefault(current or meta["grade_id"], []).append(meta["grade_id"])
    return groups


@dataclass
class Score:
    student: str
    score: float
    max_score: float
    cells: dict[str, float]


def autograde(assignment: str, student: str, root: Path | None = None, force: bool = True) -> Score:
    """Plain nbgrader autograde (no pipeline of ours): its kernels load the hidden tests from `root`'s units."""
    from grader import units

    with tempfile.TemporaryDirectory(prefix="kernel-ipc-") as ipc, \
            units.loaded_from(units.folder(root) if root else units.folder()):
        course = api(root, kernel_sockets=str(Path(ipc) / "kernel"))
        _check(course.autograde(assignment, student, force=force, create=True), f"autograde {student}")
    return read_score(assignment, student, root)


def read_score(assignment: str, student: str, root: Path | None = None) -> Score:
    from nbgrader.api import Gradebook

    config = load_config(root)
    with Gradebook(config.CourseDirectory.db_url) as gb:
        submission = gb.find_submission(assignment, student)
        cells = {}
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                cells[grade.name] = grade.score
        return Score(student, submission.score, submission.max_score, cells)


@contextmanager
def scratch_course(assignment: str, source: Path | None = None):
    """A throw-away course directory holding the source and release of `assignment` (from `source`, by
    default this repository)."""
    source = Path(source or ROOT)
    with tempfile.TemporaryDirectory(prefix="course-") as tmp:
        root = Path(tmp)
        shutil.copytree(source / "solutions" / assignment, root / "solutions" / assignment)
        release = source / "assignments" / assignment
        if release.exists():
            shutil.copytree(release, root / "assignments" / assignment)
        yield root


def submit(root: Path, assignment: str, student: str, notebooks: dict[str, Path | bytes | str]) -> Path:
    """Place a student's notebooks where nbgrader expects submissions (other release files included)."""
    folder = Path(root) / "submitted" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    release = Path(root) / "assignments" / assignment
    if release.exists():
        for item in release.iterdir():
            if item.suffix != ".ipynb":
                dest = folder / item.name
                shutil.copytree(item, dest, dirs_exist_ok=True) if item.is_dir() else shutil.copy2(item, dest)
    for name, content in notebooks.items():
        target = folder / name
        if isinstance(content, Path):
            shutil.copy2(content, target)
        else:
            target.write_bytes(content.encode() if isinstance(content, str) else content)
    return folder


def template(assignment: str, root: Path | None = None):
    """The assignment as workers need it (grader.pipeline.jobs.Template): a fresh gradebook that knows the assignment
    and no student, the source folder's other files and the unit's grading/ folder (workers need no shared
    disk). Its digest covers all of them: changing a hidden case, a judge or the stored expectations
    re-grades this assignment's submissions, and no other's.

    The release inside it (nbgrader's generate_assignment in a scratch course, a few seconds) is kept in
    grading/<assignment>/template/ and made again only when the source, the grader's nbgrader adapters or
    nbgrader itself change: every autograde command, a no-op re-run included, would pay for it otherwise."""
    import fnmatch
    import hashlib

    import nbgrader

    from grader import units
    from grader.pipeline.jobs import Template

    root = Path(root or ROOT)
    source = root / "solutions" / assignment
    ignore = list(load_config().CourseDirectory.ignore) + ["*.ipynb"]
    files = {p.relative_to(source).as_posix(): p.read_bytes() for p in sorted(source.rglob("*"))
             if p.is_file() and not any(fnmatch.fnmatch(part, pat) for part in p.relative_to(source).parts
                                        for pat in ignore)}
    exercise_cells = {cell for cell in exercises(assignment, root)}
    digest = hashlib.sha256()
    for nb in sorted(source.glob("*.ipynb")):
        digest.update(nb.read_bytes())
    for name, data in files.items():
        digest.update(name.encode() + data)
    grading = units.grading_files(assignment, root)
    digest.update(units.digest(grading).encode())
    release_key = hashlib.sha256(digest.hexdigest().encode() + nbgrader.__version__.encode())
    for adapter in ("course.py", "preprocessors.py", "nbgrader_config.py"):  # (what generate_assignment runs)
        release_key.update(Path(__file__).with_name(adapter).read_bytes())
    gradebook, notebooks = _release(assignment, root, release_key.hexdigest())
    return Template(assignment, tuple(sorted(p.stem for p in source.glob("*.ipynb"))), frozenset(exercise_cells),
                    gradebook, files, digest.hexdigest(), notebooks, grading)


def _release(assignment: str, root: Path, key: str) -> tuple[bytes, dict[str, bytes]]:
    """(a fresh gradebook knowing the assignment, {release notebook: bytes}), from the cache when its key
    matches. The cache is one pickle written atomically: a torn or stale one is simply made again."""
    import pickle

    from grader.pipeline import record

    cache = record.template_dir(root, assignment) / "release.pickle"
    try:
        kept = pickle.loads(cache.read_bytes())
        if kept["key"] == key:
            return kept["gradebook"], kept["notebooks"]
    except (OSError, ValueError, KeyError, TypeError, pickle.UnpicklingError, EOFError):
        pass
    with tempfile.TemporaryDirectory(prefix="template-") as tmp:
        shutil.copytree(root / "solutions" / assignment, Path(tmp) / "solutions" / assignment)
        release = generate_release(assignment, Path(tmp))
        gradebook = (Path(tmp) / "gradebook.db").read_bytes()
        notebooks = {p.name: p.read_bytes() for p in sorted(release.glob("*.ipynb"))}
    try:
        record._write_atomically(cache, pickle.dumps({"key": key, "gradebook": gradebook, "notebooks": notebooks}))
    except OSError:  # (a read-only course still grades; it only pays the release each time)
        pass
    return gradebook, notebooks
