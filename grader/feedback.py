"""The "feedback" step: one HTML page per student in feedback/<student>/<assignment>/.

Graded submissions get nbgrader's feedback page (scores and the visible checks' messages; hidden tests and
their tracebacks removed by the course config). Submissions that could not be graded get a page that says
why, so every student hears something.
"""

from __future__ import annotations

import html
from pathlib import Path

from . import course, record

UNGRADED_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{assignment}: feedback for {student}</title></head>
<body style="font-family: sans-serif; max-width: 50em; margin: 2em auto">
<h1>{assignment}: feedback for {student}</h1>
<p><b>Your submission could not be graded: {status}.</b></p>
<p>{message}</p>
<p>Score: 0 / {max_score:g}. Fix the problem and submit again, or ask your instructor.</p>
</body></html>
"""


def generate(assignment: str, root: Path | None = None, only: list[str] | None = None) -> list[Path]:
    from tqdm import tqdm

    from .execute import STATUSES

    root = Path(root or course.ROOT)
    records = record.load(root, assignment)
    chosen = [s for s in sorted(records) if only is None or s in only]
    max_score = sum(course.cell_points(assignment, root).values())
    notebooks = sorted(p.stem for p in (root / "solutions" / assignment).glob("*.ipynb"))
    api = course.api(root)
    pages = []
    for student in tqdm(chosen, unit="student", desc="feedback"):
        rec = records[student]
        folder = root / "feedback" / student / assignment
        if rec["status"] == "graded":
            result = api.generate_feedback(assignment, student, force=True)
            if not result.get("success"):
                raise RuntimeError(f"feedback for {student} failed:\n{result.get('error')}")
        else:
            folder.mkdir(parents=True, exist_ok=True)
            for notebook in notebooks:
                (folder / f"{notebook}.html").write_text(UNGRADED_PAGE.format(
                    assignment=html.escape(assignment), student=html.escape(student),
                    status=html.escape(STATUSES.get(rec["status"], rec["status"])),
                    message=html.escape(rec["message"]), max_score=max_score))
        pages += sorted(folder.glob("*.html"))
    return pages
