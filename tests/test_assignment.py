"""The assignment through the real nbgrader path with the project's config: release, autograde, leaks.

The session fixture conftest.plain_nbgrader grades three submissions once with plain nbgrader (the solution,
the untouched release, a copy with exactly one exercise wrong); the tests read its results.
"""

import re

import nbformat

from grader import course
from tests.corpus.mutants import CELLS, MUTANTS

ASSIGNMENT = "resnet50"
NOTEBOOK = "Residual_Networks.ipynb"
ROOT = course.ROOT
ONE_WRONG = next(m for m in MUTANTS if m.name == "identity-shortcut-missing")


def points_per_cell() -> dict[str, float]:
    return course.cell_points(ASSIGNMENT)


def test_solution_scores_full_marks(plain_nbgrader):
    score = plain_nbgrader["scores"]["solution"]
    assert score.cells == points_per_cell()
    assert score.score == score.max_score == 30


def test_grading_kernels_print_nothing_into_the_terminal(plain_nbgrader):
    # ipykernel warns on stderr about unencrypted TCP; release printed it once per graded notebook
    assert "without encryption" not in plain_nbgrader["terminal"]
    assert "Traceback" not in plain_nbgrader["terminal"]


def test_untouched_release_scores_zero(plain_nbgrader):
    score = plain_nbgrader["scores"]["untouched"]
    assert score.score == 0 and set(score.cells) == set(points_per_cell())


def test_one_wrong_exercise_loses_exactly_its_points(plain_nbgrader):
    score, points = plain_nbgrader["scores"]["one_wrong"], points_per_cell()
    for cell, value in score.cells.items():
        expected = 0 if cell in CELLS[ONE_WRONG.exercise] else points[cell]
        assert value == expected, cell


def test_correct_test_cells_write_nothing_to_stderr(plain_nbgrader):
    for cell in plain_nbgrader["autograded"]["solution"].cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            assert not [o for o in cell.outputs if o.get("name") == "stderr" or o.output_type == "error"]


def test_the_visible_check_explains_the_wrong_exercise(plain_nbgrader):
    nb = plain_nbgrader["autograded"]["one_wrong"]
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "identity_block_structure")
    error = next(o for o in cell.outputs if o.output_type == "error")
    assert "shortcut is missing" in error["evalue"]


SOLUTION_MARKERS = ["BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "from grader", "hidden.", "X_shortcut = layers.Conv2D",
                    "layers.Add()([X, X_shortcut])", "X = convolutional_block(X, f=3"]


def test_release_contains_no_solution_hidden_test_or_reference():
    for path in (ROOT / "assignments").rglob("*"):
        if path.suffix in (".ipynb", ".py", ".md", ".txt", ".json"):
            text = path.read_text()
            for marker in SOLUTION_MARKERS:
                assert marker not in text, f"{marker!r} leaks into {path}"


def test_student_package_ships_no_instructor_code():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'packages = \["resnet_course"\]', pyproject)
    for path in (ROOT / "resnet_course").rglob("*.py"):
        assert not re.search(r"^\s*(from|import) grader", path.read_text(), re.M), path
    # What learners receive holds the visible cases' expected outputs only, none of the hidden cases.
    from grader import units

    HIDDEN_CASES, checks = units.hidden("resnet50").HIDDEN_CASES, units.module("resnet50", "checks")

    stored = checks.stored_expected()
    assert set(stored) == {f"{kind}_{mode}" for kind in checks.VISIBLE_CASES for mode in ("inference", "training")}
    hidden = {c for cases in HIDDEN_CASES.values() for c in cases}
    assert not hidden & set(checks.VISIBLE_CASES.values())


def test_release_notebook_has_outputs_cleared():
    for path in (ROOT / "assignments").rglob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), path
