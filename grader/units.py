"""Assignment units: every folder of solutions/ with a `grading/` package is one assignment, found, not listed.

A unit is one self-contained folder, `solutions/<name>/` (`<name>`, a Python identifier, is the nbgrader
assignment's name):

    <Notebook>.ipynb   the nbgrader source: solution cells, visible checks, `### BEGIN HIDDEN TESTS` sections
    checks.py          the visible checks the notebook imports (`import checks`), built on resnet_course.checking
    expected.npz ...   whatever else the notebook reads (stored arrays, images/): released with it
    grading/           the instructor's part: nbgrader never releases it (CourseDirectory.ignore)
        __init__.py    a docstring saying what the unit grades
        hidden.py      KERNEL SIDE. The functions a hidden-test section calls, as
                       `units.hidden("<name>").<test>(learner_function, "arg", ...)`; each runs the learner's
                       code on the hidden cases and hands what it saw to grader.kernel.evidence.deliver under
                       the key (<name>, <test>, "arg", ...). It knows no right answer.
        judge.py       WORKER SIDE. `JUDGES = {<test>: judge(*args, data, arrays)}`: raises CheckFailed, with
                       the learner's diagnosis, unless the evidence matches the reference.
        expected.py    optional: the stored expectations, from the reference: compute() (arrays for the
                       visible checks, stored in TARGET) and graph_text() (for the judges, in GRAPH_TARGET);
                       `python -m grader expected <name> [--check]` writes or compares them.
        mutants.py     optional: CELLS, MUTANTS, CORRECT_VARIANTS, wrong and legitimately different solutions
                       as edits of the solution cells (grader.mutants runs them; the tests prove each).
        ...            anything else the judges read (reference.py, expected.json).

From the unit the engine derives what it used to list by hand: what a grading kernel may read
(`kernel_files`), which modules the in-kernel integrity check guards (grader.kernel.integrity), the evidence
keys of a test cell (grader.pipeline.judging.hidden_calls) and the re-grade digest (`digest`: changing a hidden
case, a judge, the reference or the stored expectations re-grades that unit's submissions, no other's).

Units are imported as the package `course_units` (or `course_units_<hash>` for another course's solutions/):
solutions/ itself is not a package, so a submission cannot shadow a unit by carrying a file of the same name.
This module imports nothing else of the grader: hidden-test sections import it inside the kernel.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import shutil
import sys
import tempfile
import types
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the course kit's checkout
ENV = "RESNET_COURSE_UNITS"  # the solutions/ folder whose units to load (set for workers and kernels)
PACKAGE = "course_units"
KERNEL_SIDE = ("__init__.py", "hidden.py")  # the part of grading/ a kernel imports; the rest stays with the worker
CHECKS = "checks"  # the name a unit's notebook imports its visible checks by (checks.py, beside it)


class UnknownUnit(LookupError):
    pass


def folder(course: Path | str | None = None) -> Path:
    """The solutions/ folder holding the units: `course`'s, else $RESNET_COURSE_UNITS's, else the kit's."""
    if course is not None:
        return Path(course).resolve() / "solutions"
    return Path(os.environ.get(ENV) or ROOT / "solutions").resolve()


def names(course: Path | str | None = None) -> list[str]:
    """Every unit of the course, sorted."""
    base = folder(course)
    return sorted(p.parent.parent.name for p in base.glob("*/grading/__init__.py") if p.parent.parent.name.isidentifier())


def package(base: Path) -> str:
    """The package name the units of `base` (a solutions/ folder) are imported under, registered on first use."""
    base = Path(base).resolve()
    name = PACKAGE if base == (ROOT / "solutions").resolve() else \
        f"{PACKAGE}_{hashlib.sha256(str(base).encode()).hexdigest()[:10]}"
    if name not in sys.modules:
        module = types.ModuleType(name, f"The assignment units of {base}")
        module.__path__ = [str(base)]  # each unit folder below is a namespace package
        sys.modules[name] = module
    return name


def module(unit: str, part: str, course: Path | str | None = None) -> types.ModuleType:
    """The unit's module `part` ("checks", "grading.hidden", "grading.judge", ...)."""
    base = folder(course)
    if not (base / unit / "grading" / "__init__.py").is_file():
        known = ", ".join(names(course)) or "none"
        raise UnknownUnit(f"no assignment unit {unit!r} in {base} (units there: {known})")
    return importlib.import_module(f"{package(base)}.{unit}.{part}")


def hidden(unit: str) -> types.ModuleType:
    """The unit's kernel-side hidden tests (what a hidden-test section calls)."""
    return module(unit, "grading.hidden")


def judges(unit: str, course: Path | str | None = None) -> dict:
    """{test name: judge} of the unit (grading/judge.py's JUDGES)."""
    return module(unit, "grading.judge", course).JUDGES


def is_unit_module(name: str) -> bool:
    return name == PACKAGE or name.startswith((PACKAGE + ".", PACKAGE + "_"))


def kernel_files(unit: str, course: Path | str | None = None) -> list[Path]:
    """What of the unit a grading kernel may read: its released files (not the source notebooks, which hold
    the solutions) and the kernel side of grading/."""
    top = folder(course) / unit
    if not top.is_dir():
        return []
    released = [p for p in sorted(top.iterdir()) if p.name != "grading" and p.suffix != ".ipynb"
                and p.name not in ("__pycache__", ".ipynb_checkpoints")]
    return released + [top / "grading" / name for name in KERNEL_SIDE if (top / "grading" / name).exists()]


def grading_files(unit: str, course: Path | str | None = None) -> dict[str, bytes]:
    """The unit's instructor-only files, by path relative to grading/ (caches left out)."""
    grading = folder(course) / unit / "grading"
    return {p.relative_to(grading).as_posix(): p.read_bytes() for p in sorted(grading.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}


def digest(grading: dict[str, bytes]) -> str:
    """A digest of a unit's grading/ files (grading_files): part of the re-grade key (grader.pipeline.record.key)."""
    h = hashlib.sha256()
    for name, data in grading.items():
        h.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()


@contextmanager
def loaded_from(base: Path):
    """Within: units (in this process and the kernels it starts) are loaded from `base`, a solutions/ folder."""
    before = os.environ.get(ENV)
    os.environ[ENV] = str(base)
    try:
        yield base
    finally:
        if before is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = before


_MATERIALIZED: dict[str, Path] = {}  # digest -> the folder written for it by this process


def materialize(unit: str, files: dict[str, bytes], grading: dict[str, bytes], digest: str) -> Path:
    """A solutions/ folder holding `unit` (its released `files` and its `grading` folder), written once per
    process and digest and removed when the process ends: a worker with no shared disk grades from what the
    coordinator sent (grader.pipeline.jobs)."""
    if digest not in _MATERIALIZED:
        import multiprocessing.util  # (here, not at the top: kernels import this module too)

        base = Path(tempfile.mkdtemp(prefix="resnet-course-units-"))
        # Removed at exit, also in pool workers, which end with os._exit (no atexit) after these finalizers.
        multiprocessing.util.Finalize(None, shutil.rmtree, args=(base,), kwargs={"ignore_errors": True}, exitpriority=0)
        for prefix, contents in (("", files), ("grading/", grading)):
            for name, data in contents.items():
                if ".." in Path(name).parts or Path(name).is_absolute():
                    raise ValueError(f"unsafe file name {name!r}")
                target = base / unit / (prefix + name)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
        _MATERIALIZED[digest] = base
    return _MATERIALIZED[digest]
