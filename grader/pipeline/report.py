"""The "report" step: one self-contained HTML page (figures embedded, also saved as PNG next to it) that
tells the instructor how the class did and what went wrong: statuses, score distribution, the pass rate of
every check, every failure message with how many and which students hit it, every student's row (status,
score, late, days late, penalty, final, what lost points; click a column's heading to sort by it), what
collect found (late files, older copies not kept, renamed and unreadable notebooks, group submissions, ...),
grader errors whose earlier results were kept, the slowest submissions and the submissions flagged for review.
"""

from __future__ import annotations

import base64
import html
import io
from collections import Counter
from pathlib import Path

from grader import course

from grader.pipeline import collect, export, late, record


def _figure_png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def figures(assignment: str, table: list[dict], records: dict, points: dict[str, float]) -> dict[str, bytes]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = {}
    totals = [float(r["total"]) for r in table if r["total"] != ""]
    max_total = sum(points.values())
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.hist(totals, bins=[x - 0.5 for x in range(int(max_total) + 2)], color="#4c72b0")
    ax.set(xlabel=f"total score (of {max_total:g})", ylabel="students", title=f"{assignment}: score distribution")
    out["scores.png"] = _figure_png(fig)
    plt.close(fig)

    graded = [r for r in records.values() if r["status"] == "graded"]
    rates = {cell: sum(1 for r in graded if _cell_score(r, cell) == points[cell]) / max(1, len(graded))
             for cell in points}
    fig, ax = plt.subplots(figsize=(6, 0.35 * len(rates) + 1))
    names = list(rates)[::-1]
    ax.barh(names, [100 * rates[n] for n in names], color="#55a868")
    ax.set(xlim=(0, 100), xlabel=f"% of {len(graded)} graded submissions with full points",
           title="pass rate of each check")
    out["checks.png"] = _figure_png(fig)
    plt.close(fig)

    times = sorted(r["wall_s"] for r in records.values())
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.hist(times, bins=20, color="#c44e52")
    ax.set(xlabel="seconds to grade one submission", ylabel="submissions", title="grading time")
    out["times.png"] = _figure_png(fig)
    plt.close(fig)
    return out


def _cell_score(rec: dict, cell: str) -> float | None:
    for scores in rec.get("scores", {}).values():
        if cell in scores:
            return scores[cell]
    return None


headline = export.headline  # (kept here too: the report's failure table is keyed by it)


def _table(headers: list[str], rows: list[list], table_id: str = "", sortable: bool = False) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows)
    if not sortable:
        return f"<table><tr>{head}</tr>{body}</table>"
    return f'<table id="{table_id}" class="sortable"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


STYLE = """body{font-family:sans-serif;max-width:72em;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;
vertical-align:top}th{background:#f0f0f0}img{max-width:100%}h2{margin-top:2em}
table.sortable th{cursor:pointer;white-space:nowrap}table.sortable th:after{content:" \\2195";color:#999}td{overflow-wrap:anywhere}"""
# Click a heading to sort by that column (numbers as numbers), again to reverse. Inline: the page stays
# one self-contained file.
SORT_SCRIPT = """<script>
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var body = table.tBodies[0], rows = Array.from(body.rows);
      var up = th.dataset.order !== "up";
      th.dataset.order = up ? "up" : "down";
      function key(row) { var t = row.cells[col].textContent.trim(); var n = parseFloat(t);
                          return t !== "" && !isNaN(n) && isFinite(t) ? n : t.toLowerCase(); }
      rows.sort(function (a, b) { var x = key(a), y = key(b);
        if (typeof x !== typeof y) { x = String(x); y = String(y); }
        return (x < y ? -1 : x > y ? 1 : 0) * (up ? 1 : -1); });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
</script>"""


