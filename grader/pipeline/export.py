"""The "export" step: one CSV row per student, in the shape LMS gradebooks import.

Columns: student_id, status, total (the raw score), late_days, penalty, final (total less the late penalty of
the assignment's policy, grader.pipeline.late), max_total, one column per exercise, then for every check (graded test
cell) its points and "<check> why": one line saying why it lost points (the check's own message, recorded by
the grading run), the LMS's ids as collect found them (lms, lms_user_id, lms_submission_id), late (by the
policy's due date, else the LMS's marker), submitted_at, message. Scores come from the gradebook (so a TA's manual override counts); the status
from the grading run. A submission whose last run hit a grader error keeps its earlier grade, and its message
says so.

Students collected from a Canvas zip also go into a Canvas gradebook-import file (canvas_rows/write_canvas):
Canvas's own columns (Student, ID = the Canvas user id, SIS User ID, SIS Login ID, Section), a "Points
Possible" row and one column for the assignment; students collected from Moodle into a Moodle grading
worksheet (write_moodle: Identifier "Participant <id>", Full name, Grade, Maximum Grade, Feedback comments, ...)
for the assignment's "Upload grading worksheet". Both carry the final score. Files are written whole or not
at all. `write` also puts the due date and each penalty into nbgrader's gradebook (grader.pipeline.late).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from grader import course

from grader.pipeline import autograde, collect, late, record


LMS_COLUMNS = ["lms", "lms_user_id", "lms_submission_id", "late", "submitted_at"]
SCORE_COLUMNS = ["student_id", "status", "total", "late_days", "penalty", "final", "max_total"]
CANVAS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
WHY = " why"  # suffix of a check's reason column


def headline(message: str) -> str:
    """The line of a check's message that names the mistake (not the header naming the test case)."""
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    if not lines:
        return ""
    if len(lines) > 1 and lines[0].endswith(":"):
        return lines[1].lstrip("- ")
    return lines[0]


def reason(rec: dict | None, check: str, score: float | None, points: float) -> str:
    """Why a check lost points, in one line ("" when it lost none or the submission was not graded)."""
    if not rec or rec["status"] != "graded" or score is None or score >= points:
        return ""
    why = headline(rec.get("messages", {}).get(check, ""))[:300]
    return why or f"lost {points - score:g} point(s); the check left no message (a manual grade?)"


def columns(assignment: str, root: Path | None = None) -> list[str]:
    checks = [c for cells in course.exercises(assignment, root).values() for c in cells]
    return [*SCORE_COLUMNS, *course.exercises(assignment, root),
            *(name for c in checks for name in (c, c + WHY)), *LMS_COLUMNS, "message"]


def class_scores(gb, assignment: str) -> dict[str, dict[str, float]]:
    """{student: {grade id: score}} of every submission of the assignment, in one query (a TA's manual
    score counts: nbgrader's Grade.score prefers it)."""
    from nbgrader.api import Grade

    return record.class_cells(gb, assignment, Grade, Grade.score)


def rows(assignment: str, root: Path | None = None) -> list[dict]:
    from nbgrader.api import Gradebook

    root = Path(root or course.ROOT)
    records = record.load(root, assignment)
    errors = record.load_errors(root, assignment)
    groups = course.exercises(assignment, root)
    points = course.cell_points(assignment, root)
    everyone = sorted(set(records) | set(autograde.students(root, assignment)))
    policy = late.load(root, assignment)
    max_points = sum(points.values())
    out = []
    # (no gradebook before the first grading run: opening one would create it)
    scores = {}
    if records:
        with Gradebook(course.load_config(root).CourseDirectory.db_url) as gb:
            scores = class_scores(gb, assignment)  # (one query for the class, not one per student)
    for student in everyone:
        rec = records.get(student)
        row = {"student_id": student, "status": rec["status"] if rec else "not_graded",
               "total": "", "max_total": f"{sum(points.values()):g}"}
        cells = scores.get(student, {}) if rec else {}
        for exercise, grade_ids in groups.items():
            row[exercise] = f"{sum(cells.get(g) or 0 for g in grade_ids):g}" if rec else ""
        for exercise, grade_ids in groups.items():
            for check in grade_ids:
                row[check] = f"{cells.get(check) or 0:g}" if rec else ""
                row[check + WHY] = reason(rec, check, cells.get(check) or 0, points[check]) if rec else ""
        if rec:
            row["total"] = f"{sum(v or 0 for v in cells.values()):g}"
        lms = collect.metadata(root, assignment, student)
        lateness = late.assess(policy, lms.get("submitted_at"), bool(lms.get("late")), max_points,
                               float(row["total"]) if row["total"] != "" else None)
        row.update({"lms": lms.get("lms", ""), "lms_user_id": lms.get("user_id", ""),
                    "lms_submission_id": lms.get("submission_id", ""),
                    "late": ("yes" if lateness.late else "no") if lms or policy else "",
                    "submitted_at": lms.get("submitted_at", ""),
                    "late_days": "" if lateness.days is None else str(lateness.days),
                    "penalty": f"{lateness.penalty:g}" if rec else "",
                    "final": f"{float(row['total']) - lateness.penalty:g}" if row["total"] != "" else ""})
        message = rec["message"] if rec else "submitted but not graded yet: run autograde"
        if lateness.note:
            message = "; ".join(filter(None, [message, lateness.note]))
        if student in errors:
            message = "; ".join(filter(None, [message, f"the last grading run hit a grader error "
                                              f"({errors[student]['message']}); this result is from an earlier "
                                              "run; run autograde again"]))
        row["message"] = message
        out.append(row)
    return out


