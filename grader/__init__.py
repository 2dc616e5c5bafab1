"""The instructor's side of the course: nbgrader configuration, reference, hidden tests and the grading
pipeline (collect -> execute -> record -> feedback / export / report). Never shipped to learners."""

import os
import warnings

# Grading processes judge with NumPy: TensorFlow waits until something builds a model (resnet_course._quiet).
os.environ.setdefault("RESNET_COURSE_DEFER_TENSORFLOW", "1")

# nbgrader 0.9's gradebook trips SQLAlchemy's autoflush warning on every new submission; it is harmless.
warnings.filterwarnings("ignore", message=r".*not in session, add operation along.*")
