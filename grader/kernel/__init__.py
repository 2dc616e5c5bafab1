"""What runs inside a grading kernel, beside the student's code: the evidence hand-over, the integrity check and
the watch. A kernel may read this folder (grader.isolation.sandbox's allow-list); it must not read the rest of grader/."""
