"""The "Why residual networks?" mutants and correct variants (solutions/why_residual/grading/mutants.py), under
the names the tests use, with the shared harness's in-process runner (grader.mutants.Suite.run): the notebook's
imports, the (edited) solution cells and every graded test cell, hidden tests included, in this process, without
a kernel per submission (the nbgrader path itself is proven in test_why_residual.py)."""

from grader import mutants

ASSIGNMENT = "why_residual"
SUITE = mutants.Suite(ASSIGNMENT)
SOURCE = SUITE.source
CELLS, EXERCISES = SUITE.cells, SUITE.exercises
MUTANTS, CORRECT_VARIANTS = SUITE.mutants, SUITE.correct
solution_sources, sources_for, graded_cells = SUITE.solution_sources, SUITE.sources_for, SUITE.graded_cells
run_variant, notebook_with = SUITE.run, SUITE.notebook_with

