"""The instructor's command line: python -m grader <command> (or: python3 kit.py grader <command>)."""

from __future__ import annotations

import argparse
import sys

from . import course


def release(args) -> int:
    """Generate the student version of an assignment, then prove it: solution full marks, release zero."""
    folder = course.generate_release(args.assignment)
    print(f"generated {folder.relative_to(course.ROOT)}")
    if args.no_prove:
        return 0
    notebooks = sorted(p.name for p in (course.ROOT / "solutions" / args.assignment).glob("*.ipynb"))
    with course.scratch_course(args.assignment) as root:
        course.generate_release(args.assignment, root)  # also registers the assignment in the scratch gradebook
        src, rel = root / "solutions" / args.assignment, root / "assignments" / args.assignment
        course.submit(root, args.assignment, "solution", {n: src / n for n in notebooks})
        course.submit(root, args.assignment, "release", {n: rel / n for n in notebooks})
        solution = course.autograde(args.assignment, "solution", root)
        untouched = course.autograde(args.assignment, "release", root)
    points = course.cell_points(args.assignment)
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("release", help="generate assignments/<assignment> from solutions/ and prove it")
    p.add_argument("assignment")
    p.add_argument("--no-prove", action="store_true", help="only generate; skip the full-marks/zero proof")
    p.set_defaults(run=release)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
