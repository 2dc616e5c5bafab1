"""The verdicts of the "Why residual networks?" hidden tests (grading/hidden.py), from their evidence.

grader.pipeline.judging calls JUDGES in the grading worker, or in-process where there is no evidence folder. Graphs
come from expected.json (written by `python -m grader expected why_residual`), values and gradients from the
NumPy reference (reference.py).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

from .. import checks
from resnet_course import graph
from ..checks import CheckFailed

from . import reference
from .expected import block_outputs, gradient_expectations
from .hidden import (
    BLOCK_OPS,
    HIDDEN_BLOCKS,
    HIDDEN_GRADIENTS,
    HIDDEN_NETS,
    ZERO_BATCH,
    ZERO_LAST_LAYER,
)
from resnet_course.checking import same_block_graphs

STORED = Path(__file__).with_name("expected.json")


@functools.cache
def stored() -> dict:
    return json.loads(STORED.read_text())


def _count(what: str, data: list, cases: list) -> None:
    if len(data) != len(cases):
        raise CheckFailed(f"{what}: the hidden checks saw {len(data)} of {len(cases)} cases.")


def block_structure(kind: str, data: dict, arrays: dict) -> None:
    same_block_graphs(kind, f"{kind}_block", HIDDEN_BLOCKS[kind], stored()[f"block_structure:{kind}"], data["graphs"])


def block_values(kind: str, data: dict, arrays: dict) -> None:
    for i, case in enumerate(HIDDEN_BLOCKS[kind]):
        outputs = {mode: arrays.get(f"{i}_{mode}") for mode in ("inference", "training")}
        if any(v is None for v in outputs.values()):
            raise CheckFailed(f"{kind}_block: the hidden checks saw no output for {case.name}.")
        checks.compare_block_values(str(data["name"]), case, outputs, block_outputs(case))


def make_net(data: dict, arrays: dict) -> None:
    _count("make_net", data["nets"], HIDDEN_NETS)
    for case, expected, learner in zip(HIDDEN_NETS, stored()["make_net"], data["nets"]):
        calls = [tuple(call) for call in learner["calls"]]
        if calls != [tuple(call) for call in expected["calls"]]:
            problems = checks.diagnose_calls(calls, case) or [f"The block calls differ from the reference: {calls}"]
            raise CheckFailed(f"{case.describe()}:\n" + "\n".join(f"  - {p}" for p in problems))
        difference = graph.first_difference(graph.from_data(expected["graph"]), graph.from_data(learner["graph"]))
        if difference:
            raise CheckFailed(f"{case.describe()} differs from the reference network: {difference}")


def _facts(ops: list, input_dim: int) -> dict:
    """gradient_facts of the model build_ops_model makes from `ops`, worked out without building it."""
    params = reference.parameters(ops, input_dim)
    return {"dense": len(params["dense"]), "weights": 2 * len(params["dense"]) + 2 * len(params["bn"]),
            "weight_norms": np.array([np.linalg.norm(kernel.astype(np.float32)) for kernel, _ in params["dense"]])}


def layer_gradient_norms(data: dict, arrays: dict) -> None:
    for i, case in enumerate(HIDDEN_GRADIENTS):
        if str(i) not in arrays:
            raise CheckFailed(f"layer_gradient_norms: the hidden checks saw no result for {case.name}.")
        x, y = case.inputs()
        ops = list(case.ops)
        problems = checks.diagnose_gradient_norms(np.asarray(arrays[str(i)], dtype=float),
                                                  gradient_expectations(ops, x, y), _facts(ops, case.input_dim))
        if problems:
            raise CheckFailed(f"layer_gradient_norms(model, x, y) on {case.name}:\n"
                              + "\n".join(f"  - {p}" for p in problems))


def zero_last_layer(data: dict, arrays: dict) -> None:
    for i, (kind, width) in enumerate(ZERO_LAST_LAYER):
        params = reference.parameters(BLOCK_OPS[kind](width), width)
        expected = {}
        for k, (kernel, bias) in enumerate(params["dense"]):
            expected[f"dense{k}_kernel"], expected[f"dense{k}_bias"] = kernel, bias
        for k, values in enumerate(params["bn"]):
            for name, value in values.items():
                expected[f"bn{k}_{name}"] = value
        # The last BatchNorm's gamma and beta become zero; its statistics may change with them (set_weights of
        # zeros is a correct answer): with gamma and beta zero they no longer matter.
        last = len(params["bn"]) - 1
        expected[f"bn{last}_gamma"], expected[f"bn{last}_beta"] = (np.zeros(width), np.zeros(width))
        del expected[f"bn{last}_moving_mean"], expected[f"bn{last}_moving_variance"]
        where = f"zero_last_layer on a {kind} block of width {width}"
        wrong = [name for name, value in expected.items() if f"{i}_{name}" not in arrays
                 or not np.allclose(arrays[f"{i}_{name}"], value, rtol=1e-5, atol=1e-6)]
        if wrong:
            raise CheckFailed(f"{where}: these weights are not what they should be (only the last BatchNormalization's "
                              f"gamma and beta become zero): {', '.join(wrong)}.")
        a = checks.relu_outputs(ZERO_BATCH, width)
        want = a if kind == "residual" else np.zeros_like(a)
        for mode in ("inference", "training"):
            out = arrays.get(f"{i}_out_{mode}")
            if out is None or out.shape != want.shape or not np.allclose(out, want, atol=1e-6):
                raise CheckFailed(f"{where}: with the last layer zeroed it should output "
                                  f"{'its input a' if kind == 'residual' else 'zeros'} in {mode} mode; it does not.")


JUDGES = {"block_structure": block_structure, "block_values": block_values, "make_net": make_net,
          "layer_gradient_norms": layer_gradient_norms, "zero_last_layer": zero_last_layer}
