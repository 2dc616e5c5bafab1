"""Run All as a learner runs it: past failed checks to a summary at the end, without weakening grading; the
solution notebooks run from their own folders; committed notebooks carry JupyterLab's metadata.

Run alone with: python -m pytest tests/test_run_all.py
"""

import os
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from grader.pipeline import scan
from resnet_course import summary

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = {"resnet50": "Residual_Networks.ipynb", "why_residual": "Why_Residual_Networks.ipynb"}
SOURCES = [ROOT / "solutions" / a / n for a, n in NOTEBOOKS.items()]
RELEASES = [ROOT / "assignments" / a / n for a, n in NOTEBOOKS.items()]
# What ipykernel reports and JupyterLab writes into a notebook it opens: a notebook without it shows as modified.
LANGUAGE_INFO_KEYS = {"codemirror_mode", "file_extension", "mimetype", "name", "nbconvert_exporter", "pygments_lexer",
                      "version"}


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


@pytest.mark.parametrize("path", SOURCES + RELEASES, ids=lambda p: str(p.relative_to(ROOT)))
def test_checks_and_the_cells_after_the_first_exercise_let_run_all_go_on(path):
    nb = nbformat.read(path, as_version=4)
    first = next(i for i, c in enumerate(nb.cells) if nbgrader_meta(c).get("solution"))
    graded = [c for c in nb.cells if nbgrader_meta(c).get("grade") and not nbgrader_meta(c).get("solution")]
    assert graded
    for cell in nb.cells[first:-1]:
        if cell.cell_type == "code" and not nbgrader_meta(cell).get("solution"):
            assert "raises-exception" in cell.metadata.get("tags", []), cell.source[:80]
    last = nb.cells[-1]
    assert "summary.show(" in last.source and "raises-exception" not in last.metadata.get("tags", [])
    # The learner's own cells stay untagged: a failing exercise cell still stops Run All where it fails.
    exercises = [c for c in nb.cells if nbgrader_meta(c).get("solution")]
    assert not any("raises-exception" in c.metadata.get("tags", []) for c in exercises)


