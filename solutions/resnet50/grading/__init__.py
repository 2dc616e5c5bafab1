"""Grading of the ResNet assignment (Residual_Networks.ipynb): identity block, convolutional block, ResNet50.

hidden.py runs in the student's kernel (other shapes, filter sizes and strides; both BatchNorm modes;
ResNet50 around stand-in blocks); judge.py gives the verdicts from reference.py, the NumPy reference, and
expected.json (`python -m grader expected resnet50`); mutants.py lists wrong solutions each check must
catch. Never released: see grader/units.py for what a unit is.
"""
