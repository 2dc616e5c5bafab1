"""A small term, end to end, as an instructor runs it: a Canvas zip (a re-upload, late work) and a Moodle zip of
the synthetic class's notebooks, a due date and late policy, then autograde, feedback, export and report
through the real command line. Prints every command's output, the first lines of the Canvas and Moodle
import files, and saves a screenshot of the report's per-student table (Chromium headless, where installed).

    python bench/term.py                      # 8 submissions, graded for real (a few minutes on 2 cores)
    python bench/term.py --keep /tmp/term     # keep the course folder to look at
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.corpus import classroom  # noqa: E402
from tests.corpus.mutants import MUTANTS, sources_for, solution_sources  # noqa: E402

A = classroom.ASSIGNMENT
NB = classroom.NOTEBOOK
DUE = "2026-11-21T23:59:00+00:00"


def notebook(mutant: str | None = None, only: tuple = ()) -> bytes:
    if mutant:
        return classroom.student_notebook(sources_for(next(m for m in MUTANTS if m.name == mutant)))
    sources = solution_sources()
    return classroom.student_notebook({k: v for k, v in sources.items() if not only or k in only})


def zip_of(entries: dict[str, tuple[bytes, tuple]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for name, (data, when) in entries.items():
            z.writestr(zipfile.ZipInfo(name, when), data)
    return buffer.getvalue()


def grader(root: Path, *argv: str) -> str:
    installed = Path(sys.executable).with_name("resnet-grader")  # (the console command, where installed)
    command = [*([installed] if installed.exists() else [sys.executable, "-m", "grader"]), "--course", str(root), *argv]
    print(f"$ resnet-grader --course COURSE {' '.join(argv)}", flush=True)
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    text = (done.stdout + done.stderr).strip()
    # (tqdm's bars are carriage-return updates: keep their last state only)
    print("\n".join(line.split("\r")[-1] for line in text.splitlines()), f"\n[exit {done.returncode}]\n", flush=True)
    return done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", type=Path, help="build the course here and keep it")
    parser.add_argument("--screenshot", type=Path, default=ROOT / "bench" / "report_students.png")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="term-"))
    root = args.keep or tmp / "course"
    if root.exists():
        shutil.rmtree(root)
    for part in ("solutions", "assignments"):
        shutil.copytree(ROOT / part / A, root / part / A)
    release = (ROOT / "assignments" / A / NB).read_bytes()
    on_time, late_1, late_3 = (2026, 11, 21, 20, 0, 0), (2026, 11, 22, 10, 0, 0), (2026, 11, 24, 9, 0, 0)
    canvas = tmp / "canvas.zip"
    canvas.write_bytes(zip_of({
        "smithjohn_1234_5678_Residual_Networks.ipynb": (release, on_time),  # first upload: nothing done
        "smithjohn_1234_5678_Residual_Networks-1.ipynb": (notebook(), on_time),  # the re-upload is graded
        "doejane_LATE_2345_6789_Residual_Networks.ipynb": (notebook("identity-shortcut-missing"), late_1),
        "roeann_3456_7890_Residual_Networks.ipynb": (notebook(only=("identity_block", "convolutional_block")), on_time),
        "leebob_4567_8901_Residual_Networks.ipynb": (notebook("resnet-wrong-stage-length"), on_time),
        "kimsun_LATE_5678_9012_Residual_Networks.ipynb": (notebook("identity-shortcut-missing"), late_3),
        "parkmin_6789_1234_Residual_Networks.ipynb": (b"{ not a notebook", on_time),
    }))
    moodle = tmp / "moodle.zip"
    moodle.write_bytes(zip_of({
        "Ana Silva_20345_assignsubmission_file_/Residual_Networks.ipynb": (notebook(), on_time),
        "Wei Chen_20346_assignsubmission_file_/Residual_Networks.ipynb": (notebook("conv-shortcut-no-bn"), late_1),
    }))
    start = time.monotonic()
    grader(root, "collect", A, str(canvas))
    grader(root, "collect", A, str(moodle))
    grader(root, "deadline", A, "--due", DUE, "--grace", "15", "--per-day", "10", "--cap", "50")
    grader(root, "autograde", A)
    grader(root, "feedback", A)
    grader(root, "export", A)
    grader(root, "report", A)
    print(f"term: {time.monotonic() - start:.0f} s in all\n")
    for name in (f"grades-{A}-canvas.csv", f"grades-{A}-moodle.csv"):
        print(f"--- {name} (first lines)")
        print("\n".join((root / name).read_text().splitlines()[:6]))
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium:
        page = root / "report" / A / "report.html"
        # The per-student table alone: the page's head (its style) and that section.
        text = page.read_text()
        head = text[:text.index("<body>")]
        section = text[text.index("<h2>Every student</h2>"):text.index("<h2>What collect found</h2>")]
        focused = page.with_name("students.html")
        focused.write_text(f"{head}<body>{section}</body></html>")
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={args.screenshot}",
                        "--window-size=1200,900", "--hide-scrollbars", focused.as_uri()],
                       capture_output=True, timeout=120)
        print(f"\nscreenshot of the per-student table: {args.screenshot}")
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
