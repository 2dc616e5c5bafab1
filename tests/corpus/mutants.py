"""The ResNet assignment's mutants and correct variants (solutions/resnet50/grading/mutants.py), under the names
the tests use; grader.mutants is the harness both assignments share."""

from pathlib import Path

from grader import mutants

SUITE = mutants.Suite("resnet50")
ROOT = Path(__file__).resolve().parents[2]
SOURCE = SUITE.source
CELLS, EXERCISES = SUITE.cells, SUITE.exercises
MUTANTS, CORRECT_VARIANTS = SUITE.mutants, SUITE.correct
sources_for = SUITE.sources_for


def solution_sources(source: Path = SOURCE) -> dict[str, str]:
    """{grade id: source} of the solution cells of the source notebook (or of another, e.g. the release)."""
    return mutants.solution_sources(source)
