"""How a failed visible check reads in a notebook: the diagnosis on the first line, at most a few lines in all.

IPython shows an exception that defines `_render_traceback_()` with the lines it returns instead of a
traceback (the cell still ends with an error, so nbgrader still gives it no points). A traceback through this
package's internals never helps a learner; what does is the diagnosis, the call that showed it and, when the
learner's own code raised, the line of their cell and what the error said. `str()` of the exception keeps the
whole diagnosis: the grader, nbgrader's feedback and `kit.py check` read that.
"""

from __future__ import annotations

import functools
import linecache
import re
import sys

MAX_LINES = 6
# The file names IPython and ipykernel compile notebook cells under.
CELL_FILE = re.compile(r"^<ipython-input-\d+-[0-9a-f]+>$|[/\\]ipykernel_\d+[/\\]\d+\.py$")
# Keras wraps an error inside a layer's call in a header line that names no mistake, and sets the error's
# own text in bold with terminal colour codes.
WRAPPER_LINE = re.compile(r"^Exception encountered when calling")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def notebook_lines(error: BaseException, shown: list[str] | None = None) -> list[str]:
    """What a notebook shows for `error`: `shown` (or the lines its message is made of, diagnosis first),
    then where the learner's code raised, if it did, and that error in one line; at most MAX_LINES lines."""
    lines = shown or diagnosis_lines(str(error))
    cause = learner_error(error)
    context = []
    if cause is not None:
        where = cell_line(cause)
        if where:
            context.append(where)
        said = one_line(cause)
        if not any(said.split(": ", 1)[-1] in line for line in lines):
            context.append(f"  {said}")
    return fit(lines, MAX_LINES - len(context)) + context


def diagnosis_lines(message: str) -> list[str]:
    """The message's lines with the diagnosis first. The checks' usual message is a header naming the call,
    then one "  - problem" line per problem: shown, it is the first problem, the others, then the call."""
    lines = [line for line in message.strip().splitlines() if line.strip()] or ["The check failed."]
    head, rest = lines[0], lines[1:]
    if head.endswith(":") and rest and all(line.startswith("  - ") for line in rest):
        problems = [line[4:] for line in rest]
        return [problems[0], *(f"  - {p}" for p in problems[1:]), f"  (checked by calling {head[:-1]})"]
    return lines


def fit(lines: list[str], budget: int) -> list[str]:
    """`lines` in at most `budget` lines (at least one): the ones that do not fit join the last that does,
    so nothing of the diagnosis is lost."""
    budget = max(budget, 1)
    if len(lines) <= budget:
        return list(lines)
    kept, overflow = lines[:budget - 1], lines[budget - 1:]
    return kept + ["  " + "  ".join(line.strip() for line in overflow)]


def learner_error(error: BaseException) -> BaseException | None:
    """The error behind `error` that is not one of our own diagnoses (what the learner's code raised)."""
    cause = error.__cause__
    while cause is not None and _is_diagnosis(cause):
        cause = cause.__cause__
    return cause


def _is_diagnosis(error: BaseException) -> bool:
    return hasattr(error, "_render_traceback_") and type(error).__module__.startswith("resnet_course")


def cell_line(error: BaseException) -> str:
    """"  line N of your cell [k], in fn: <source>" for the innermost notebook-cell frame of `error`'s
    traceback (the learner's code), or "" when none of its frames is in a cell."""
    frame = None
    tb = error.__traceback__
    while tb is not None:
        if is_cell(tb.tb_frame.f_code.co_filename):
            frame = tb
        tb = tb.tb_next
    if frame is None:
        return ""
    filename, lineno = frame.tb_frame.f_code.co_filename, frame.tb_lineno
    number = cell_number(filename)
    cell = f"your cell [{number}]" if number is not None else "your cell"
    function = frame.tb_frame.f_code.co_name
    inside = f", in {function}" if function != "<module>" else ""
    source = linecache.getline(filename, lineno).strip()
    return f"  line {lineno} of {cell}{inside}: {source}" if source else f"  line {lineno} of {cell}{inside}"


def is_cell(filename: str) -> bool:
    return bool(CELL_FILE.search(filename)) or cell_number(filename) is not None


def cell_number(filename: str) -> int | None:
    """The execution count IPython compiled a cell's file under (None outside IPython or for other files)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    return getattr(getattr(shell, "compile", None), "_filename_map", {}).get(filename)


def first_line(error: BaseException) -> str:
    """The first line of the error's message that says something ("" for none): not Keras's header
    "Exception encountered when calling X.call()." that wraps an error inside a layer."""
    lines = [line.strip() for line in ANSI.sub("", str(error)).splitlines() if line.strip()]
    return next((line for line in lines if not WRAPPER_LINE.match(line)), lines[0] if lines else "")


def one_line(error: BaseException, limit: int = 300) -> str:
    """"ValueError: <its first informative line>", at most `limit` characters."""
    text = first_line(error)
    said = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return said if len(said) <= limit else said[:limit - 3] + "..."


def learner_facing(check):
    """Decorate a visible check: an error it did not foresee (the learner's function returned something
    odd, or raised later than the check expected) becomes a CheckFailed that names the check, so that the
    notebook shows a few lines and not a traceback through this package."""

    @functools.wraps(check)
    def run(*args, **kwargs):
        from .checking import CheckFailed

        try:
            return check(*args, **kwargs)
        except CheckFailed:
            raise
        except Exception as e:
            called = getattr(args[0], "__name__", "your function") if args else "your function"
            raise CheckFailed(f"{check.__name__} could not finish checking {called}: {one_line(e)}") from e

    return run
