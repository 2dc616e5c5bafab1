"""The assignment through the real nbgrader path with the project's config: release, autograde, leaks.

One session-scoped scratch course grades three submissions once (the solution, the untouched release, and a
copy with exactly one exercise wrong); the tests read its results.
"""

import re

import nbformat
import pytest

from grader import course
from tests.corpus.mutants import CELLS, MUTANTS, SOURCE, apply_edits

ASSIGNMENT = "resnet50"
NOTEBOOK = "Residual_Networks.ipynb"
ROOT = course.ROOT
ONE_WRONG = next(m for m in MUTANTS if m.name == "identity-shortcut-missing")


def notebook_with_mutant(mutant) -> str:
    nb = nbformat.read(SOURCE, as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == mutant.exercise:
            cell.source = apply_edits(cell.source, mutant.edits, mutant.name)
    return nbformat.writes(nb)


@pytest.fixture(scope="session")
def graded():
    with course.scratch_course(ASSIGNMENT) as root:
        release = course.generate_release(ASSIGNMENT, root)
        fresh = {p.relative_to(release): p.read_bytes() for p in release.rglob("*") if p.is_file()}
        course.submit(root, ASSIGNMENT, "solution", {NOTEBOOK: root / "solutions" / ASSIGNMENT / NOTEBOOK})
        course.submit(root, ASSIGNMENT, "untouched", {NOTEBOOK: release / NOTEBOOK})
        course.submit(root, ASSIGNMENT, "one_wrong", {NOTEBOOK: notebook_with_mutant(ONE_WRONG)})
        scores = {s: course.autograde(ASSIGNMENT, s, root) for s in ("solution", "untouched", "one_wrong")}
        autograded = {s: nbformat.read(root / "autograded" / s / ASSIGNMENT / NOTEBOOK, as_version=4)
                      for s in scores}
        yield {"fresh_release": fresh, "scores": scores, "autograded": autograded}


def points_per_cell() -> dict[str, float]:
    return course.cell_points(ASSIGNMENT)


def test_solution_scores_full_marks(graded):
    score = graded["scores"]["solution"]
    assert score.cells == points_per_cell()
    assert score.score == score.max_score == 30


def test_untouched_release_scores_zero(graded):
    score = graded["scores"]["untouched"]
    assert score.score == 0 and set(score.cells) == set(points_per_cell())


def test_one_wrong_exercise_loses_exactly_its_points(graded):
    score, points = graded["scores"]["one_wrong"], points_per_cell()
    for cell, value in score.cells.items():
        expected = 0 if cell in CELLS[ONE_WRONG.exercise] else points[cell]
        assert value == expected, cell


def test_correct_test_cells_write_nothing_to_stderr(graded):
    for cell in graded["autograded"]["solution"].cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            assert not [o for o in cell.outputs if o.get("name") == "stderr" or o.output_type == "error"]


def test_the_visible_check_explains_the_wrong_exercise(graded):
    nb = graded["autograded"]["one_wrong"]
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "identity_block_structure")
    error = next(o for o in cell.outputs if o.output_type == "error")
    assert "shortcut is missing" in error["evalue"]


def test_committed_release_is_what_nbgrader_generates(graded):
    committed_dir = ROOT / "assignments" / ASSIGNMENT
    committed = {p.relative_to(committed_dir): p.read_bytes() for p in committed_dir.rglob("*") if p.is_file()}
    assert committed.keys() == graded["fresh_release"].keys()
    for path, content in committed.items():
        assert content == graded["fresh_release"][path], f"{path} differs from a fresh generate_assignment"


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
    from grader.hidden import HIDDEN_CASES
    from resnet_course import checks

    stored = checks.stored_expected()
    assert set(stored) == {f"{kind}_{mode}" for kind in checks.VISIBLE_CASES for mode in ("inference", "training")}
    hidden = {c for cases in HIDDEN_CASES.values() for c in cases}
    assert not hidden & set(checks.VISIBLE_CASES.values())


def test_release_notebook_has_outputs_cleared():
    for path in (ROOT / "assignments").rglob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), path
