"""The "feedback" step: one HTML page per student in feedback/<student>/<assignment>/.

Graded submissions get nbgrader's feedback page (scores and the visible checks' messages; hidden tests and
their tracebacks removed by the course config), then polished here: the table of contents names each check
(not "Test cell"), math is drawn into the page as SVG pictures by matplotlib's mathtext (no MathJax, nothing
loaded from the network; an expression mathtext cannot draw stays as its TeX source), long lines of messages
wrap, and a line says when the submission was late and what that cost (grader.pipeline.late). Submissions that could
not be graded get a page that says why, so every student hears something.
"""

from __future__ import annotations

import base64
import functools
import html
import io
import re
from pathlib import Path

from grader import course

from grader.pipeline import export, late, record

WRAP_CSS = """<style>
pre, div.output_text pre, div.output_subarea pre { white-space: pre-wrap; overflow-wrap: anywhere; }
img.math { vertical-align: middle; } div.math-display { text-align: center; margin: 0.6em 0; }
p.late { color: #a12; font-weight: bold; }
</style>
"""
# Where math must not be touched: code, outputs, scripts, styles.
VERBATIM = re.compile(r"(<(pre|code|script|style|textarea)\b.*?</\2>)", re.S | re.I)
DISPLAY_MATH = re.compile(r"\$\$(.+?)\$\$", re.S)
INLINE_MATH = re.compile(r"(?<![\\$\w])\$([^$\n<>]+?)\$(?![\w$])")
# TeX that mathtext lacks but can do without: size commands around brackets, alignment, line breaks.
DROP_TEX = re.compile(r"\\(?:[Bb]igg?[lr]?|left|right)(?![A-Za-z])|&|\\\\")


@functools.lru_cache(maxsize=512)
def math_image(tex: str, display: bool) -> str | None:
    """An <img> of the TeX expression (SVG, embedded), or None when mathtext cannot draw it."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import mathtext
    from matplotlib.font_manager import FontProperties

    source = " ".join(DROP_TEX.sub(" ", html.unescape(tex)).split())
    buffer = io.BytesIO()
    try:
        mathtext.math_to_image(f"${source}$", buffer, format="svg", prop=FontProperties(size=13 if display else 11))
    except Exception:  # (mathtext raises ValueError for unknown TeX, and others for odd input)
        return None
    data = base64.b64encode(buffer.getvalue()).decode()
    return f'<img class="math" alt="{html.escape(html.unescape(tex), quote=True)}" src="data:image/svg+xml;base64,{data}">'


def render_math(page: str) -> str:
    def display(match):
        img = math_image(match[1].strip(), True)
        return f'<div class="math-display">{img}</div>' if img else match[0]

    def inline(match):
        return math_image(match[1].strip(), False) or match[0]

    parts = VERBATIM.split(page)
    out = []
    for i, part in enumerate(parts):
        if i % 3 == 0:  # (split gives text, the verbatim block, its tag name, text, ...)
            out.append(INLINE_MATH.sub(inline, DISPLAY_MATH.sub(display, part)))
        elif i % 3 == 1:
            out.append(part)
    return "".join(out)


def check_label(grade_id: str, exercises: dict[str, list[str]]) -> str:
    for exercise, checks in exercises.items():
        if grade_id in checks:
            part = grade_id.removeprefix(exercise).strip("_") or "check"
            return f"{exercise}: {part.replace('_', ' ')}"
    return grade_id


def polish(page: str, exercises: dict[str, list[str]], late_line: str = "") -> str:
    """nbgrader's page made self-contained and readable (see the module's docstring)."""
    page = re.sub(r"<!-- Load(ing)? mathjax( macro)? -->.*?<!-- End of mathjax configuration -->", "", page,
                  flags=re.S | re.I)
    page = re.sub(r"<script[^>]*mathjax[^>]*>.*?</script>", "", page, flags=re.S | re.I)
    page = re.sub(r'<li><a href="#([^"]+)">Test cell</a>',
                  lambda m: f'<li><a href="#{m[1]}">{html.escape(check_label(m[1], exercises))}</a>', page)
    page = page.replace("</head>", WRAP_CSS + "</head>", 1)
    if late_line:
        page = re.sub(r"(</h4>)", lambda m: f'{m[1]}\n<p class="late">{html.escape(late_line)}</p>', page, count=1)
    return render_math(page)


def late_line(row: dict, max_score: float) -> str:
    if row.get("late") != "yes":
        return ""
    when = f"submitted {late.show_time(row['submitted_at'])}" if row.get("submitted_at") else "submitted"
    if not row.get("late_days"):
        return f"Late ({when}, marked late by the course's LMS)."
    cost = f": -{row['penalty']} point(s), final score {row['final']} / {max_score:g}" if row.get("penalty") not in \
        ("", "0") else ""
    return f"Late: {when}, {row['late_days']} day(s) after the due date{cost}."

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

    from grader.pipeline.jobs import STATUSES

    root = Path(root or course.ROOT)
    records = record.load(root, assignment)
    chosen = [s for s in sorted(records) if only is None or s in only]
    max_score = sum(course.cell_points(assignment, root).values())
    notebooks = sorted(p.stem for p in (root / "solutions" / assignment).glob("*.ipynb"))
    api = course.api(root)
    exercises = course.exercises(assignment, root)
    rows = {r["student_id"]: r for r in export.rows(assignment, root)}
    pages, failed = [], []
    for student in tqdm(chosen, unit="student", desc="feedback"):
        rec = records[student]
        folder = root / "feedback" / student / assignment
        if rec["status"] == "graded":
            # One student's damaged graded notebook must not cost the others their pages: go on, say so at the end.
            try:
                result = api.generate_feedback(assignment, student, force=True)
                if not result.get("success"):
                    raise RuntimeError((str(result.get("error") or "").strip().splitlines() or ["nbgrader failed"])[-1])
                line = late_line(rows.get(student, {}), max_score)
                for page in sorted(folder.glob("*.html")):
                    record._write_atomically(page, polish(page.read_text(), exercises, line).encode())
            except Exception as e:  # noqa: BLE001
                failed.append(f"{student} ({str(e)[:200]})")
                continue
        else:
            folder.mkdir(parents=True, exist_ok=True)
            for notebook in notebooks:
                (folder / f"{notebook}.html").write_text(UNGRADED_PAGE.format(
                    assignment=html.escape(assignment), student=html.escape(student),
                    status=html.escape(STATUSES.get(rec["status"], rec["status"])),
                    message=html.escape(rec["message"]), max_score=max_score))
        pages += sorted(folder.glob("*.html"))
    if failed:
        raise RuntimeError(f"feedback written for everyone but {len(failed)} student(s): {'; '.join(failed)}")
    return pages
