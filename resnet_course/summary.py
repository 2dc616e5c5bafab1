"""Where a learner stands after Run All: which checks pass, the points they are worth, what is left.

The course tags its check cells (and the cells that use the learner's functions) `raises-exception`, so
JupyterLab's Run All goes on past a failed check; the cell still ends with an error, so nbgrader still
gives it no points. While the notebook runs, an IPython hook (`watch`, started when the checks are
imported) notes how each cell ended; `show` reads the notebook file for its graded cells and their points
and prints the table. It is a guide, not the grade: `python3 kit.py check` runs the notebook as the grader.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Outcome:
    passed: bool
    why: str = ""  # the first line of the error, when it failed


_OUTCOMES: dict[str, Outcome] = {}  # a cell's source (stripped) -> how it ended when last run


def _shell():
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def watch() -> bool:
    """Note the outcome of every cell run from now on (once per kernel); False outside IPython."""
    shell = _shell()
    if shell is None or not hasattr(shell, "events"):
        return False
    if _record not in shell.events.callbacks.get("post_run_cell", []):
        shell.events.register("post_run_cell", _record)
    return True


def _record(result) -> None:
    source = getattr(getattr(result, "info", None), "raw_cell", None)
    if source is None:
        return
    error = result.error_in_exec or result.error_before_exec
    _OUTCOMES[source.strip()] = Outcome(error is None, "" if error is None else reason(error))


def reason(error: BaseException) -> str:
    """One line for the table: a course diagnosis's first line, else 'Type: first line of the message'."""
    from . import failures

    if hasattr(error, "_render_traceback_") and type(error).__module__.startswith("resnet_course"):
        return failures.diagnosis_lines(str(error))[0].strip()
    return failures.one_line(error)


@dataclass(frozen=True)
class Check:
    grade_id: str
    points: float
    exercise: str  # the grade id of the exercise cell above it
    source: str


def graded_checks(nb: dict) -> list[Check]:
    """The notebook's graded test cells, each with the exercise (solution cell) it follows."""
    checks, exercise = [], ""
    for cell in nb.get("cells", []):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("cell_type") != "code" or not meta.get("grade_id"):
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        if meta.get("solution"):
            exercise = meta["grade_id"]
        elif meta.get("grade"):
            checks.append(Check(meta["grade_id"], float(meta.get("points", 0)), exercise, source.strip()))
    return checks


def find_notebook(name: str | None) -> Path | None:
    """`name` in the kernel's folder (the notebook's own), else the notebook JupyterLab says this kernel
    belongs to, else the one notebook here that has graded cells."""
    candidates = [Path(name)] if name else []
    if os.environ.get("JPY_SESSION_NAME"):
        candidates.append(Path(os.environ["JPY_SESSION_NAME"]))
    for path in candidates:
        if path.is_file():
            return path
    graded = [p for p in sorted(Path.cwd().glob("*.ipynb")) if _read(p) and graded_checks(_read(p))]
    return graded[0] if len(graded) == 1 else None


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def table(checks: list[Check], outcomes: dict[str, Outcome]) -> list[str]:
    """The summary's lines for `checks` given how their cells ended."""
    rows, left = [], {}
    for check in checks:
        outcome = outcomes.get(check.source)
        status = "not run" if outcome is None else "pass" if outcome.passed else "FAIL"
        score = check.points if status == "pass" else 0
        rows.append((status, check, score, outcome.why if outcome and not outcome.passed else ""))
        if status != "pass":
            left.setdefault(check.exercise, []).append(check.grade_id.removeprefix(check.exercise + "_"))
    passed = sum(1 for status, *_ in rows if status == "pass")
    total, possible = sum(r[2] for r in rows), sum(c.points for c in checks)
    lines = [f"Checks: {passed} of {len(checks)} pass, {total:g} / {possible:g} points "
             "(the grader's hidden tests can still take points)"]
    width = max((len(c.grade_id) for c in checks), default=0)
    for status, check, score, why in rows:
        line = f"  {status:<7}  {check.grade_id:<{width}}  {score:g} / {check.points:g}"
        lines.append(f"{line}   {why}" if why else line)
    if left:
        lines.append("Left to do: " + "; ".join(f"{exercise or 'checks'} ({', '.join(parts)})"
                                                for exercise, parts in left.items()))
    else:
        lines.append("Every check passes.")
    lines.append("Before you submit, `python3 kit.py check` runs the notebook as the grader will.")
    return lines


def show(notebook: str | None = None) -> None:
    """Print which checks pass, their points and what is left (never raises: it must end Run All)."""
    path = find_notebook(notebook)
    nb = _read(path) if path else None
    if nb is None:
        print(f"The summary needs the notebook file ({notebook or 'a .ipynb'}) in {Path.cwd()}: save it there "
              "and run this cell again, or run `python3 kit.py check`.")
        return
    checks = graded_checks(nb)
    if not checks:
        print(f"{path.name} has no graded checks.")
        return
    print("\n".join(table(checks, _OUTCOMES)))
