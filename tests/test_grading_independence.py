"""Grades do not depend on where or when a submission is graded: the synthetic class's mutants, variants,
solution, release and partial notebooks get identical points per cell on the PyTorch backend (and JAX where
installed) as on TensorFlow, and in repeated runs. (The visible checks' stored expectations are re-derived
from the NumPy reference in test_reference.py.)
"""

import importlib.util

import pytest

from grader.pipeline import autograde, collect
from grader.pipeline.jobs import Limits
from tests.corpus import classroom
from tests.corpus.grading import ASSIGNMENT, LIMITS, new_course, submissions

JUDGED = [s for s in submissions() if s.kind != "hostile"]
REPEATED = ["solution", "untouched-release", "partial-identity-only", "mutant-identity-shortcut-missing",
            "mutant-conv-stride-on-fxf", "mutant-resnet-wrong-stage-length", "mutant-identity-bn-wrong-axis",
            "variant-conv-helper-function", "variant-identity-named-layers"]


def grade(tmp, subs, **limits):
    root = new_course(tmp / "course")
    collect.collect(classroom.write(subs, tmp / "incoming"), ASSIGNMENT, root, ["Residual_Networks"])
    autograde.run(ASSIGNMENT, root, workers=2, limits=Limits(**{**LIMITS.__dict__, **limits}), progress=False)
    return root


def cells(root, student):
    from grader.pipeline import record

    rec = record.load(root, ASSIGNMENT)[student]
    assert rec["status"] == "graded", rec["message"]
    return rec["scores"]["Residual_Networks"]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_other_backends_give_identical_grades(graded_class, backend, tmp_path):
    if importlib.util.find_spec(backend) is None:
        if backend == "jax":
            pytest.skip("JAX is not installed (pip install -e '.[jax]')")
        pytest.fail(f"{backend} must be installed for the test suite")
    root = grade(tmp_path, JUDGED, keras_backend=backend)
    differ = {s.student: (cells(root, s.student), graded_class.cells(s.student)) for s in JUDGED
              if cells(root, s.student) != graded_class.cells(s.student)}
    assert not differ, f"{backend} vs tensorflow: {differ}"


@pytest.mark.slow
def test_repeated_runs_give_identical_grades(graded_class, tmp_path):
    chosen = [s for s in JUDGED if s.student in REPEATED]
    assert len(chosen) == len(REPEATED)
    root = grade(tmp_path, chosen)
    first = {s: cells(root, s) for s in REPEATED}
    autograde.run(ASSIGNMENT, root, workers=2, limits=LIMITS, progress=False, force=True)
    second = {s: cells(root, s) for s in REPEATED}
    original = {s: graded_class.cells(s) for s in REPEATED}
    assert first == second == original
