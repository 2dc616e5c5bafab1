"""The record step writes nbgrader's gradebook itself where nbgrader would be slow: the rows it creates in bulk
must be the ones nbgrader's own add_submission creates, and what it records must read back through nbgrader."""

from __future__ import annotations

import dataclasses

import pytest

from grader import course
from grader.pipeline import record
from grader.pipeline.jobs import Outcome, Template

ASSIGNMENT = "resnet50"


@pytest.fixture(scope="module")
def released():
    course.kernel_environment()  # (nbgrader makes a gradebook with `alembic`, from the environment's bin/)
    with course.scratch_course(ASSIGNMENT) as root:
        course.generate_release(ASSIGNMENT, root)
        yield root, course.load_config(root).CourseDirectory.db_url


def layout(gb, student: str) -> dict:
    """What a submission is made of: its timestamp and its (kind, notebook, cell) rows, with their values."""
    from nbgrader.api import BaseCell, Comment, Grade, Notebook, SubmittedAssignment

    rows = {}
    for kind, values in ((Grade, (Grade.auto_score, Grade.manual_score, Grade.needs_manual_grade)),
                         (Comment, (Comment.auto_comment, Comment.manual_comment))):
        for notebook, cell, *vals in (record.cell_query(gb, ASSIGNMENT, kind, Notebook.name, BaseCell.name, *values)
                                      .filter(SubmittedAssignment.student_id == student)):
            rows[(kind.__name__, notebook, cell)] = tuple(vals)
    return {"timestamp": gb.find_submission(ASSIGNMENT, student).timestamp, "rows": rows}


def test_bulk_submissions_are_nbgraders_own_and_record_reads_back(released):
    from nbgrader.api import Gradebook

    root, db_url = released
    stamp = "2026-11-30 23:59:00 UTC"
    with Gradebook(db_url) as gb:
        gb.update_or_create_student("by_nbgrader")
        gb.add_submission(ASSIGNMENT, "by_nbgrader", timestamp=stamp)
    template = Template(ASSIGNMENT, ("Residual_Networks",), frozenset(), b"", {}, "digest")
    with record.Recorder(template, root, db_url) as recorder:
        assert recorder.prepare({"by_nbgrader": stamp, "bulk_a": stamp, "bulk_b": None}) == 2
        assert recorder.prepare({"bulk_a": stamp}) == 0  # (a second call creates nothing)
    with Gradebook(db_url) as gb:
        ours, theirs = layout(gb, "bulk_a"), layout(gb, "by_nbgrader")
        assert len(theirs["rows"]) > 10 and ours == theirs
        assert gb.find_submission(ASSIGNMENT, "bulk_b").timestamp is None

    points = {cell: 1.0 for kind, _, cell in theirs["rows"] if kind == "Grade"}
    outcome = Outcome("bulk_a", "d", "graded", scores={"Residual_Networks": points},
                      comments={"Residual_Networks": {cell: f"said of {cell}" for kind, _, cell in theirs["rows"]
                                                      if kind == "Comment"}})
    with record.Recorder(template, root, db_url) as recorder:  # bulk_a was made earlier: its rows are looked up
        recorder.prepare({"bulk_a": stamp})
        recorder.save(outcome)
    with record.Recorder(template, root, db_url) as recorder:  # new_c is made here: its rows are known
        assert recorder.prepare({"new_c": stamp}) == 1
        recorder.save(dataclasses.replace(outcome, student="new_c"))
    with Gradebook(db_url) as gb:
        for student in ("bulk_a", "new_c"):
            rows = layout(gb, student)["rows"]
            # nbgrader's own view of the grade: its score property sums what record wrote
            assert gb.find_submission(ASSIGNMENT, student).score == pytest.approx(sum(points.values()))
            for (kind, _, cell), values in rows.items():
                expected = (1.0, None, False) if kind == "Grade" else (f"said of {cell}", None)
                assert values == expected, (student, kind, cell)
