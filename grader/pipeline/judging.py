"""The judge step: the hidden tests' verdicts, from the evidence they delivered (grader.kernel.evidence).

A hidden-test section calls `units.hidden("<unit>").<test>(fn, "arg", ...)`; the kernel side delivers what it
saw under the key (<unit>, <test>, "arg", ...), and here that unit's judge (grading/judge.py's JUDGES) gives
the verdict. Under grader.pipeline.execute this runs in the grading worker, after the kernel has run the notebook
(grader.preprocessors.JudgeHiddenTests), where student code cannot reach it; without an evidence folder
(plain nbgrader) grader.kernel.evidence calls the unit's judge in-process instead. Nothing here knows an
assignment: the units are found by grader.units.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np

from resnet_course.checking import CheckFailed

from grader import units
from grader.kernel import evidence


class NoJudge(CheckFailed):
    """A hidden test the unit's judge does not know: the course's mistake, never passed silently."""


def judge(key: tuple[str, ...], data: dict, arrays: dict[str, np.ndarray]) -> None:
    """Raise CheckFailed unless the evidence for `key` (unit, test, its string arguments) matches the reference."""
    unit, name, *args = key
    judges = units.judges(unit)
    if name not in judges:
        raise NoJudge(f"The grader has no judge for the hidden test {name!r} of {unit!r}: an instructor must add "
                      f"it to solutions/{unit}/grading/judge.py (JUDGES), then re-grade.")
    judges[name](*args, data, arrays)


def _unit_of(call: ast.expr, handles: set[str]) -> str | None:
    """"resnet50" for `units.hidden("resnet50")` (`units` bound by `from grader import units`), else None."""
    if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "hidden"
            and isinstance(call.func.value, ast.Name) and call.func.value.id in handles
            and len(call.args) == 1 and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str)):
        return call.args[0].value
    return None


def hidden_calls(source: str) -> list[tuple[str, ...]]:
    """The evidence keys a test cell's hidden tests deliver: after `from grader import units`,
    `units.hidden("resnet50").block_values(fn, "identity", "training")` gives
    ("resnet50", "block_values", "identity", "training"). A call of a test the unit has no judge for is kept:
    its verdict says so (and the unit conformance test proves every hidden call has a judge)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    handles = {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
               and node.module == "grader" for alias in node.names if alias.name == "units"}
    keys = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            unit = _unit_of(node.func.value, handles)
            if unit is not None:
                keys.append((unit, node.func.attr,
                             *(a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str))))
    return keys


def verdict(folder: Path, key: tuple[str, ...]) -> str | None:
    """Why the cell fails its hidden test `key`, or None when it passes."""
    try:
        found = evidence.read(folder, key)
        if found is None:
            return ("The hidden checks of this cell did not report: the notebook stopped them, or changed the "
                    "code that runs them.")
        judge(key, *found)
    except CheckFailed as e:
        return str(e)
    except units.UnknownUnit as e:
        return f"The grader cannot judge this cell: {e}"
    except Exception as e:  # noqa: BLE001  (evidence written by student code can be anything)
        return f"The hidden checks' report could not be read ({type(e).__name__}): was it changed by the notebook?"
    return None
