"""Write (or verify) the ResNet assignment's stored expectations, from the NumPy reference: the arrays its
visible checks carry (../expected.npz) and what the judges compare the hidden tests' evidence with
(expected.json).

    python -m grader expected resnet50           # rewrite both
    python -m grader expected resnet50 --check   # exit 1 if either drifted from the reference
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import checks
from resnet_course.initializers import input_values

from . import reference

REFERENCE_BLOCKS = {"identity": reference.identity_block, "convolutional": reference.convolutional_block}
TARGET = checks.EXPECTED_FILE
GRAPH_TARGET = Path(__file__).with_name("expected.json")


def graph_text() -> str:
    """What judge.py compares the hidden tests' evidence with: the reference blocks' graphs on the hidden
    cases, and ResNet50's block calls and graph around the same stand-in blocks the hidden tests use."""
    import json

    from resnet_course import graph

    from .hidden import HIDDEN_CASES

    data = {f"block_structure:{kind}": [graph.to_data(checks.build_block(reference.KERAS_BLOCKS[kind], case)[1])
                                         for case in cases]
            for kind, cases in HIDDEN_CASES.items()}
    calls = []
    identity, convolutional = checks.stand_in_blocks(calls)
    model = reference.keras_resnet50(identity_block=identity, convolutional_block=convolutional)
    data["resnet50_layout"] = {"calls": calls}
    data["resnet50_model"] = {"graph": graph.to_data(graph.trace(model.outputs[0]))}
    return json.dumps(data, separators=(",", ":"), default=str) + "\n"


def reference_outputs(case: checks.BlockCase) -> dict[str, np.ndarray]:
    x = input_values(case.input_shape)
    block = REFERENCE_BLOCKS[case.kind]
    kwargs = {} if case.kind == "identity" else {"s": case.s}
    return {mode: block(x, case.f, case.filters, training=(mode == "training"), **kwargs).astype(np.float32)
            for mode in ("inference", "training")}


def compute() -> dict[str, np.ndarray]:
    arrays = {}
    for kind, case in checks.VISIBLE_CASES.items():
        for mode, value in reference_outputs(case).items():
            arrays[f"{kind}_{mode}"] = value
    return arrays