@pytest.mark.parametrize("path", SOURCES + RELEASES, ids=lambda p: str(p.relative_to(ROOT)))
def test_notebooks_carry_the_metadata_jupyterlab_adds(path):
    meta = nbformat.read(path, as_version=4).metadata
    assert meta.kernelspec == {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    assert set(meta.language_info) == LANGUAGE_INFO_KEYS and meta.language_info["name"] == "python"
    assert meta.language_info["codemirror_mode"] == {"name": "ipython", "version": 3}


def test_the_scan_flags_a_students_own_skip_tags_but_not_the_courses():
    release = nbformat.read(RELEASES[0], as_version=4)
    assert scan.tampered_cells(release, release) == []  # the untouched release: the course's tags only
    student = nbformat.read(RELEASES[0], as_version=4)
    by_id = {nbgrader_meta(c).get("grade_id"): c for c in student.cells}
    by_id["identity_block_structure"].metadata["tags"] = ["raises-exception", "skip-execution"]
    by_id["identity_block"].metadata["tags"] = ["raises-exception"]  # the learner's exercise cell
    untagged = next(c for c in student.cells if c.cell_type == "code" and not c.metadata.get("tags")
                    and not nbgrader_meta(c))
    untagged.metadata["tags"] = ["raises-exception"]
    flags = scan.tampered_cells(student, release)
    assert "cell identity_block_structure is tagged skip-execution (ignored for grading)" in flags
    assert "cell identity_block is tagged raises-exception (ignored for grading)" in flags
    assert any(f.startswith(f"cell #{student.cells.index(untagged) + 1} is tagged raises-exception") for f in flags)
    assert len(flags) == 3


def test_the_summary_counts_points_and_lists_what_is_left():
    nb = nbformat.read(RELEASES[0], as_version=4)
    checks = summary.graded_checks(nb)
    points = {nbgrader_meta(c)["grade_id"]: nbgrader_meta(c)["points"] for c in nb.cells
              if nbgrader_meta(c).get("grade") and not nbgrader_meta(c).get("solution")}
    assert {c.grade_id: c.points for c in checks} == points
    by_id = {c.grade_id: c for c in checks}
    outcomes = {by_id["identity_block_structure"].source: summary.Outcome(True),
                by_id["identity_block_inference"].source: summary.Outcome(False, "The block's output differs")}
    lines = summary.table(checks, outcomes)
    earned = points["identity_block_structure"]
    assert lines[0].startswith(f"Checks: 1 of {len(points)} pass, {earned:g} / {sum(points.values()):g} points")
    row = {next(w for w in line.split() if w in points): line for line in lines[1:len(points) + 1]}
    assert row["identity_block_structure"].split()[0] == "pass"
    assert row["identity_block_inference"].split()[0] == "FAIL"
    assert row["identity_block_inference"].endswith("The block's output differs")
    assert row["resnet50_model"].startswith("  not run")
    assert "identity_block (inference, training)" in lines[-2] and "resnet50 (layout, model)" in lines[-2]
    every = {c.source: summary.Outcome(True) for c in checks}
    assert summary.table(checks, every)[-2] == "Every check passes."


def run_all(folder: Path, name: str, env: dict) -> nbformat.NotebookNode:
    """The notebook executed as JupyterLab's Run All does: top to bottom, stopping at the first error of a
    cell not tagged raises-exception (nbclient raises then), the kernel started in the notebook's folder."""
    nb = nbformat.read(folder / name, as_version=4)
    NotebookClient(nb, timeout=600, allow_errors=False, kernel_name="python3",
                   resources={"metadata": {"path": str(folder)}}).execute(env=env)
    return nb


def learner_env(**extra) -> dict:
    """A learner's kernel: no NBGRADER_EXECUTION, and no course folder on PYTHONPATH (so no `grader`)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NBGRADER_EXECUTION", "NBGRADER_VALIDATING")}
    return env | {"MPLBACKEND": "agg"} | extra


def errors(cell) -> list:
    return [o for o in cell.get("outputs", []) if o.output_type == "error"]


@pytest.mark.slow
def test_run_all_of_the_untouched_release_reaches_the_summary(tmp_path):
    folder = tmp_path / "resnet50"
    shutil.copytree(RELEASES[0].parent, folder)
    nb = run_all(folder, RELEASES[0].name, learner_env())
    graded = [c for c in nb.cells if nbgrader_meta(c).get("grade")]
    assert all(errors(c) and errors(c)[0].ename == "CheckFailed" for c in graded)  # each check still an error
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    assert text.startswith(f"Checks: 0 of {len(graded)} pass, 0 / 30 points")
    assert "FAIL     identity_block_structure" in text and "not implemented yet" in text
    assert "Left to do: identity_block (structure, inference, training); convolutional_block" in text


@pytest.mark.slow
def test_the_resnet50_solution_runs_from_its_own_folder_without_the_grader():
    """Kernel cwd = solutions/resnet50, `grader` not importable: the hidden tests skip, every check passes and
    the summary says so. NBGRADER_EXECUTION=validate only shortens training to a smoke run (training.grading);
    the hidden tests still run under autograde (tests/test_assignment.py)."""
    source = SOURCES[0]
    nb = run_all(source.parent, source.name, learner_env(NBGRADER_EXECUTION="validate"))
    assert not [c.source[:60] for c in nb.cells if errors(c)]
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    assert text.startswith("Checks: 8 of 8 pass, 30 / 30 points") and "Every check passes." in text
    assert not list(source.parent.glob("*.keras"))


def test_training_says_it_compiles_before_the_first_epoch(monkeypatch, capfd):
    from resnet_course import training
    from tests.test_training import random_signs, tiny_model

    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    signs = random_signs(40, seed=0)
    training.train(tiny_model(), signs, training.Recipe(epochs=1, batch_size=16, augment=False), verbose=1)
    out = capfd.readouterr().out
    # What it trains on, that it compiles, when that is done, Keras's progress bar (steps) and epoch end, and
    # the pass after training that measures BatchNormalization's averages (a pause with no bar of its own).
    said = [out.find(s) for s in ("Training on ", " images for 1 epoch, validating on ", "Compiling the training step",
                                  "compiled in", "/step", "val_loss", "averages on the 34 training images", "done in")]
    assert -1 not in said and said == sorted(said), out[:600]


def test_diagram_labels_are_readable_at_the_width_a_notebook_shows_them(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from resnet_course import diagrams

    for fig in (diagrams.draw_block("identity"), diagrams.draw_block("convolutional"), diagrams.draw_stages()):
        width = fig.get_figwidth() * diagrams.DPI
        shown = min(1.0, 1000 / width)  # JupyterLab fits a wider picture to a cell about 1000 px wide
        texts = [t for ax in fig.axes for t in (*ax.texts, ax.title) if t.get_text().strip()]  # axes are off
        assert texts
        for text in texts:
            assert text.get_fontsize() * diagrams.DPI / 72 * shown >= 13, (text.get_text(), text.get_fontsize())
    # The committed pictures are what the code draws.
    for path in diagrams.save_all(tmp_path):
        assert path.read_bytes() == (ROOT / "solutions" / "resnet50" / "images" / path.name).read_bytes(), path.name
