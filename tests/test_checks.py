"""The checks judge right: every mutant loses its exercise's points with a message naming its mistake, every
correct variant keeps full marks, and nothing leaks into another exercise's points.

All variants run once (session fixture) through the source notebook's own test cells, hidden tests included.
"""

import re

import pytest

from tests.corpus.cells import run_variant
from tests.corpus.mutants import CELLS, CORRECT_VARIANTS, MUTANTS

ALL_CELLS = [c for cells in CELLS.values() for c in cells]


@pytest.fixture(scope="session")
def outcomes():
    return {v.name: run_variant(v) for v in MUTANTS + CORRECT_VARIANTS} | {"solution": run_variant(None)}


def test_the_solution_passes_every_cell(outcomes):
    failed = {k: r["message"] for k, r in outcomes["solution"].items() if not r["passed"]}
    assert not failed
    assert set(outcomes["solution"]) == set(ALL_CELLS)


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_each_mutant_loses_exactly_its_exercise_points(outcomes, mutant):
    result = outcomes[mutant.name]
    failed = {k for k, r in result.items() if not r["passed"]}
    assert set(mutant.lost_cells()) <= failed, f"{mutant.name} kept points in {set(mutant.lost_cells()) - failed}"
    assert failed <= set(CELLS[mutant.exercise]), f"{mutant.name} also lost {failed - set(CELLS[mutant.exercise])}"


@pytest.mark.parametrize("mutant", [m for m in MUTANTS if m.message], ids=lambda m: m.name)
def test_the_visible_message_names_the_mistake(outcomes, mutant):
    first_cell = mutant.lost_cells()[0]
    message = outcomes[mutant.name][first_cell]["message"]
    assert re.search(mutant.message, message), message


@pytest.mark.parametrize("variant", CORRECT_VARIANTS, ids=lambda v: v.name)
def test_each_correct_variant_gets_full_marks(outcomes, variant):
    failed = {k: r["message"] for k, r in outcomes[variant.name].items() if not r["passed"]}
    assert not failed


def test_corpus_size():
    assert len(MUTANTS) >= 20 and len(CORRECT_VARIANTS) >= 8
