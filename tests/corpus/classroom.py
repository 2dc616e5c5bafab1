"""A synthetic class for the autograder: the solution, every mutant, every correct variant, the untouched
release and partly done notebooks, each a student's submission with the points it must score.

Submissions are the release notebook with the student's code in the solution cells, as learners hand them
in. Shared by tests/test_autograder.py and bench/autograde.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .mutants import CELLS, CORRECT_VARIANTS, MUTANTS, ROOT, solution_sources, sources_for

ASSIGNMENT = "resnet50"
NOTEBOOK = "Residual_Networks.ipynb"
RELEASE = ROOT / "assignments" / ASSIGNMENT / NOTEBOOK
ALL_CELLS = [c for cells in CELLS.values() for c in cells]


@dataclass
class Submission:
    student: str
    kind: str  # solution, mutant, variant, release, partial, hostile
    files: dict[str, bytes]
    # grade id -> points it must score; a cell left out may go either way (a mutant's other cells of the
    # same exercise). None: the submission must earn nothing (any status).
    expected: dict[str, float] | None
    status: str = "graded"
    message: str = ""  # regex the visible message must match (mutants)
    lost: tuple = ()  # the cells a mutant must lose
    notes: dict = field(default_factory=dict)


def student_notebook(sources: dict[str, str]) -> bytes:
    """The release notebook with these exercise cells filled in."""
    nb = nbformat.read(RELEASE, as_version=4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in sources:
            cell.source = sources[grade_id]
    return nbformat.writes(nb).encode()


def _full(points: dict[str, float], exercises) -> dict[str, float]:
    return {cell: (points[cell] if any(cell in CELLS[e] for e in exercises) else 0.0) for cell in ALL_CELLS}


def build(points: dict[str, float]) -> list[Submission]:
    """Every student of the synthetic class; `points` is {grade id: points} of the assignment."""
    solution = solution_sources()
    everything = tuple(CELLS)
    out = [Submission("solution", "solution", {NOTEBOOK: student_notebook(solution)}, _full(points, everything)),
           Submission("untouched-release", "release", {NOTEBOOK: RELEASE.read_bytes()}, _full(points, ())),
           Submission("partial-identity-only", "partial",
                      {NOTEBOOK: student_notebook({"identity_block": solution["identity_block"]})},
                      _full(points, ("identity_block",))),
           Submission("partial-blocks-only", "partial",
                      {NOTEBOOK: student_notebook({k: solution[k] for k in ("identity_block", "convolutional_block")})},
                      _full(points, ("identity_block", "convolutional_block")))]
    for variant in CORRECT_VARIANTS:
        out.append(Submission(f"variant-{variant.name}", "variant", {NOTEBOOK: student_notebook(sources_for(variant))},
                              _full(points, everything)))
    for mutant in MUTANTS:
        expected = {cell: 0.0 if cell in mutant.lost_cells() else points[cell] for cell in ALL_CELLS
                    if cell in mutant.lost_cells() or cell not in CELLS[mutant.exercise]}
        out.append(Submission(f"mutant-{mutant.name}", "mutant", {NOTEBOOK: student_notebook(sources_for(mutant))},
                              expected, message=mutant.message, lost=mutant.lost_cells()))
    return out


def write(submissions: list[Submission], folder: Path) -> Path:
    """Lay the class out as an instructor receives it: one folder per student."""
    for sub in submissions:
        for name, data in sub.files.items():
            target = Path(folder) / sub.student / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    return Path(folder)
