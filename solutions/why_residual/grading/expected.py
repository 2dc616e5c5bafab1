"""Write (or verify) the "Why residual networks?" stored expectations, from the NumPy reference: the arrays
its visible checks carry (../expected.npz) and what the judges compare the hidden tests' evidence with
(expected.json).

    python -m grader expected why_residual           # rewrite both
    python -m grader expected why_residual --check   # exit 1 if either drifted from the reference
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import checks
from resnet_course.initializers import input_values

from . import reference
from .hidden import BLOCK_OPS

TARGET = checks.EXPECTED_FILE
GRAPH_TARGET = Path(__file__).with_name("expected.json")


def graph_text() -> str:
    """What judge.py compares the hidden tests' evidence with: the reference blocks' graphs on the
    hidden cases, and make_net's block calls and graph around the same stand-in blocks the hidden tests use."""
    import json

    from resnet_course import graph

    from .hidden import HIDDEN_BLOCKS, HIDDEN_NETS

    keras_blocks = {"plain": reference.keras_plain_block, "residual": reference.keras_residual_block}
    data = {f"block_structure:{kind}": [graph.to_data(checks.build_block(keras_blocks[kind], case)[1]) for case in cases]
            for kind, cases in HIDDEN_BLOCKS.items()}
    data["make_net"] = []
    for case in HIDDEN_NETS:
        calls = []
        plain, residual = checks.stand_in_blocks(calls)
        model = reference.keras_make_net(case.depth, case.residual, input_dim=case.input_dim, units=case.units,
                                         classes=case.classes, plain_block=plain, residual_block=residual)
        data["make_net"].append({"calls": calls, "graph": graph.to_data(graph.trace(model.outputs[0]))})
    return json.dumps(data, separators=(",", ":"), default=str) + "\n"


def block_outputs(case: checks.BlockCase) -> dict[str, np.ndarray]:
    x = input_values((case.batch, case.width))
    ops = BLOCK_OPS[case.kind](case.units)
    return {mode: reference.forward(ops, x, training=(mode == "training")).astype(np.float32)
            for mode in ("inference", "training")}


def gradient_expectations(ops, x, y) -> dict[str, np.ndarray]:
    """The answer ('training') and the two look-alike mistakes the check recognises, per Dense layer."""
    return {"training": reference.gradient_norms(ops, x, y, training=True),
            "inference": reference.gradient_norms(ops, x, y, training=False),
            "with_bias": reference.gradient_norms(ops, x, y, training=True, with_bias=True)}


def compute() -> dict[str, np.ndarray]:
    arrays = {}
    for kind, case in checks.VISIBLE_BLOCKS.items():
        for mode, value in block_outputs(case).items():
            arrays[f"{kind}_{mode}"] = value
    case = checks.VISIBLE_GRADIENT
    x, y = case.inputs()
    for key, value in gradient_expectations(list(case.ops), x, y).items():
        arrays[f"gradient_{key}"] = value
    return arrays
