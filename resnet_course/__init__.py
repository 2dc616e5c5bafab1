"""Residual Networks course kit: the code that notebooks, tools and tests share (the student side).

Importing the package first quiets TensorFlow's start-up logs, which would otherwise print to stderr
(and nbgrader gives no points to a test cell with stderr output).
"""

from ._quiet import quiet_tensorflow_import

quiet_tensorflow_import(on_package_import=True)
