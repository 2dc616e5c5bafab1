"""Grading of "Why residual networks?" (Why_Residual_Networks.ipynb): plain and residual blocks, make_net,
layer gradient norms, zero_last_layer.

hidden.py runs in the student's kernel (other widths and batch sizes; make_net around stand-in blocks;
gradients of plain, residual and BN-free networks); judge.py gives the verdicts from reference.py, the NumPy
reference, and expected.json (`python -m grader expected why_residual`); mutants.py lists the wrong
solutions each check must catch. Never released: see grader/units.py for what a unit is.
"""
