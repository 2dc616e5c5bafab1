"""The house rules: assignment units found, not listed; one direction of dependence; no import circles; every
unit conforms (solution full marks, release zero, fresh expectations, a judge for each hidden call, nothing
of grading/ released); changing one unit's grading re-grades that unit's submissions and no other's."""

import ast
import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from grader import course, expectations, units
from grader.pipeline import autograde, executors, judging
from grader.pipeline.jobs import Outcome

ROOT = course.ROOT
UNITS = units.names()


def _imports(path: Path, package: str) -> set[str]:
    """Every module `path` imports, at any depth (lazy imports too), relative imports resolved in `package`."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _modules(top: str) -> dict[str, Path]:
    folder = ROOT / top
    out = {}
    for path in sorted(folder.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def test_units_are_found_not_listed():
    assert UNITS == sorted(p.name for p in (ROOT / "solutions").iterdir() if (p / "grading").is_dir())
    assert set(UNITS) == {"resnet50", "why_residual"}
    engine = "\n".join(p.read_text() for p in (ROOT / "grader").rglob("*.py"))
    for unit in UNITS:  # no registry in the engine names a unit's modules
        assert f"course_units.{unit}" not in engine and f"solutions.{unit}" not in engine


def test_the_student_library_imports_no_grader_and_no_unit():
    for name, path in _modules("resnet_course").items():
        imported = _imports(path, name.rpartition(".")[0] if not path.name == "__init__.py" else name)
        bad = {m for m in imported if m.split(".")[0] in ("grader", "course_units", "solutions", "tests")}
        assert not bad, (path, bad)


def test_the_engine_imports_no_unit_statically():
    for name, path in _modules("grader").items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        bad = {m for m in _imports(path, package) if m.split(".")[0] in ("course_units", "solutions", "tests")}
        assert not bad, (path, bad)


def test_the_grader_has_no_import_circle():
    modules = _modules("grader")
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        graph[name] = {m for m in _imports(path, package) if m in modules and m != name and m != "grader"}
    state, circles = {}, []

    def visit(node, trail):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                circles.append(trail[trail.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not circles, circles


def test_no_twin_files_named_after_an_assignment():
    names = [p.stem for top in ("grader", "resnet_course") for p in (ROOT / top).rglob("*.py")]
    assert not [n for n in names if n.endswith("_residual") or n.endswith("_resnet50")], names


# --- conformance, for every unit ---------------------------------------------------------------------------


@pytest.mark.parametrize("unit", UNITS)
def test_unit_stored_expectations_are_fresh(unit, capsys):
    assert expectations.command(units.module(unit, "grading.expected"), check=True) == 0, capsys.readouterr().out


@pytest.mark.parametrize("unit", UNITS)
def test_unit_every_hidden_call_has_a_judge_and_names_its_own_unit(unit):
    judges = units.judges(unit)
    calls = []
    for path in sorted((ROOT / "solutions" / unit).glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code" and "BEGIN HIDDEN TESTS" in cell.source:
                keys = judging.hidden_calls(cell.source)
                assert keys, (path.name, cell.metadata.get("nbgrader", {}).get("grade_id"))
                calls += keys
    assert {key[0] for key in calls} == {unit}
    assert {key[1] for key in calls} <= set(judges), sorted({key[1] for key in calls} - set(judges))
    hidden = units.hidden(unit)
    assert all(callable(getattr(hidden, key[1], None)) for key in calls)


@pytest.mark.parametrize("unit", UNITS)
def test_unit_release_holds_nothing_of_grading(unit):
    release = ROOT / "assignments" / unit
    grading = set(units.grading_files(unit).values())
    for path in release.rglob("*"):
        assert "grading" not in path.relative_to(release).parts, path
        if path.is_file():
            assert path.read_bytes() not in grading, path
            if path.suffix == ".ipynb":
                text = path.read_text()
                assert "BEGIN HIDDEN TESTS" not in text and "units.hidden" not in text, path
    # and it carries what the notebook imports beside it
    assert (release / "checks.py").read_bytes() == (ROOT / "solutions" / unit / "checks.py").read_bytes()


@pytest.fixture(scope="module")
def templates():
    """Each unit as workers get it: built by a fresh nbgrader generate_assignment (grader.course.template)."""
    return {unit: course.template(unit) for unit in UNITS}


@pytest.mark.parametrize("unit", UNITS)
def test_unit_committed_release_is_what_nbgrader_generates(unit, templates):
    """assignments/<unit>/ is a fresh release: its notebooks as generate_assignment writes them, and the
    source folder's other files (checks.py, stored arrays, pictures) as they are."""
    committed_dir = ROOT / "assignments" / unit
    committed = {p.relative_to(committed_dir).as_posix(): p.read_bytes()
                 for p in committed_dir.rglob("*") if p.is_file()}
    fresh = {**templates[unit].release, **templates[unit].files}
    assert committed.keys() == fresh.keys()
    for path, content in committed.items():
        assert content == fresh[path], f"{path} differs from a fresh generate_assignment: run `grader release {unit}`"


