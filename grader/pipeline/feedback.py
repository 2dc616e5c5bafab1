"""The "feedback" step: one HTML page per student in feedback/<student>/<assignment>/.

Graded submissions get nbgrader's feedback page (scores and the visible checks' messages; hidden tests and
their tracebacks removed by the course config), then polished here: the table of contents names each check
(not "Test cell"), math is drawn into the page as SVG pictures by matplotlib's mathtext (no MathJax, nothing
loaded from the network; an expression mathtext cannot draw stays as its TeX source), long lines of messages
wrap, and a line says when the submission was late and what that cost (grader.pipeline.late). Submissions that could
not be graded get a page that says why, so every student hears something.

For a big class: pages are made on a pool of processes, and only for students whose pages are not already made
of their current grade (page_key, kept in grading/<assignment>/feedback/<student>.key, written after the pages:
a run killed midway remakes the students it had not finished).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import io
import json
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


def _version() -> str:
    """What the pages depend on besides the student's data: this module (the polishing) and nbgrader's config
    (what the page hides). Changing either regenerates everyone's feedback."""
    h = hashlib.sha256(Path(__file__).read_bytes())
    h.update(course.CONFIG_FILE.read_bytes())
    return h.hexdigest()


def page_key(rec: dict, row: dict, comments: dict, autograded: Path, version: str) -> str:
    """Everything a student's pages are made of: the status record, the export row (gradebook scores with a
    TA's overrides, late penalty, message), the gradebook's comments and the autograded files (size and
    mtime: record rewrites them on every grading run)."""
    files = sorted((p.relative_to(autograded).as_posix(), p.stat().st_size, p.stat().st_mtime_ns)
                   for p in autograded.rglob("*") if p.is_file()) if autograded.is_dir() else []
    data = json.dumps([rec, row, comments, files, version], sort_keys=True, default=str)
    return hashlib.sha256(data.encode()).hexdigest()


def keys_dir(root: Path, assignment: str) -> Path:
    return record.status_dir(root, assignment) / "feedback"  # (a subfolder: record.load reads only *.json beside it)


def class_comments(root: Path, assignment: str) -> dict[str, dict[str, str | None]]:
    """{student: {cell: comment}} from the gradebook in one query (a TA's comments show in the feedback)."""
    from nbgrader.api import Comment, Gradebook

    db_url = course.load_config(root).CourseDirectory.db_url
    if db_url.startswith("sqlite:///") and not Path(db_url.removeprefix("sqlite:///")).exists():
        return {}  # (opening a gradebook that is not there would create one)
    with Gradebook(db_url) as gb:
        return record.class_cells(gb, assignment, Comment, Comment.comment)


_API: dict = {}  # (one nbgrader API per process and course: building it costs more than a page)


def one_student(assignment: str, root: Path, student: str, rec: dict, row: dict, max_score: float,
                notebooks: list[str], exercises: dict[str, list[str]]) -> str | None:
    """Write one student's pages; returns why it failed (None when it did not). Runs in a pool's process."""
    from grader.pipeline.jobs import STATUSES

    folder = root / "feedback" / student / assignment
    if rec["status"] == "graded":
        # One student's damaged graded notebook must not cost the others their pages: go on, say so at the end.
        try:
            api = _API.get(root) or _API.setdefault(root, course.api(root))
            result = api.generate_feedback(assignment, student, force=True)
            if not result.get("success"):
                raise RuntimeError((str(result.get("error") or "").strip().splitlines() or ["nbgrader failed"])[-1])
            line = late_line(row, max_score)
            for page in sorted(folder.glob("*.html")):
                record._write_atomically(page, polish(page.read_text(), exercises, line).encode())
        except Exception as e:  # noqa: BLE001
            return f"{student} ({str(e)[:200]})"
    else:
        folder.mkdir(parents=True, exist_ok=True)
        for notebook in notebooks:
            (folder / f"{notebook}.html").write_text(UNGRADED_PAGE.format(
                assignment=html.escape(assignment), student=html.escape(student),
                status=html.escape(STATUSES.get(rec["status"], rec["status"])),
                message=html.escape(rec["message"]), max_score=max_score))
    return None


class Pages(list):
    """Every chosen student's feedback pages; `written`: how many students' pages this run wrote."""

    written: int = 0


def generate(assignment: str, root: Path | None = None, only: list[str] | None = None,
             workers: int | None = None) -> Pages:
    """Write the chosen students' pages (default: everyone graded) on a pool of `workers` processes (default:
    the cores; 1: in this process), skipping students whose pages are already made of their current grade
    (page_key). Returns every chosen student's pages, rewritten or not."""
    from concurrent.futures import ProcessPoolExecutor, as_completed
    import multiprocessing

    from tqdm import tqdm

    from grader.pipeline import executors

    root = Path(root or course.ROOT)
    _API.clear()  # (built afresh by each run, in each worker: the course's config may have changed)
    records = record.load(root, assignment)
    chosen = [s for s in sorted(records) if only is None or s in only]
    max_score = sum(course.cell_points(assignment, root).values())
    notebooks = sorted(p.stem for p in (root / "solutions" / assignment).glob("*.ipynb"))
    exercises = course.exercises(assignment, root)
    rows = {r["student_id"]: r for r in export.rows(assignment, root)}
    comments = class_comments(root, assignment)
    version = _version()
    keys = {s: page_key(records[s], rows.get(s, {}), comments.get(s, {}), root / "autograded" / s / assignment,
                        version) for s in chosen}

    def current(student: str) -> bool:
        folder = root / "feedback" / student / assignment
        key_file = keys_dir(root, assignment) / f"{student}.key"
        return (key_file.is_file() and key_file.read_text() == keys[student]
                and all((folder / f"{nb}.html").is_file() for nb in notebooks))

    todo = [s for s in chosen if not current(s)]
    args = [(assignment, root, s, records[s], rows.get(s, {}), max_score, notebooks, exercises) for s in todo]
    workers = max(1, min(workers or executors.default_workers(), len(todo)))
    failed = []

    def done(student: str, error: str | None) -> None:
        if error:
            failed.append(error)
        else:  # (after the pages: a kill before this line regenerates the student next time)
            record._write_atomically(keys_dir(root, assignment) / f"{student}.key", keys[student].encode())

    bar = tqdm(total=len(todo), unit="student", desc="feedback")
    with bar:
        if workers == 1:
            for a in args:
                done(a[2], one_student(*a))
                bar.update()
        else:
            # (fork where there is one: the workers start with nbgrader already imported, seconds saved each)
            methods = multiprocessing.get_all_start_methods()
            context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
            with ProcessPoolExecutor(workers, mp_context=context) as pool:
                futures = {pool.submit(one_student, *a): a[2] for a in args}
                for future in as_completed(futures):
                    done(futures[future], future.result())
                    bar.update()
    if failed:
        failed.sort()
        raise RuntimeError(f"feedback written for everyone but {len(failed)} student(s): {'; '.join(failed)}")
    pages = Pages()
    for student in chosen:
        pages += sorted((root / "feedback" / student / assignment).glob("*.html"))
    pages.written = len(todo)
    return pages
