"""The instructor's command line: python -m grader <command> (or: python3 kit.py grader <command>).

A term with this course, in order:
  release    resnet50                     generate assignments/resnet50 from solutions/ and prove it
  collect    resnet50 downloads.zip       LMS zip / folder -> submitted/<student>/resnet50/
  autograde  resnet50                     grade every new or changed submission, in parallel
  feedback   resnet50                     feedback/<student>/resnet50/*.html, no hidden tests in them
  export     resnet50                     grades-resnet50.csv: a row per student, points and why per check;
                                          grades-resnet50-canvas.csv / -moodle.csv for the LMS's import
  report     resnet50                     report/resnet50/report.html: how the class did, what failed
  deadline   resnet50 --due 2026-11-21T23:59 --per-day 10 --cap 50 --grace 15
                                          the due date and late policy (export, feedback, report apply it)

After changing an assignment's grading (solutions/<assignment>/grading/, see README "Add an assignment"):
  expected   resnet50 [--check]           rewrite (or compare) its stored expectations from its reference

A mistake in the command (an unknown assignment, a bad option) is said in one line and exits 2; something to
do first (collect before autograde, a cluster that cannot grade) in one line and exits 1; --debug shows the
Python traceback behind any failure.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import re
import sys
from pathlib import Path

from grader import course
from grader.pipeline.executors import Problem  # something to do first (collect before autograde, a cluster): one line, exit 1

DEFAULT_PROG = PROG = "python -m grader"
# Dask's protocols; an address without one is TCP (as Dask reads it).
SCHEDULER = re.compile(r"(?:(?P<scheme>tcp|tls|ws|wss|ucx)://)?"
                       r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(?P<port>\d{1,5})")


class Refused(Exception):
    """A mistake in the command line: said in one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of argparse's usage block
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def percent(text: str) -> float:
    value = non_negative(text)
    if value > 100:
        raise argparse.ArgumentTypeError(f"is a percentage: 0 to 100, not {text}")
    return value


def due_time(text: str) -> str:
    from grader.pipeline.late import parse_time

    try:
        return parse_time(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date and time; give e.g. 2026-11-21T23:59 or "
                                         "2026-11-21T23:59+01:00") from None


def scheduler_address(text: str) -> str:
    match = SCHEDULER.fullmatch(text.strip())
    if not match or not 0 < int(match["port"]) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not a Dask scheduler address; give <protocol>://<host>:<port>, "
                                         "e.g. tcp://head-node:8786")
    return text.strip() if match["scheme"] else f"tcp://{text.strip()}"


def assignments(root: Path) -> list[str]:
    """The course's assignments: the folders of solutions/ that hold a notebook."""
    solutions = Path(root) / "solutions"
    return sorted(p.name for p in solutions.iterdir() if p.is_dir() and any(p.glob("*.ipynb"))) \
        if solutions.is_dir() else []