def _write_csv(out: Path, header: list[str], table: list, dicts: bool = True) -> Path:
    buffer = io.StringIO(newline="")
    if dicts:
        writer = csv.DictWriter(buffer, fieldnames=header)
        writer.writeheader()
    else:
        writer = csv.writer(buffer)
        writer.writerow(header)
    writer.writerows(table)
    out = Path(out)
    record._write_atomically(out, buffer.getvalue().encode())  # (Ctrl-C leaves the old file or the new one)
    return out


def write(assignment: str, out: Path, root: Path | None = None, table: list[dict] | None = None) -> Path:
    from nbgrader.api import Gradebook

    table = rows(assignment, root) if table is None else table
    if any(r["status"] != "not_graded" for r in table):  # (no gradebook to write before the first grading)
        with Gradebook(course.load_config(root).CourseDirectory.db_url) as gb:
            late.write_to_gradebook(gb, assignment, late.load(root or course.ROOT, assignment),
                                    {r["student_id"]: float(r["penalty"]) for r in table if r["penalty"] != ""})
    return _write_csv(out, columns(assignment, root), table)


def final_score(row: dict) -> str:
    """What an LMS gets: the final score; "" (change nothing) for a submission not graded yet or whose only
    result is a grader error."""
    return "" if row["status"] in ("not_graded", "error") else (row["final"] or "0")


def lost_points(row: dict, checks: list[str]) -> str:
    """A student's reasons for lost points, each once, with the checks it cost."""
    if row["status"] != "graded":
        return row["message"]
    reasons: dict[str, list[str]] = {}
    for check in checks:
        if row.get(check + WHY):
            reasons.setdefault(row[check + WHY], []).append(check)
    text = "; ".join(f"{', '.join(cells)}: {why.rstrip('.')}" for why, cells in reasons.items())
    if row.get("penalty") not in ("", "0", None):
        text = "; ".join(filter(None, [text, f"late by {row['late_days']} day(s): -{row['penalty']} point(s)"]))
    return text


def canvas_rows(assignment: str, root: Path | None = None, table: list[dict] | None = None) -> tuple[list, list[str]]:
    """(rows of the Canvas import file, students left out because collect found no Canvas user id for them).
    A submission that earned nothing for a reason of its own (timed out, invalid, ...) scores 0; one not
    graded yet, or whose only result is a grader error, is left blank (Canvas then changes nothing)."""
    table = rows(assignment, root) if table is None else table
    out, missing = [], []
    for row in table:
        if row["lms"] != "canvas" or not row["lms_user_id"]:
            missing.append(row["student_id"])
            continue
        out.append([row["student_id"], row["lms_user_id"], "", "", "", final_score(row)])
    return out, missing


def write_canvas(assignment: str, out: Path, root: Path | None = None, column: str | None = None,
                 table: list[dict] | None = None) -> tuple[Path | None, list[str]]:
    """Write the Canvas gradebook-import CSV (None when no student came from Canvas); `column` is the
    assignment's column header (Canvas matches "<name> (<assignment id>)" to an existing assignment; another
    header makes a new one). Returns (the file, the students left out)."""
    body, missing = canvas_rows(assignment, root, table)
    if not body:
        return None, missing
    points = f"{sum(course.cell_points(assignment, root).values()):g}"
    possible = ["Points Possible", "", "", "", "", points]
    return _write_csv(out, [*CANVAS_COLUMNS, column or assignment], [possible, *body], dicts=False), missing


MOODLE_COLUMNS = ["Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade",
                  "Grade can be changed", "Last modified (submission)", "Last modified (grade)", "Feedback comments"]


def moodle_rows(assignment: str, root: Path | None = None, table: list[dict] | None = None) -> tuple[list, list[str]]:
    """(rows of the Moodle grading worksheet, students left out: collected from no Moodle download). Moodle
    matches rows by Identifier, "Participant <id>" with the id of the download's folder names."""
    table = rows(assignment, root) if table is None else table
    checks = [c for cells in course.exercises(assignment, root).values() for c in cells]
    points = f"{sum(course.cell_points(assignment, root).values()):g}"
    out, missing = [], []
    for row in table:
        if row["lms"] != "moodle" or not row["lms_user_id"]:
            missing.append(row["student_id"])
            continue
        meta = collect.metadata(Path(root or course.ROOT), assignment, row["student_id"])
        out.append([f"Participant {row['lms_user_id']}", meta.get("login", row["student_id"]), "",
                    "Submitted for grading", final_score(row), points, "Yes", row["submitted_at"], "",
                    lost_points(row, checks) if row["status"] != "not_graded" else ""])
    return out, missing


def write_moodle(assignment: str, out: Path, root: Path | None = None,
                 table: list[dict] | None = None) -> tuple[Path | None, list[str]]:
    """Write the Moodle grading worksheet (None when no student came from Moodle)."""
    body, missing = moodle_rows(assignment, root, table)
    if not body:
        return None, missing
    return _write_csv(out, MOODLE_COLUMNS, body, dicts=False), missing