def build(assignment: str, out_dir: Path, root: Path | None = None) -> Path:
    root = Path(root or course.ROOT)
    records = record.load(root, assignment)
    table = export.rows(assignment, root)
    points = course.cell_points(assignment, root)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    images = figures(assignment, table, records, points)
    for name, data in images.items():
        (out_dir / name).write_bytes(data)

    def img(name: str) -> str:
        return f'<img alt="{name}" src="data:image/png;base64,{base64.b64encode(images[name]).decode()}">'

    statuses = Counter(r["status"] for r in table)
    failures, where, who = Counter(), {}, {}
    for student, rec in sorted(records.items()):
        mine: dict[str, set] = {}
        for cell, message in rec.get("messages", {}).items():
            mine.setdefault(headline(message), set()).add(cell)
        if rec["status"] != "graded":
            mine.setdefault(headline(rec["message"]), set()).add(rec["status"])
        failures.update(list(mine))  # a student counts once per mistake, however many checks it failed
        for text, cells in mine.items():
            where.setdefault(text, set()).update(cells)
            who.setdefault(text, []).append(student)
    checks = [c for cells in course.exercises(assignment, root).values() for c in cells]
    everyone = [[r["student_id"], r["status"], r["total"], r["late"] or "no", r["late_days"], r["penalty"], r["final"],
                 late.show_time(r["submitted_at"]), r["lms_user_id"], export.lost_points(r, checks)] for r in table]
    collected = []
    for r in table:
        meta = collect.metadata(root, assignment, r["student_id"])
        if r["late"] == "yes":
            days = f"{r['late_days']} day(s) late, -{r['penalty'] or 0} point(s); " if r["late_days"] else ""
            when = late.show_time(r["submitted_at"]) or "(time unknown)"
            collected.append([r["student_id"], f"late: {days}submitted {when}",
                              ", ".join(meta.get("files", {}).values())])
        if meta.get("not_kept"):
            collected.append([r["student_id"], "older copies, not graded (the newest is)", ", ".join(meta["not_kept"])])
    for source, found in collect.last_found(root, assignment).items():
        for title, items in found.get("found", {}).items():
            if title.startswith(("late", "handed in more than once")):
                continue  # (the rows above say it per student)
            collected += [[f"({Path(source).name})", title, item] for item in items]
    policy = late.load(root, assignment)
    errors = record.load_errors(root, assignment)
    slowest = sorted(records.values(), key=lambda r: -r["wall_s"])[:10]
    flagged = [(s, "; ".join(r["flags"])) for s, r in sorted(records.items()) if r.get("flags")]
    totals = [float(r["total"]) for r in table if r["total"] != ""]
    mean = sum(totals) / len(totals) if totals else 0.0
    parts = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(assignment)}: grading report</title>"
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(assignment)}: grading report</h1>",
        f"<p>{len(table)} students; mean score {mean:.1f} of {sum(points.values()):g}; "
        f"{sum(r['cpu_s'] for r in records.values()):.0f} CPU-seconds of grading in all. Late policy: "
        f"{html.escape(policy.describe()) if policy else 'none (late means the LMS marked it late; no penalty)'}; "
        f"{sum(1 for r in table if r['late'] == 'yes')} late.</p>",
        "<h2>Status of every submission</h2>",
        _table(["status", "students"], sorted(statuses.items(), key=lambda kv: -kv[1])),
        "<h2>Scores</h2>", img("scores.png"),
        "<h2>Checks</h2>", img("checks.png"),
        "<h2>Most frequent failures</h2>",  # (all of them, each with the students who hit it)
        _table(["students", "message", "checks (or status)", "who"],
               [[n, text, ", ".join(sorted(where[text])), ", ".join(who[text])] for text, n in failures.most_common()]),
        "<h2>Every student</h2>",
        "<p>Click a column's heading to sort by it. The score is the raw score; final is after the late penalty.</p>",
        _table(["student", "status", "score", "late", "days late", "penalty", "final", "submitted", "LMS user id",
                "what lost points"], everyone, "students", sortable=True),
        "<h2>What collect found</h2>",
        _table(["student", "what", "files"], collected) if collected else
        "<p>No late files and no student handed in more than one copy of a file.</p>",
        *(["<h2>Grader errors (earlier results kept)</h2>",
           "<p>The last grading run of these submissions failed in the grader, not in the student's code; their "
           "earlier results stand. Run autograde again to retry them.</p>",
           _table(["student", "kept", "error"],
                  [[s, e.get("kept", ""), e["message"]] for s, e in sorted(errors.items())])]
          if errors else []),
        "<h2>Slowest submissions</h2>", img("times.png"),
        _table(["student", "status", "wall s", "CPU s", "kernel memory MB"],
               [[r["student"], r["status"], f"{r['wall_s']:.1f}", f"{r['cpu_s']:.1f}", f"{r['kernel_rss_mb']:.0f}"]
                for r in slowest]),
        "<h2>Flagged for review</h2>",
        _table(["student", "why"], flagged) if flagged else "<p>No submission was flagged.</p>",
        SORT_SCRIPT, "</body></html>",
    ]
    page = out_dir / "report.html"
    record._write_atomically(page, "\n".join(parts).encode())
    return page
