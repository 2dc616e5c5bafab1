"""The instructor's command line: python -m grader <command> (or: python3 kit.py grader <command>).

A term with this course, in order:
  release    resnet50                     generate assignments/resnet50 from solutions/ and prove it
  collect    resnet50 downloads.zip       LMS zip / folder -> submitted/<student>/resnet50/
  autograde  resnet50                     grade every new or changed submission, in parallel
  feedback   resnet50                     feedback/<student>/resnet50/*.html, no hidden tests in them
  export     resnet50                     grades.csv: a row per student, per-exercise columns, status
  report     resnet50                     report/resnet50/report.html: how the class did, what failed
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import course


def release(args) -> int:
    """Generate the student version of an assignment, then prove it: solution full marks, release zero."""
    folder = course.generate_release(args.assignment, args.course)
    print(f"generated {folder}")
    if args.no_prove:
        return 0
    notebooks = sorted(p.name for p in (args.course / "solutions" / args.assignment).glob("*.ipynb"))
    with course.scratch_course(args.assignment, args.course) as root:
        course.generate_release(args.assignment, root)  # also registers the assignment in the scratch gradebook
        src, rel = root / "solutions" / args.assignment, root / "assignments" / args.assignment
        course.submit(root, args.assignment, "solution", {n: src / n for n in notebooks})
        course.submit(root, args.assignment, "release", {n: rel / n for n in notebooks})
        solution = course.autograde(args.assignment, "solution", root)
        untouched = course.autograde(args.assignment, "release", root)
    points = course.cell_points(args.assignment, args.course)
    problems = [f"the solution loses {points[cell] - s:g} point(s) in cell {cell!r}"
                for cell, s in solution.cells.items() if s < points[cell]]
    problems += [f"the untouched release earns {s:g} point(s) in cell {cell!r}"
                 for cell, s in untouched.cells.items() if s > 0]
    print(f"solution: {solution.score:g}/{solution.max_score:g}; untouched release: {untouched.score:g}/{untouched.max_score:g}")
    if problems:
        print("release NOT proven:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    print("release proven: the solution scores full marks and the release scores zero")
    return 0


def collect(args) -> int:
    from .collect import collect as run

    notebooks = sorted(p.stem for p in (args.course / "solutions" / args.assignment).glob("*.ipynb"))
    report = run(args.source, args.assignment, args.course, notebooks)
    print("\n".join(report.lines()))
    return 0


def autograde(args) -> int:
    from . import autograde as grading
    from .execute import Limits

    limits = Limits(cell_timeout=args.cell_timeout, submission_timeout=args.timeout, memory_mb=args.memory_mb,
                    threads=args.threads, run_all_cells=args.run_all_cells, keras_backend=args.backend,
                    network=args.allow_network, max_processes=args.max_processes)
    summary = grading.run(args.assignment, args.course, only=args.students or None, force=args.force,
                          workers=args.workers, scheduler=args.scheduler, limits=limits)
    counts = ", ".join(f"{n} {s}" for s, n in sorted(summary.statuses.items())) or "nothing to grade"
    print(f"{counts}; {len(summary.skipped)} unchanged; {summary.wall_s:.0f} s")
    return 0


def feedback(args) -> int:
    from .feedback import generate

    pages = generate(args.assignment, args.course, args.students or None)
    print(f"wrote {len(pages)} feedback page(s) under {args.course / 'feedback'}")
    return 0


def export(args) -> int:
    from .export import write

    out = write(args.assignment, args.out or args.course / f"grades-{args.assignment}.csv", args.course)
    print(f"wrote {out}")
    return 0


def report(args) -> int:
    from .report import build

    page = build(args.assignment, args.out or args.course / "report" / args.assignment, args.course)
    print(f"wrote {page} (open it in a browser)")
    return 0


def main(argv=None) -> int:
    from .executors import default_workers

    parser = argparse.ArgumentParser(prog="python -m grader", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--course", type=Path, default=course.ROOT,
                        help="the course folder (holding solutions/, submitted/, gradebook.db); default: this repository")
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name, fn, help):
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument("assignment", help="e.g. resnet50")
        p.set_defaults(run=fn)
        return p

    p = command("release", release, "generate assignments/<assignment> from solutions/ and prove it")
    p.add_argument("--no-prove", action="store_true", help="only generate; skip the full-marks/zero proof")
    p = command("collect", collect, "copy submissions (folder or LMS zip) into submitted/")
    p.add_argument("source", type=Path, help="a folder or .zip of submissions")
    p = command("autograde", autograde, "grade new or changed submissions in parallel")
    p.add_argument("students", nargs="*", help="only these students (default: everyone who submitted)")
    p.add_argument("--force", action="store_true", help="re-grade even unchanged submissions")
    p.add_argument("--workers", type=int, help=f"submissions graded at once on this machine (default: {default_workers()}, the cores)")
    p.add_argument("--scheduler", help="grade on this Dask cluster instead, e.g. tcp://head-node:8786")
    p.add_argument("--cell-timeout", type=int, default=180, help="seconds per cell (default 180)")
    p.add_argument("--timeout", type=int, default=600, help="wall-clock seconds per submission (default 600)")
    p.add_argument("--memory-mb", type=int, default=8192, help="memory per student kernel (default 8192)")
    p.add_argument("--threads", type=int, default=1, help="math threads per kernel (default 1)")
    p.add_argument("--max-processes", type=int, default=512,
                   help="processes and threads per kernel (default 512); a kernel with a quarter of that in "
                        "processes is a fork bomb and is killed (where kernels get a user id of their own, see README)")
    p.add_argument("--backend", choices=["tensorflow", "torch", "jax"],
                   help="Keras backend of the grading kernels (default: KERAS_BACKEND, else tensorflow)")
    p.add_argument("--allow-network", action="store_true", help="let student code use the network (default: cut)")
    p.add_argument("--run-all-cells", action="store_true",
                   help="also run the cells after the last graded one (slower; grades cannot change)")
    p = command("feedback", feedback, "write one feedback HTML per student")
    p.add_argument("students", nargs="*")
    p = command("export", export, "write the grades as CSV")
    p.add_argument("--out", type=Path, help="default: <course>/grades-<assignment>.csv")
    p = command("report", report, "write the instructor's HTML report")
    p.add_argument("--out", type=Path, help="folder for report.html and its PNGs (default: <course>/report/<assignment>)")
    args = parser.parse_args(argv)
    args.course = args.course.resolve()
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
