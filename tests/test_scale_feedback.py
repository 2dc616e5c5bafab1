"""Feedback for a big class: pages are made on a process pool, identical to the ones made one after another, and
a second run remakes only the students whose grade changed since their last feedback.

No student kernel runs here: the executor is replaced by one that returns the release notebook as the
autograded one (so nbgrader makes real feedback pages).
"""

import json
import shutil

import pytest

from grader import course
from grader.pipeline import feedback

ASSIGNMENT = "resnet50"
NOTEBOOK = "Residual_Networks"
STUDENTS = ("alice", "bob", "carol", "dave")


@pytest.fixture
def deterministic_math(tmp_path, monkeypatch):
    """matplotlib's SVGs carry a date and random ids; pin both, here and in the pool's processes."""
    import matplotlib

    config = tmp_path / "mplconfig"
    config.mkdir()
    (config / "matplotlibrc").write_text("svg.hashsalt: feedback-test\n")
    monkeypatch.setenv("MPLCONFIGDIR", str(config))
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    monkeypatch.setitem(matplotlib.rcParams, "svg.hashsalt", "feedback-test")
    feedback.math_image.cache_clear()
    yield
    feedback.math_image.cache_clear()


@pytest.fixture
def graded_class(tmp_path):
    from grader.pipeline.jobs import Outcome
    from tests.corpus.grading import replay

    root = tmp_path / "course"
    for part in ("solutions", "assignments"):
        shutil.copytree(course.ROOT / part / ASSIGNMENT, root / part / ASSIGNMENT)
    release = (root / "assignments" / ASSIGNMENT / f"{NOTEBOOK}.ipynb").read_bytes()
    for student in STUDENTS:
        folder = root / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        (folder / f"{NOTEBOOK}.ipynb").write_bytes(release)
        (folder / "submission.json").write_text(json.dumps({"student": student, "lms": "canvas", "user_id": "1"}))
    points = course.cell_points(ASSIGNMENT)

    def executor(jobs, template, limits, workers):
        for job in jobs:
            if job.student == "dave":
                yield Outcome(job.student, job.digest, "timed_out", message="took too long", timestamp=job.timestamp)
                continue
            wrong = {"identity_block_structure": 0} if job.student == "bob" else {}
            yield Outcome(job.student, job.digest, "graded", scores={NOTEBOOK: {**points, **wrong}},
                          messages={"identity_block_structure": "the shortcut is missing"} if wrong else {},
                          autograded={f"{NOTEBOOK}.ipynb": release}, timestamp=job.timestamp)

    return replay(root, executor, "scale-digest")


def pages(root) -> dict[str, str]:
    return {p.relative_to(root / "feedback").as_posix(): p.read_text()
            for p in sorted((root / "feedback").rglob("*.html"))}


def stamps(root) -> dict[str, int]:
    return {p.relative_to(root / "feedback").as_posix(): p.stat().st_mtime_ns
            for p in sorted((root / "feedback").rglob("*.html"))}


def test_pool_pages_equal_sequential_and_second_run_redoes_only_changed_grades(graded_class, deterministic_math):
    from nbgrader.api import Gradebook

    root = graded_class
    one_by_one = feedback.generate(ASSIGNMENT, root, workers=1)
    sequential = pages(root)
    assert len(one_by_one) == len(STUDENTS) and len(sequential) == len(STUDENTS)
    shutil.rmtree(root / "feedback")
    shutil.rmtree(feedback.keys_dir(root, ASSIGNMENT))

    pooled = feedback.generate(ASSIGNMENT, root, workers=2)
    assert pooled == one_by_one and pages(root) == sequential  # the same pages, byte for byte

    before = stamps(root)
    again = feedback.generate(ASSIGNMENT, root, workers=2)
    assert again == pooled and (pooled.written, again.written) == (len(STUDENTS), 0)
    assert stamps(root) == before  # nothing changed: nothing rewritten

    with Gradebook(course.load_config(root).CourseDirectory.db_url) as gb:  # a TA's manual grade for bob
        grade = gb.find_grade("identity_block_structure", NOTEBOOK, ASSIGNMENT, "bob")
        grade.manual_score = 1.0
        gb.db.commit()
    assert feedback.generate(ASSIGNMENT, root, workers=2).written == 1
    after = stamps(root)
    changed = sorted(name for name in after if after[name] != before[name])
    assert changed == [f"bob/{ASSIGNMENT}/{NOTEBOOK}.html"]

    (root / "feedback" / "carol" / ASSIGNMENT / f"{NOTEBOOK}.html").unlink()  # a page lost is made again
    feedback.generate(ASSIGNMENT, root, workers=2)
    assert (root / "feedback" / "carol" / ASSIGNMENT / f"{NOTEBOOK}.html").read_text() == \
        sequential[f"carol/{ASSIGNMENT}/{NOTEBOOK}.html"]