@pytest.fixture(scope="module")
def conformance_grades(templates):
    """Each unit's solution and untouched release, graded by the engine (confined kernels, judged outside)."""
    from grader.pipeline.jobs import Job, Limits

    jobs_of = {}
    for unit in UNITS:
        jobs_of[unit] = [Job(who, {f"{name}.ipynb": (ROOT / folder / unit / f"{name}.ipynb").read_bytes()
                                    for name in templates[unit].notebooks})
                         for who, folder in (("solution", "solutions"), ("release", "assignments"))]
    limits = Limits(cell_timeout=240, submission_timeout=600)
    return {unit: {o.student: o for o in executors.local(jobs_of[unit], templates[unit], limits, 2)} for unit in UNITS}


@pytest.mark.slow
@pytest.mark.parametrize("unit", UNITS)
def test_unit_solution_scores_full_marks_and_release_zero(unit, conformance_grades):
    points = course.cell_points(unit)
    solution, release = conformance_grades[unit]["solution"], conformance_grades[unit]["release"]
    assert solution.status == "graded" and release.status == "graded", (solution.message, release.message)
    solution_cells = {k: v for nb in solution.scores.values() for k, v in nb.items()}
    release_cells = {k: v for nb in release.scores.values() for k, v in nb.items()}
    assert solution_cells == points, solution.messages
    assert set(release_cells) == set(points) and not any(release_cells.values()), release_cells


# --- re-grading follows the unit's grading files -------------------------------------------------------------


class Replay:
    """Stands in for executors.local: full marks for every job, and a note of which students it was given."""

    def __init__(self, monkeypatch):
        self.seen = []
        monkeypatch.setattr(executors, "local", self)

    def __call__(self, jobs, template, limits, workers):
        points = course.cell_points(template.assignment, self.root)
        for job in jobs:
            self.seen.append((template.assignment, job.student))
            yield Outcome(job.student, job.digest, "graded", scores={template.notebooks[0]: dict(points)})


@pytest.mark.slow
def test_changing_one_units_hidden_case_or_judge_regrades_that_unit_only(tmp_path, monkeypatch):
    root = tmp_path / "course"
    for unit in UNITS:
        for part in ("solutions", "assignments"):
            shutil.copytree(ROOT / part / unit, root / part / unit, ignore=shutil.ignore_patterns("__pycache__"))
        release = next((root / "assignments" / unit).glob("*.ipynb"))
        (root / "submitted" / "ada" / unit).mkdir(parents=True)
        shutil.copy2(release, root / "submitted" / "ada" / unit / release.name)
    replay = Replay(monkeypatch)
    replay.root = root

    def grade_all() -> list:
        replay.seen.clear()
        for unit in UNITS:
            autograde.run(unit, root, progress=False)
        return sorted(replay.seen)

    assert grade_all() == [(unit, "ada") for unit in UNITS]  # first run: everything
    assert grade_all() == []  # nothing changed: nothing re-graded
    hidden = root / "solutions" / "resnet50" / "grading" / "hidden.py"
    hidden.write_text(hidden.read_text().replace('BlockCase("identity", (2, 5, 5, 8), 3, (3, 4, 8))',
                                                 'BlockCase("identity", (2, 5, 6, 8), 3, (3, 4, 8))'))
    assert grade_all() == [("resnet50", "ada")]  # a hidden case of resnet50 changed
    judge = root / "solutions" / "why_residual" / "grading" / "judge.py"
    judge.write_text(judge.read_text() + "\n# a judge changed\n")
    assert grade_all() == [("why_residual", "ada")]
    stored = root / "solutions" / "resnet50" / "grading" / "expected.json"
    stored.write_text(json.dumps(json.loads(stored.read_text())))
    assert grade_all() == [("resnet50", "ada")]  # the stored expectations changed


# --- a third assignment, added as the README says -----------------------------------------------------------


