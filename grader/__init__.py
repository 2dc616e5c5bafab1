"""The instructor's side of the course, never shipped to learners: the engine that grades the assignment units
of solutions/ (each one folder; grader.units finds them).

    units.py        the units and what the engine derives from them
    course.py       nbgrader driven from Python with the one config file (nbgrader_config.py); preprocessors.py
    pipeline/       collect -> prepare -> execute -> judging -> record -> feedback / export / report
    isolation/      how a student's kernel is confined
    kernel/         what runs in the kernel beside student code
    mutants.py      a unit's wrong solutions, written and run; expectations.py writes stored expectations
"""

import os
import warnings

# Grading processes judge with NumPy: TensorFlow waits until something builds a model (resnet_course._quiet).
os.environ.setdefault("RESNET_COURSE_DEFER_TENSORFLOW", "1")

# nbgrader 0.9's gradebook trips SQLAlchemy's autoflush warning on every new submission; it is harmless.
warnings.filterwarnings("ignore", message=r".*not in session, add operation along.*")
