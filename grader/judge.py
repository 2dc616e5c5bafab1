"""The hidden tests' verdicts, from the evidence they delivered (grader.evidence), against the reference.

Under grader.execute this runs in the grading worker, after the kernel has run the notebook
(grader.preprocessors.JudgeHiddenTests), where student code cannot reach it; elsewhere the hidden tests call
it in-process. The verdicts of the ResNet assignment (grader.hidden) are here, those of "Why residual
networks?" (grader.hidden_residual) in grader.judge_residual. The reference graphs are stored in
hidden_expected.json by `python -m grader.expected` (building them needs Keras; judging does not), the
reference values come from the NumPy reference.
"""

from __future__ import annotations

import ast
import functools
import importlib
import json
from pathlib import Path

import numpy as np

from resnet_course import checks, graph
from resnet_course.checks import BlockCase, CheckFailed

from . import evidence
from .expected import reference_outputs
from .hidden import HIDDEN_CASES, LAYOUT_CLASSES

STORED = Path(__file__).with_name("hidden_expected.json")
# grader.<hidden tests module>: the module holding their judges
JUDGE_OF = {"hidden": "grader.judge", "hidden_residual": "grader.judge_residual"}


@functools.cache
def stored() -> dict:
    return json.loads(STORED.read_text())


@functools.lru_cache(maxsize=32)
def _reference_outputs(case: BlockCase) -> dict[str, np.ndarray]:
    return reference_outputs(case)


def _calls(data: list) -> list[tuple]:
    return [(kind, f, tuple(filters), s, tuple(shape)) for kind, f, filters, s, shape in data]


def same_block_graphs(kind: str, what: str, cases: list, expected: list, learner: list) -> None:
    """Raise CheckFailed unless the learner's graph (data) of every case equals the stored reference's."""
    if len(learner) != len(cases):
        raise CheckFailed(f"{what}: the hidden checks saw {len(learner)} of {len(cases)} cases.")
    for case, want, got in zip(cases, expected, learner):
        difference = graph.first_difference(graph.from_data(want), graph.from_data(got))
        if difference:
            raise CheckFailed(f"{kind} block differs from the reference for {case.name}: {difference}")


def block_structure(kind: str, data: dict, arrays: dict) -> None:
    same_block_graphs(kind, f"{kind} block", HIDDEN_CASES[kind], stored()[f"block_structure:{kind}"], data["graphs"])


def block_values(kind: str, mode: str, data: dict, arrays: dict) -> None:
    for i, case in enumerate(HIDDEN_CASES[kind]):
        if str(i) not in arrays:
            raise CheckFailed(f"{kind} block: the hidden checks saw no output for {case.name}.")
        checks.compare_block_values(str(data["name"]), case, mode, arrays[str(i)], _reference_outputs(case))


def resnet50_layout(data: dict, arrays: dict) -> None:
    calls = _calls(data["calls"])
    expected = _calls(stored()["resnet50_layout"]["calls"])
    if [c[:4] for c in calls] != [c[:4] for c in expected]:
        problems = checks.diagnose_layout(calls) or [f"The block calls differ from the reference: {calls}"]
        raise CheckFailed("ResNet50():\n" + "\n".join(f"  - {p}" for p in problems))
    if data["output_shape"] != [None, LAYOUT_CLASSES]:
        raise CheckFailed(f"ResNet50(classes={LAYOUT_CLASSES}) should output (None, {LAYOUT_CLASSES}); found "
                          f"{tuple(data['output_shape'])}: use the `classes` argument for the Dense layer's units.")


def resnet50_model(data: dict, arrays: dict) -> None:
    difference = graph.first_difference(graph.from_data(stored()["resnet50_model"]["graph"]),
                                        graph.from_data(data["graph"]))
    if difference:
        raise CheckFailed(f"ResNet50 differs from the reference architecture: {difference}")


JUDGES = {"block_structure": block_structure, "block_values": block_values, "resnet50_layout": resnet50_layout,
          "resnet50_model": resnet50_model}


def _judges(module: str) -> dict:
    return importlib.import_module(JUDGE_OF[module]).JUDGES


def judge(key: tuple[str, ...], data: dict, arrays: dict[str, np.ndarray]) -> None:
    """Raise CheckFailed unless the evidence for `key` (hidden tests module, test, its string arguments)
    matches the reference."""
    module, name, *args = key
    _judges(module)[name](*args, data, arrays)


def hidden_calls(source: str) -> list[tuple[str, ...]]:
    """The evidence keys a test cell's hidden tests deliver: after `from grader import hidden`,
    `hidden.block_values(fn, "identity", "training")` gives ("hidden", "block_values", "identity", "training")."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    handles = {alias.asname or alias.name: alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
               and node.module == "grader" for alias in node.names if alias.name in JUDGE_OF}
    return [(handles[node.func.value.id], node.func.attr,
             *(a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)))
            for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name) and node.func.value.id in handles
            and node.func.attr in _judges(handles[node.func.value.id])]


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
    except Exception as e:  # noqa: BLE001  (evidence written by student code can be anything)
        return f"The hidden checks' report could not be read ({type(e).__name__}): was it changed by the notebook?"
    return None
