"""The checks judge right, through the real autograder (nbgrader with the project config, in the graded
class of conftest.graded_class): every mutant loses its exercise's points with a visible message naming its
mistake, every correct variant keeps full marks, and nothing leaks into another exercise's points.

Run alone with: python -m pytest tests/test_checks.py
"""

import re

import pytest

from tests.corpus.mutants import CELLS, CORRECT_VARIANTS, MUTANTS

ALL_CELLS = [c for cells in CELLS.values() for c in cells]


def outcome(graded_class, name: str):
    rec = graded_class.record(name)
    assert rec["status"] == "graded", rec["message"]
    return graded_class.cells(name), rec["messages"]


def test_the_solution_passes_every_cell(graded_class):
    cells, messages = outcome(graded_class, "solution")
    assert not messages
    assert set(cells) == set(ALL_CELLS) and all(cells.values())


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_each_mutant_loses_exactly_its_exercise_points(graded_class, mutant):
    cells, messages = outcome(graded_class, f"mutant-{mutant.name}")
    failed = {c for c, points in cells.items() if points == 0}
    assert set(mutant.lost_cells()) <= failed, f"{mutant.name} kept points in {set(mutant.lost_cells()) - failed}"
    assert failed <= set(CELLS[mutant.exercise]), f"{mutant.name} also lost {failed - set(CELLS[mutant.exercise])}"


@pytest.mark.parametrize("mutant", [m for m in MUTANTS if m.message], ids=lambda m: m.name)
def test_the_visible_message_names_the_mistake(graded_class, mutant):
    _, messages = outcome(graded_class, f"mutant-{mutant.name}")
    first_cell = mutant.lost_cells()[0]
    assert re.search(mutant.message, messages.get(first_cell, "")), messages


@pytest.mark.parametrize("variant", CORRECT_VARIANTS, ids=lambda v: v.name)
def test_each_correct_variant_gets_full_marks(graded_class, variant):
    cells, messages = outcome(graded_class, f"variant-{variant.name}")
    assert all(cells.values()) and not messages, messages


def test_corpus_size():
    assert len(MUTANTS) >= 20 and len(CORRECT_VARIANTS) >= 8


def test_diagnosis_rate(graded_class):
    """Share of mutants whose visible message names the actual mistake (the issue's target: 90%)."""
    named = sum(1 for m in MUTANTS if m.message and re.search(
        m.message, graded_class.record(f"mutant-{m.name}")["messages"].get(m.lost_cells()[0], "")))
    assert named / len(MUTANTS) >= 0.9, f"{named} of {len(MUTANTS)}"
