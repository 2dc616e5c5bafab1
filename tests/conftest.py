import contextlib
import os

# Quiet TensorFlow and pick a deterministic, CPU-only set-up before any test imports keras.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from tests.corpus.grading import GradedClass, grade_class  # noqa: E402


@pytest.fixture(scope="session")
def graded_class(tmp_path_factory) -> GradedClass:
    """The synthetic class (solution, mutants, variants, release, partial, hostile) graded once through the
    real pipeline: collect, a first autograde run killed midway, a second run that finishes the class."""
    return grade_class(tmp_path_factory.mktemp("class"))


@contextlib.contextmanager
def stderr_of_this_process():
    """Everything written to file descriptor 2 inside the block, child processes' writes included: the
    yielded list holds it as one string after the block."""
    import sys
    import tempfile

    written: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield written
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            written.append(captured.read().decode(errors="replace"))


@pytest.fixture(scope="session")
def plain_nbgrader():
    """Three submissions graded by nbgrader's own autograde (the course config, no pipeline of ours): the
    solution, the untouched release and the release with one wrong exercise."""
    import nbformat

    from grader import course
    from tests.corpus.classroom import ASSIGNMENT, NOTEBOOK, student_notebook
    from tests.corpus.mutants import MUTANTS, sources_for

    one_wrong = next(m for m in MUTANTS if m.name == "identity-shortcut-missing")
    with course.scratch_course(ASSIGNMENT) as root:
        release = course.generate_release(ASSIGNMENT, root)
        fresh = {p.relative_to(release): p.read_bytes() for p in release.rglob("*") if p.is_file()}
        course.submit(root, ASSIGNMENT, "solution", {NOTEBOOK: root / "solutions" / ASSIGNMENT / NOTEBOOK})
        course.submit(root, ASSIGNMENT, "untouched", {NOTEBOOK: release / NOTEBOOK})
        course.submit(root, ASSIGNMENT, "one_wrong", {NOTEBOOK: student_notebook(sources_for(one_wrong))})
        with stderr_of_this_process() as terminal:  # (what the kernels print, as an instructor's terminal shows it)
            scores = {s: course.autograde(ASSIGNMENT, s, root) for s in ("solution", "untouched", "one_wrong")}
        autograded = {s: nbformat.read(root / "autograded" / s / ASSIGNMENT / NOTEBOOK, as_version=4)
                      for s in scores}
        yield {"fresh_release": fresh, "scores": scores, "autograded": autograded, "one_wrong": one_wrong,
               "terminal": terminal[0]}
