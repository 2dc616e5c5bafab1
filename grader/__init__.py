"""The instructor's side of the course: nbgrader configuration, reference, hidden tests and the grading
pipeline (collect -> execute -> record -> feedback / export / report). Never shipped to learners."""

import warnings

# nbgrader 0.9's gradebook trips SQLAlchemy's autoflush warning on every new submission; it is harmless.
warnings.filterwarnings("ignore", message=r".*not in session, add operation along.*")
