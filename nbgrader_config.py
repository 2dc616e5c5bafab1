# nbgrader looks for its configuration here; the course's settings live in one commented file.
c = get_config()  # noqa: F821
load_subconfig("grader/nbgrader_config.py")  # noqa: F821
