"""The course's nbgrader configuration: one file, each setting with the reason it is here.

The repository root is the nbgrader course directory: `solutions/` is the source (with solutions and hidden
tests), `assignments/` the student release. The root's nbgrader_config.py only loads this file.
"""

import os
from pathlib import Path

c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file

ROOT = Path(__file__).resolve().parent.parent

c.CourseDirectory.root = str(ROOT)
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignments"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
# The gradebook can be moved (e.g. per grading run) without editing this file.
c.CourseDirectory.db_url = os.environ.get("NBGRADER_DB_URL", f"sqlite:///{ROOT / 'gradebook.db'}")
# Notebooks, their visible checks and the pictures/sample photo they show; never checkpoints, trained models or
# a unit's grading/ folder (hidden tests, judges, reference: see grader/units.py).
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.keras", "grading"]

# Student stubs: the same text in every exercise.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# nbclient skips cells tagged `skip-execution`, and nbgrader does not restore tags: a student could tag the
# test cells and score full marks. Only a tag nobody can guess may skip a cell.
c.Execute.skip_cells_with_tag = "resnet-course-never-skip-0b5e1c7a9d"
# Per cell. Checks of one exercise take a few seconds; training under nbgrader is a one-epoch smoke run.
c.Execute.timeout = 180
c.Execute.interrupt_on_timeout = True

# A test cell with any stderr output scores 0. TensorFlow/absl start-up logs and Keras/absl warnings are
# benign: drop stderr outputs that consist only of such lines (autograde only; see FACTS.md).
c.IgnorePattern.enabled = True
# Every line must be one of these, each ending at a newline, so the pattern runs in linear time even on a
# flood of output.
c.IgnorePattern.pattern = (
    r"^(?:(?:WARNING: All log messages before absl::InitializeLog\(\)[^\n]*|[IWE]\d{4} [^\n]*"
    r"|To enable the following instructions[^\n]*|[^\n]*rebuild TensorFlow with the appropriate compiler flags[^\n]*"
    r"|[^\n]*(?:UserWarning|DeprecationWarning|FutureWarning): [^\n]*|[ \t]+warnings\.warn\([^\n]*|[ \t]*)"
    r"(?:\n|$))+$"
)

# Deleted grade cells come back from the gradebook instead of silently losing their points.
c.OverwriteCells.add_missing_cells = True
# Huge outputs (a print in a loop) must not blow up the autograded notebooks or feedback.
c.LimitOutput.max_lines = 1000
c.LimitOutput.max_traceback = 100

# Feedback shows scores and the visible checks' messages, never the hidden tests' source: ClearHiddenTests
# strips them from the cells, ClearHiddenTracebacks from the failed cells' tracebacks (which quote them).
import sys  # noqa: E402

sys.path.insert(0, str(ROOT))  # plain `nbgrader` commands load this file too: make `grader` importable
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import ClearHiddenTests, GetGrades  # noqa: E402

from grader.preprocessors import ClearHiddenTracebacks  # noqa: E402

c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTests, ClearHiddenTracebacks, CSSHTMLHeaderPreprocessor]
