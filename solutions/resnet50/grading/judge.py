"""The verdicts of the ResNet assignment's hidden tests (grading/hidden.py), from the evidence they delivered.

grader.pipeline.judging calls JUDGES in the grading worker, after the kernel has run the notebook, where student code
cannot reach them (in-process where there is no evidence folder). The reference graphs are stored in
expected.json by `python -m grader expected resnet50` (building them needs Keras; judging does not), the
reference values come from the NumPy reference (reference.py).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

from resnet_course import graph
from resnet_course.checking import CheckFailed, same_block_graphs

from .. import checks
from ..checks import BlockCase
from .expected import reference_outputs
from .hidden import HIDDEN_CASES, LAYOUT_CLASSES

STORED = Path(__file__).with_name("expected.json")


@functools.cache
def stored() -> dict:
    return json.loads(STORED.read_text())


@functools.lru_cache(maxsize=32)
def _reference_outputs(case: BlockCase) -> dict[str, np.ndarray]:
    return reference_outputs(case)


def _calls(data: list) -> list[tuple]:
    return [(kind, f, tuple(filters), s, tuple(shape)) for kind, f, filters, s, shape in data]


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
