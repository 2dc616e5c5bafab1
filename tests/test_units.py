"""The house rules: assignment units found, not listed; one direction of dependence; no import circles; every
unit conforms (solution full marks, release zero, fresh expectations, a judge for each hidden call, nothing
of grading/ released); changing one unit's grading re-grades that unit's submissions and no other's."""

import ast
import json
import shutil
from pathlib import Path

import nbformat
import pytest

from grader import autograde, course, executors, judging, units
from grader.jobs import Outcome

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
    assert units.module(unit, "grading.expected").main(["--check"]) == 0, capsys.readouterr().out


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
def conformance_grades():
    """Each unit's solution and untouched release, graded by the engine (confined kernels, judged outside)."""
    from grader.jobs import Job, Limits

    jobs_of, templates = {}, {}
    for unit in UNITS:
        templates[unit] = course.template(unit)
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
