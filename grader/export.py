"""The "export" step: one CSV row per student, in the shape LMS gradebooks import.

Columns: student_id, status, total, max_total, one column per exercise, the LMS's ids and late marker as
collect found them (lms, lms_user_id, lms_submission_id, late, submitted_at), message. Scores come from the
gradebook (so a TA's manual override counts); the status from the grading run. A submission whose last run
hit a grader error keeps its earlier grade, and its message says so.
"""

from __future__ import annotations

import contextlib
import csv
from pathlib import Path

from . import autograde, collect, course, record


LMS_COLUMNS = ["lms", "lms_user_id", "lms_submission_id", "late", "submitted_at"]


def rows(assignment: str, root: Path | None = None) -> list[dict]:
    from nbgrader.api import Gradebook, MissingEntry

    root = Path(root or course.ROOT)
    records = record.load(root, assignment)
    errors = record.load_errors(root, assignment)
    groups = course.exercises(assignment, root)
    points = course.cell_points(assignment, root)
    everyone = sorted(set(records) | set(autograde.students(root, assignment)))
    out = []
    # (no gradebook before the first grading run: opening one would create it)
    with Gradebook(course.load_config(root).CourseDirectory.db_url) if records else contextlib.nullcontext() as gb:
        for student in everyone:
            rec = records.get(student)
            row = {"student_id": student, "status": rec["status"] if rec else "not_graded",
                   "total": "", "max_total": f"{sum(points.values()):g}"}
            cells: dict[str, float] = {}
            if rec:
                try:
                    submission = gb.find_submission(assignment, student)
                    cells = {g.name: g.score for nb in submission.notebooks for g in nb.grades}
                except MissingEntry:
                    pass
            for exercise, grade_ids in groups.items():
                row[exercise] = f"{sum(cells.get(g) or 0 for g in grade_ids):g}" if rec else ""
            if rec:
                row["total"] = f"{sum(v or 0 for v in cells.values()):g}"
            lms = collect.metadata(root, assignment, student)
            row.update({"lms": lms.get("lms", ""), "lms_user_id": lms.get("user_id", ""),
                        "lms_submission_id": lms.get("submission_id", ""),
                        "late": {True: "yes", False: "no"}.get(lms.get("late"), ""),
                        "submitted_at": lms.get("submitted_at", "")})
            message = rec["message"] if rec else "submitted but not graded yet: run autograde"
            if student in errors:
                message = "; ".join(filter(None, [message, f"the last grading run hit a grader error "
                                                  f"({errors[student]['message']}); this result is from an earlier "
                                                  "run; run autograde again"]))
            row["message"] = message
            out.append(row)
    return out


def write(assignment: str, out: Path, root: Path | None = None) -> Path:
    table = rows(assignment, root)
    columns = ["student_id", "status", "total", "max_total", *course.exercises(assignment, root), *LMS_COLUMNS,
               "message"]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(table)
    return out
