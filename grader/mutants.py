"""A unit's mutants: wrong solutions written as learners really get them wrong, and correct ones that differ
legitimately, each a few text edits to the solution cells of the unit's source notebook (so they follow the
solution as it changes). The unit lists them in grading/mutants.py:

    CELLS = {exercise (its solution cell's grade id): [the graded cells that test it]}
    MUTANTS = [Variant(name, exercise, [(old, new[, count]), ...], message, cells), ...]
    CORRECT_VARIANTS = [Variant(name, exercise, edits), ...]

`message` is a regular expression the visible check's message must match (the diagnosis names the mistake);
`cells` the graded cells that must lose their points (default: all of the exercise's). `Suite(unit)` reads
them and runs any variant in this process (`run`) or writes it into a notebook for a real grading run
(`notebook_with`); the tests prove every mutant loses its cells and every correct variant keeps them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from grader import units


@dataclass(frozen=True)
class Variant:
    name: str
    exercise: str
    edits: tuple  # (old, new[, count]) applied to the exercise's solution cell
    message: str = ""  # regex the visible check's message must match (mutants only)
    cells: tuple = ()  # graded cells that must score 0 (mutants only); the Suite fills in the exercise's
    other_edits: dict = field(default_factory=dict)  # edits to other exercises' cells, by exercise

    def lost_cells(self) -> tuple:
        return self.cells


def apply_edits(source: str, edits, name: str) -> str:
    for edit in edits:
        old, new, count = (*edit, 1) if len(edit) == 2 else edit
        if old not in source:  # (count: at most that many are replaced)
            raise ValueError(f"{name}: {old!r} is not in the solution cell any more; update the corpus")
        source = source.replace(old, new, count)
    return source


def solution_sources(notebook: Path) -> dict[str, str]:
    """{grade id: source} of the solution cells of a notebook."""
    out = {}
    for cell in json.loads(Path(notebook).read_text())["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if meta.get("solution"):
            out[meta["grade_id"]] = "".join(cell["source"])
    return out


# The unit's modules its notebook imports by name (`import checks`), from the notebook's own folder.
SIBLINGS = (units.CHECKS, "experiments")


@contextlib.contextmanager
def notebook_imports(unit: str):
    """Within: `import checks` (and `import experiments`) give `unit`'s modules, as in the notebook's folder.
    Every unit's are named alike, so they stand in sys.modules for the while only."""
    saved = {}
    for name in SIBLINGS:
        if (units.folder() / unit / f"{name}.py").exists():
            saved[name] = sys.modules.get(name)
            sys.modules[name] = units.module(unit, name)
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


class Suite:
    """The variants of one unit and the source notebook they edit."""

    def __init__(self, unit: str):
        self.unit = unit
        listed = units.module(unit, "grading.mutants")
        self.cells = {exercise: list(cells) for exercise, cells in listed.CELLS.items()}
        self.exercises = tuple(self.cells)
        self.mutants = [dataclasses.replace(v, cells=v.cells or tuple(self.cells[v.exercise])) for v in listed.MUTANTS]
        self.correct = list(listed.CORRECT_VARIANTS)
        (self.source,) = sorted((units.folder() / unit).glob("*.ipynb"))

    def solution_sources(self) -> dict[str, str]:
        return solution_sources(self.source)

    def sources_for(self, variant: Variant | None) -> dict[str, str]:
        """The exercise cells with the variant's edits applied (None: the solution's)."""
        sources = self.solution_sources()
        if variant is not None:
            sources[variant.exercise] = apply_edits(sources[variant.exercise], variant.edits, variant.name)
            for exercise, edits in variant.other_edits.items():
                sources[exercise] = apply_edits(sources[exercise], edits, variant.name)
        return sources

    def graded_cells(self) -> tuple[str, dict[str, str]]:
        """(the first code cell: the imports, {grade id: test cell source}) of the source notebook."""
        imports, tests = None, {}
        for cell in json.loads(self.source.read_text())["cells"]:
            if cell["cell_type"] != "code":
                continue
            meta = cell["metadata"].get("nbgrader", {})
            source = "".join(cell["source"])
            if imports is None and not meta:
                imports = source
            if meta.get("grade"):
                tests[meta["grade_id"]] = source
        return imports, tests

    def run(self, variant: Variant | None, hidden: bool = True) -> dict[str, dict]:
        """{grade id: {'passed': bool, 'message': str}} for every graded cell, the variant's edits applied, in
        this process: the sources nbgrader runs, without a kernel. hidden=False runs what learners run (each
        test cell without its hidden tests)."""
        imports, tests = self.graded_cells()
        if not hidden:
            tests = {k: source.split("### BEGIN HIDDEN TESTS")[0] for k, source in tests.items()}
        namespace: dict = {"__name__": "__main__"}
        results = {}
        with notebook_imports(self.unit):
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compile(imports, "<imports>", "exec"), namespace)
            for exercise, source in self.sources_for(variant).items():
                exec(compile(source, f"<{exercise}>", "exec"), namespace)
            for grade_id, source in tests.items():
                try:
                    with contextlib.redirect_stdout(io.StringIO()):
                        exec(compile(source, f"<{grade_id}>", "exec"), namespace)
                    results[grade_id] = {"passed": True, "message": ""}
                except Exception as e:  # a failing check is the expected outcome for mutants
                    results[grade_id] = {"passed": False, "message": f"{type(e).__name__}: {e}"}
        return results

    def notebook_with(self, variants) -> str:
        """The source notebook with the variants' edits applied to their cells (for real nbgrader submissions)."""
        import nbformat

        nb = nbformat.read(self.source, as_version=4)
        by_exercise = {v.exercise: v for v in variants}
        for cell in nb.cells:
            variant = by_exercise.get(cell.metadata.get("nbgrader", {}).get("grade_id"))
            if variant is not None:
                cell.source = apply_edits(cell.source, variant.edits, variant.name)
        return nbformat.writes(nb)