def check_assignment(args) -> None:
    known = assignments(args.course)
    if not known:
        raise Refused(f"{args.course} is not a course folder (no solutions/<assignment>/*.ipynb in it); "
                      "give the course folder with --course")
    if args.assignment not in known:
        close = difflib.get_close_matches(args.assignment, known, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise Refused(f"unknown assignment {args.assignment!r}{hint}; known: {', '.join(known)}")


def check_students(args, have: list[str], what: str) -> None:
    unknown = sorted(set(args.students or []) - set(have))
    if unknown:
        raise Refused(f"no {what} of {args.assignment} for: {', '.join(unknown)}"
                      + (f" (known: {', '.join(have[:10])}{', ...' if len(have) > 10 else ''})" if have else ""))


def nothing_graded(args) -> str:
    return (f"nothing of {args.assignment} has been graded yet in {args.course}: run "
            f"{PROG} autograde {args.assignment} first")


# ---------------------------------------------------------------------------------------------------------
# The commands


@contextlib.contextmanager
def step(what: str, every: float = 15.0):
    """Say what is being done, then every `every` seconds that it still is, then how long it took."""
    import threading
    import time

    print(f"{what} ...", flush=True)
    start, done = time.monotonic(), threading.Event()

    def tick():
        while not done.wait(every):
            print(f"  ... still {what[0].lower() + what[1:]} ({time.monotonic() - start:.0f} s)", flush=True)

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    try:
        yield
    finally:
        done.set()
        ticker.join()
    print(f"  done in {time.monotonic() - start:.0f} s", flush=True)


def release(args) -> int:
    """Generate the student version of an assignment, then prove it: solution full marks, release zero."""
    with step(f"1/3 generating assignments/{args.assignment} from solutions/{args.assignment} (nbgrader "
              "generate_assignment: solutions and hidden tests stripped)"):
        folder = course.generate_release(args.assignment, args.course)
    print(f"generated {folder}")
    if args.no_prove:
        return 0
    notebooks = sorted(p.name for p in (args.course / "solutions" / args.assignment).glob("*.ipynb"))
    points = course.cell_points(args.assignment, args.course)
    with course.scratch_course(args.assignment, args.course) as root:
        course.generate_release(args.assignment, root)  # also registers the assignment in the scratch gradebook
        src, rel = root / "solutions" / args.assignment, root / "assignments" / args.assignment
        course.submit(root, args.assignment, "solution", {n: src / n for n in notebooks})
        course.submit(root, args.assignment, "release", {n: rel / n for n in notebooks})
        with step(f"2/3 grading the solution in a scratch course (it must earn all {sum(points.values()):g} points "
                  f"of {len(points)} graded cells; a minute or two)"):
            solution = course.autograde(args.assignment, "solution", root)
        print(f"  solution: {solution.score:g}/{solution.max_score:g}", flush=True)
        with step("3/3 grading the untouched release (it must earn 0: no check passes on the empty exercises)"):
            untouched = course.autograde(args.assignment, "release", root)
        print(f"  untouched release: {untouched.score:g}/{untouched.max_score:g}", flush=True)
    problems = [f"the solution loses {points[cell] - s:g} point(s) in cell {cell!r}"
                for cell, s in solution.cells.items() if s < points[cell]]
    problems += [f"the untouched release earns {s:g} point(s) in cell {cell!r}"
                 for cell, s in untouched.cells.items() if s > 0]
    if problems:
        print("release NOT proven:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    width = max(map(len, points))
    print("release proven, cell by cell (solution / untouched release / points):")
    for cell, full in points.items():
        print(f"  {cell:<{width}}  {solution.cells.get(cell, 0):g} / {untouched.cells.get(cell, 0):g} / {full:g}")
    print(f"so every check can be passed (the solution passes all) and none passes by itself (the release "
          f"passes none); {folder} is ready to hand out")
    return 0


def collect(args) -> int:
    import zipfile

    from grader.pipeline.collect import collect as run

    if not args.source.exists():
        raise Refused(f"{args.source}: no such file or folder (give the LMS's zip or a folder of submissions)")
    if args.source.is_file() and not zipfile.is_zipfile(args.source):
        with open(args.source, "rb") as f:
            if f.read(2) == b"PK":  # a zip's first bytes, but not the directory at its end: cut short
                raise Problem(f"{args.source} is a damaged or incomplete zip file (cut short?): download it again")
        if args.source.suffix == ".ipynb":
            raise Refused(f"{args.source} is one notebook: collect reads the LMS's zip or a folder of submissions "
                          f"(put it in <folder>/<student>/{args.source.name} and give <folder>)")
        raise Refused(f"{args.source} is neither a folder nor a zip file")
    notebooks = sorted(p.stem for p in (args.course / "solutions" / args.assignment).glob("*.ipynb"))
    others = {f"{p.stem}.ipynb": p.parent.name for p in (args.course / "solutions").glob("*/*.ipynb")
              if p.parent.name != args.assignment and p.stem not in notebooks}
    report = run(args.source, args.assignment, args.course, notebooks, others)
    print("\n".join(report.lines()))
    if not report.students:
        print(f"nothing collected from {args.source}: no file in it looks like a submission of {args.assignment}",
              file=sys.stderr)
        return 1
    return 0


def autograde(args) -> int:
    from grader.pipeline import autograde as grading
    from grader.pipeline.jobs import Limits

    if not grading.students(args.course, args.assignment):
        raise Problem(f"no submissions of {args.assignment} under {args.course / 'submitted'}: collect them "
                              f"first ({PROG} collect {args.assignment} <LMS zip or folder>)")
    check_students(args, grading.students(args.course, args.assignment), "submission")
    limits = Limits(cell_timeout=args.cell_timeout, submission_timeout=args.timeout, memory_mb=args.memory_mb,
                    threads=args.threads, run_all_cells=args.run_all_cells, keras_backend=args.backend,
                    network=args.allow_network, max_processes=args.max_processes)
    try:
        summary = grading.run(args.assignment, args.course, only=args.students or None, force=args.force,
                              workers=args.workers, scheduler=args.scheduler, limits=limits)
    except grading.Interrupted as stop:
        done = stop.summary
        print(f"\ninterrupted: {len(done.graded)} submission(s) graded and recorded in this run, {stop.remaining} "
              f"not; run the same command again to grade those (nothing recorded is graded twice)", file=sys.stderr)
        return 130
    counts = ", ".join(f"{n} {s}" for s, n in sorted(summary.statuses.items())) or "nothing to grade"
    print(f"{counts}; {len(summary.skipped)} unchanged; {summary.wall_s:.0f} s")
    line = summary.error_line(args.assignment)
    if line:
        print(line, file=sys.stderr)
        return 1
    return 0


def feedback(args) -> int:
    from grader.pipeline import record
    from grader.pipeline.feedback import generate

    graded = sorted(record.load(args.course, args.assignment))
    if not graded:
        raise Problem(nothing_graded(args))
    check_students(args, graded, "graded submission")
    pages = generate(args.assignment, args.course, args.students or None)
    students = len({page.parent.parent for page in pages})
    print(f"feedback for {pages.written} student(s) written now, {students - pages.written} unchanged since their "
          f"grade: {len(pages)} page(s) under {args.course / 'feedback'}")
    return 0


def export(args) -> int:
    from grader.pipeline import autograde, record
    from grader.pipeline.export import write

    if not record.load(args.course, args.assignment) and not autograde.students(args.course, args.assignment):
        raise Problem(f"nothing of {args.assignment} collected or graded in {args.course}: run {PROG} collect "
                      f"{args.assignment} <zip> and {PROG} autograde {args.assignment} first")
    from grader.pipeline.export import rows, write_canvas, write_moodle

    out = Path(args.out or args.course / f"grades-{args.assignment}.csv")
    table = rows(args.assignment, args.course)
    write(args.assignment, out, args.course, table)
    print(f"wrote {out} ({len(table)} student(s); a column per check with why it lost points)")
    canvas, missing = write_canvas(args.assignment, out.with_name(f"{out.stem}-canvas.csv"), args.course,
                                   args.canvas_column, table)
    if canvas:
        left_out = f"; left out (no Canvas user id): {', '.join(missing)}" if missing else ""
        print(f"wrote {canvas} for Canvas (Grades > Import){left_out}")
    elif args.canvas_column:  # asked for a Canvas file but none can be made: say so rather than ignore the option
        print(f"no Canvas file written, so --canvas-column was not used: no student of {args.assignment} was "
              "collected from a Canvas download (only those carry the Canvas user id the import needs)",
              file=sys.stderr)
    moodle, missing = write_moodle(args.assignment, out.with_name(f"{out.stem}-moodle.csv"), args.course, table)
    if moodle:
        left_out = f"; left out (no Moodle participant id): {', '.join(missing)}" if missing else ""
        print(f"wrote {moodle} for Moodle (the assignment's Upload grading worksheet){left_out}")
    return 0


def deadline(args) -> int:
    from grader.pipeline import late

    if args.clear:
        if any(v is not None for v in (args.due, args.grace, args.per_day, args.cap)):
            raise Refused("--clear removes the due date and policy: give it alone")
        late.save(args.course, args.assignment, None)
        print(f"{args.assignment}: no due date (late work is flagged only where the LMS marked it)")
        return 0
    try:
        current = late.load(args.course, args.assignment)
    except Problem:
        if args.due is None:
            raise
        current = None  # a whole new policy replaces the one the file could not give
    if args.due is None and current is None:
        if any(v is not None for v in (args.grace, args.per_day, args.cap)):
            raise Refused(f"{args.assignment} has no due date yet: give --due too")
        print(f"{args.assignment}: no due date; set one with {PROG} deadline {args.assignment} --due "
              "2026-11-21T23:59+00:00 [--grace MINUTES] [--per-day PERCENT] [--cap PERCENT]")
        return 0
    changed = {k: v for k, v in (("due", args.due), ("grace_minutes", args.grace), ("per_day", args.per_day),
                                 ("cap", args.cap)) if v is not None}
    if changed:
        base = current.__dict__ if current else {}
        policy = late.Policy(**{**base, **changed})
        late.save(args.course, args.assignment, policy)
        print(f"{args.assignment}: {policy.describe()} (saved in {args.course / late.FILE}; export, feedback and "
              "report apply it, no re-grading needed)")
    else:
        print(f"{args.assignment}: {current.describe()}")
    return 0


def report(args) -> int:
    from grader.pipeline import record
    from grader.pipeline.report import build

    if not record.load(args.course, args.assignment):
        raise Problem(nothing_graded(args))
    page = build(args.assignment, args.out or args.course / "report" / args.assignment, args.course)
    print(f"wrote {page} (open it in a browser)")
    return 0


def expected(args) -> int:
    """Rewrite (or --check) the unit's stored expectations from its reference (solutions/<unit>/grading/expected.py)."""
    from grader import units

    if not (units.folder(args.course) / args.assignment / "grading" / "expected.py").is_file():
        raise Refused(f"{args.assignment} stores no expectations (no solutions/{args.assignment}/grading/expected.py)")
    from grader.expectations import command

    return command(units.module(args.assignment, "grading.expected", args.course), check=args.check)


# ---------------------------------------------------------------------------------------------------------


def parser() -> Parser:
    from grader.pipeline.executors import default_workers

    top = Parser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("--course", type=Path, default=course.ROOT,
                     help="the course folder (holding solutions/, submitted/, gradebook.db); default: this repository")
    top.add_argument("--debug", action="store_true", help="show the Python traceback behind any failure")
    # The same two options are also accepted after the command (python -m grader export resnet50 --debug).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--course", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sub = top.add_subparsers(dest="command", required=True, metavar="command")

    def command(name, fn, help):
        p = sub.add_parser(name, help=help, description=help, parents=[common])
        p.add_argument("assignment", help="e.g. resnet50")
        p.set_defaults(run=fn)
        return p

    p = command("release", release, "generate assignments/<assignment> from solutions/ and prove it")
    p.add_argument("--no-prove", action="store_true", help="only generate; skip the full-marks/zero proof")
    p = command("collect", collect, "copy submissions (folder or LMS zip) into submitted/")
    p.add_argument("source", type=Path, help="a folder or .zip of submissions")
    p = command("autograde", autograde, "grade new or changed submissions in parallel")
    p.add_argument("students", nargs="*", default=[], help="only these students (default: everyone who submitted)")
    p.add_argument("--force", action="store_true", help="re-grade even unchanged submissions")
    p.add_argument("--workers", type=positive_int,
                   help=f"submissions graded at once on this machine (default: {default_workers()}, the cores)")
    p.add_argument("--scheduler", type=scheduler_address,
                   help="grade on this Dask cluster instead, e.g. tcp://head-node:8786 (see README, On a cluster)")
    p.add_argument("--cell-timeout", type=positive_int, default=180, help="seconds per cell (default 180)")
    p.add_argument("--timeout", type=positive_int, default=600, help="wall-clock seconds per submission (default 600)")
    p.add_argument("--memory-mb", type=positive_int, default=8192, help="memory per student kernel (default 8192)")
    p.add_argument("--threads", type=positive_int, default=1, help="math threads per kernel (default 1)")
    p.add_argument("--max-processes", type=positive_int, default=512,
                   help="processes and threads per kernel (default 512); a kernel with a quarter of that in "
                        "processes is a fork bomb and is killed (where kernels get a user id of their own, see README)")
    p.add_argument("--backend", choices=["tensorflow", "torch", "jax"],
                   help="Keras backend of the grading kernels (default: KERAS_BACKEND, else tensorflow)")
    p.add_argument("--allow-network", action="store_true", help="let student code use the network (default: cut)")
    p.add_argument("--run-all-cells", action="store_true",
                   help="also run the cells after the last graded one (slower; grades cannot change)")
    p = command("feedback", feedback, "write one feedback HTML per student")
    p.add_argument("students", nargs="*", default=[], help="only these students (default: everyone graded)")
    p = command("export", export, "write the grades as CSV")
    p.add_argument("--out", type=Path, help="default: <course>/grades-<assignment>.csv (and, for students collected "
                                            "from Canvas, grades-<assignment>-canvas.csv beside it)")
    p.add_argument("--canvas-column", help="the assignment's column in the Canvas file, as Canvas names it, e.g. "
                                           "'Residual Networks (12345)' (default: the assignment's name: a new column)")
    p = command("deadline", deadline, "show or set the assignment's due date and late policy")
    p.add_argument("--due", type=due_time, help="e.g. 2026-11-21T23:59+01:00 (no zone: UTC)")
    p.add_argument("--grace", type=non_negative, metavar="MINUTES", help="minutes after the due date still on time")
    p.add_argument("--per-day", type=percent, metavar="PERCENT",
                   help="percent of the assignment's points taken off per day (or part of one) late")
    p.add_argument("--cap", type=percent, metavar="PERCENT", help="at most this percent in all (default 100)")
    p.add_argument("--clear", action="store_true", help="remove the due date and policy")
    p = command("expected", expected, "rewrite the assignment's stored expectations from its reference (after "
                                      "changing a case or the reference); the next autograde re-grades")
    p.add_argument("--check", action="store_true", help="only compare; exit 1 if they drifted")
    p = command("report", report, "write the instructor's HTML report")
    p.add_argument("--out", type=Path, help="folder for report.html and its PNGs (default: <course>/report/<assignment>)")
    return top


def _first_line(error: BaseException) -> str:
    text = next((line.strip() for line in str(error).splitlines() if line.strip()), "")
    return text or type(error).__name__


def main(argv=None, prog: str | None = None) -> int:
    global PROG
    PROG = prog or DEFAULT_PROG  # (the console command resnet-grader: its hints name it)
    top = parser()
    args, extra = top.parse_known_args(argv)
    # Student names after an option (autograde resnet50 --force alice) are students too: argparse alone
    # would refuse them (a positional list ends at the first option).
    if extra and isinstance(getattr(args, "students", None), list) and not any(e.startswith("-") for e in extra):
        args.students += extra
    elif extra:
        top.error(f"unrecognized arguments: {' '.join(extra)}")
    args.course = args.course.expanduser().resolve()
    where = f"{PROG} {args.command}"
    course.kernel_environment()  # (nbgrader runs this environment's `alembic` to create a gradebook)
    try:
        check_assignment(args)
        return args.run(args)
    except Refused as e:
        if args.debug:
            raise
        print(f"{where}: error: {e}", file=sys.stderr)
        return 2
    except Problem as e:  # (the cluster's problems included)
        if args.debug:
            raise
        print(f"{where}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(f"\n{where}: interrupted; what was written before is complete; run the command again", file=sys.stderr)
        return 130
    except OSError as e:  # a folder that cannot be written, a full disk, ...
        if args.debug:
            raise
        print(f"{where}: {type(e).__name__}: {e} (--debug shows where)", file=sys.stderr)
        return 1
    except Exception as e:  # a bug of ours: still one line, and how to see more
        if args.debug:
            raise
        print(f"{where}: the grader failed: {type(e).__name__}: {_first_line(e)} (run again with --debug for the "
              "traceback, and please report it)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