def readme_unit(root: Path) -> tuple[str, list]:
    """Writes the files of the README's "Add an assignment" section into the course `root`; returns the unit's
    name and its notebook's cells (kind, grade id, points, source) in order."""
    text = (ROOT / "README.md").read_text()
    section = re.split(r"\n#{2,3} (?!BEGIN|END)", text.split("### Add an assignment", 1)[1], maxsplit=1)[0]
    blocks = [b.split("```", 1)[0] for b in section.split("```python\n")[1:]]
    cells, unit = [], None
    for block in blocks:
        first, _, body = block.partition("\n")
        if first.startswith("# cell: "):
            kind, grade_id, *points = first.removeprefix("# cell: ").split()
            cells.append((kind, grade_id, float(points[0]) if points else 0.0, body.strip("\n")))
        elif first.startswith("# solutions/"):
            path = root / first.removeprefix("# ")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(body)
            unit = path.relative_to(root / "solutions").parts[0]
    assert unit and cells, "the README section lost its files or cells"
    return unit, cells


def readme_notebook(cells: list) -> nbformat.NotebookNode:
    """The notebook as nbgrader's Create Assignment toolbar makes it from those cells."""
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    nb.cells.append(nbformat.v4.new_markdown_cell("# Tiny\n\nWrite `relu`."))
    for kind, grade_id, points, source in cells:
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["nbgrader"] = {"grade": kind == "tests", "grade_id": grade_id, "locked": kind == "tests",
                                     "schema_version": 3, "solution": kind == "solution", "task": False,
                                     **({"points": points} if kind == "tests" else {})}
        nb.cells.append(cell)
    return nb


def grader_cli(root: Path, *args: str, timeout: int = 900):
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "grader", "--course", str(root), *args], cwd=root, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_a_third_assignment_from_the_readme_is_released_graded_fed_back_and_exported(tmp_path):
    import csv

    root = tmp_path / "course"
    unit, cells = readme_unit(root)
    notebook = root / "solutions" / unit / "Tiny.ipynb"
    nbformat.write(readme_notebook(cells), notebook)
    assert units.names(root) == [unit]

    released = grader_cli(root, "release", unit)
    assert released.returncode == 0, released.stdout[-3000:] + released.stderr[-3000:]
    assert "ready to hand out" in released.stdout
    release = root / "assignments" / unit
    assert (release / "checks.py").exists() and not (release / "grading").exists()
    assert "units.hidden" not in (release / "Tiny.ipynb").read_text()

    # Four students: the solution, the untouched release, a relu the visible check catches, and one that
    # passes the visible check but not the hidden cases (only the judge, outside the kernel, can tell).
    solution = nbformat.read(notebook, as_version=4)
    wrong = {"ada": None, "bo": "release",
             "cy": "    return x\n",
             "di": "    return np.array([0.0, 0.0, 3.0]) if np.shape(x) == (3,) else x\n"}
    for student, body in wrong.items():
        nb = nbformat.read(release / "Tiny.ipynb", as_version=4) if body == "release" else nbformat.read(notebook, as_version=4)
        if body not in (None, "release"):
            cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "relu")
            cell.source = "import numpy as np\n\n\ndef relu(x):\n" + body
        (tmp_path / "incoming" / student).mkdir(parents=True)
        nbformat.write(nb if body is not None else solution, tmp_path / "incoming" / student / "Tiny.ipynb")
    collected = grader_cli(root, "collect", unit, str(tmp_path / "incoming"))
    assert collected.returncode == 0, collected.stdout[-2000:] + collected.stderr[-2000:]

    graded = grader_cli(root, "autograde", unit, "--workers", "2")
    assert graded.returncode == 0, graded.stdout[-3000:] + graded.stderr[-3000:]
    fed_back = grader_cli(root, "feedback", unit)
    assert fed_back.returncode == 0, fed_back.stderr[-2000:]
    exported = grader_cli(root, "export", unit)
    assert exported.returncode == 0, exported.stderr[-2000:]

    rows = {r["student_id"]: r for r in csv.DictReader((root / f"grades-{unit}.csv").open())}
    assert {s: (rows[s]["status"], float(rows[s]["total"])) for s in wrong} == {
        "ada": ("graded", 2.0), "bo": ("graded", 0.0), "cy": ("graded", 0.0), "di": ("graded", 0.0)}
    assert "should be [0, 0, 3]" in rows["cy"]["relu_values why"]
    assert "must work elementwise, on any shape" in rows["di"]["relu_values why"]  # the judge's words
    page = (root / "feedback" / "di" / unit / "Tiny.html").read_text()
    assert "must work elementwise" in page and "units.hidden" not in page
