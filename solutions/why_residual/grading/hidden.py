"""Hidden tests for the "Why residual networks?" assignment, the part that runs in the student's kernel:
called from the `### BEGIN HIDDEN TESTS` sections of the source notebook, which nbgrader strips from the
release.

They go beyond the visible checks: other widths and batch sizes; values in both BatchNorm modes; make_net
with several depths and sizes around stand-in blocks, so a mistake in a block costs that block's points
only; gradient norms of plain, residual and BN-free networks; zero_last_layer on real blocks of other
widths. Each test runs the learner's code on its cases and delivers what it saw (grader.kernel.evidence);
grading/judge.py compares that with the NumPy reference, outside the kernel when graded by our
pipeline. Nothing here knows the right answers.
"""

from __future__ import annotations

from .. import checks
from resnet_course import graph
from ..checks import BlockCase, GradientCase, NetCase

from grader.kernel import evidence, integrity

UNIT = __name__.split(".")[-3]  # the unit's folder name: the first part of every evidence key


# --- the architectures, as ops (see reference.py, which computes with them) ---------------------


def plain_block_ops(units: int) -> list:
    return [("dense", units, None), ("bn",), ("relu",), ("dense", units, None), ("bn",), ("relu",)]


def residual_block_ops(units: int) -> list:
    return [("residual", [("dense", units, None), ("bn",), ("relu",), ("dense", units, None), ("bn",)]), ("relu",)]


BLOCK_OPS = {"plain": plain_block_ops, "residual": residual_block_ops}


def net_ops(depth: int, residual: bool, units: int = 64, classes: int = 6) -> list:
    """make_net's architecture: Dense -> BN -> ReLU stem, `depth` blocks, Dense(classes, softmax) head."""
    ops = [("dense", units, None), ("bn",), ("relu",)]
    for _ in range(depth):
        ops += BLOCK_OPS["residual" if residual else "plain"](units)
    return ops + [("dense", classes, "softmax")]


def _frozen(ops):
    """Ops as nested tuples (hashable), so that a case can key a cache."""
    return tuple(_frozen(op) if isinstance(op, (list, tuple)) else op for op in ops)


# --- the cases: widths, units and batch sizes the visible checks never use -------------------------------------

HIDDEN_BLOCKS = {
    "plain": [BlockCase("plain", 4, 5, 9), BlockCase("plain", 6, 3, 3), BlockCase("plain", 3, 8, 2)],
    "residual": [BlockCase("residual", 4, 9, 9), BlockCase("residual", 6, 3, 3), BlockCase("residual", 7, 5, 5)],
}
HIDDEN_NETS = [NetCase(1, False, input_dim=7, units=5, classes=3), NetCase(4, True, input_dim=9, units=6, classes=5),
               NetCase(3, False, input_dim=16, units=4, classes=6), NetCase(2, True, input_dim=3, units=11, classes=2),
               # Without the other arguments: 64 inputs, 64 units, 6 classes (the notebook's experiments rely on them).
               NetCase(2, True, input_dim=64, units=64, classes=6, defaults=True)]
HIDDEN_GRADIENTS = [
    GradientCase("plain net, 2 blocks", 5, 9, _frozen(net_ops(2, False, units=4, classes=3))),
    GradientCase("residual net, 3 blocks", 6, 10, _frozen(net_ops(3, True, units=5, classes=4))),
    GradientCase("small MLP without BatchNorm", 4, 7, (("dense", 6, None), ("relu",), ("dense", 3, "softmax"))),
]
ZERO_LAST_LAYER = [(kind, width) for width in (5, 9) for kind in ("residual", "plain")]
ZERO_BATCH = 3


# --- the tests ---------------------------------------------------------------------------------------------------


def block_structure(fn, kind: str) -> None:
    """The learner's graph for every hidden case (judged: equal to the reference's, creation order ignored)."""
    integrity.verify()
    graphs = [graph.to_data(checks.check_block_structure(fn, case)[1]) for case in HIDDEN_BLOCKS[kind]]
    evidence.deliver((UNIT, "block_structure", kind), {"graphs": graphs})


def block_values(fn, kind: str) -> None:
    """Outputs in both BatchNorm modes for every hidden case (judged against the NumPy reference)."""
    integrity.verify()
    outputs = {}
    for i, case in enumerate(HIDDEN_BLOCKS[kind]):
        model, _ = checks.check_block_structure(fn, case)
        for mode, value in checks.block_outputs(fn, case, model).items():
            outputs[f"{i}_{mode}"] = value
    evidence.deliver((UNIT, "block_values", kind), {"name": getattr(fn, "__name__", kind + "_block")}, outputs)


def make_net(fn) -> None:
    """Block calls and the whole graph around stand-in blocks, for several sizes and the defaults."""
    integrity.verify()
    nets = []
    for case in HIDDEN_NETS:
        checks.assert_make_net_layout(fn, case)  # the visible diagnosis, when it already finds something
        calls, model, error = checks.record_blocks(fn, case)
        if error:
            raise error
        nets.append({"calls": calls, "graph": graph.to_data(graph.trace(model.outputs[0]))})
    evidence.deliver((UNIT, "make_net"), {"nets": nets})


def layer_gradient_norms(fn) -> None:
    """The learner's per-layer gradient norms of plain, residual and BN-free networks (judged against NumPy
    back-propagation)."""
    integrity.verify()
    found = {}
    for i, case in enumerate(HIDDEN_GRADIENTS):
        x, y = case.inputs()
        found[str(i)] = checks.call_gradient_norms(fn, checks.build_ops_model(list(case.ops), case.input_dim), x, y)
    evidence.deliver((UNIT, "layer_gradient_norms"), {}, found)


def zero_last_layer(fn) -> None:
    """Every weight of real blocks after the learner's function, and their outputs (judged: only the last
    BatchNorm's gamma and beta are zero; a residual block then passes its input on, a plain one gives 0)."""
    import keras

    integrity.verify()
    arrays = {}
    for i, (kind, width) in enumerate(ZERO_LAST_LAYER):
        model = checks.build_ops_model(BLOCK_OPS[kind](width), width)
        a = checks.relu_outputs(ZERO_BATCH, width)
        checks.assert_zero_last_layer(fn, model, kind, a)  # the visible diagnosis, when it already finds something
        checks.set_deterministic_weights(model)  # again from the start: the check's training call moved BN's statistics
        fn(model)
        for k, layer in enumerate(checks.dense_layers(model)):
            arrays[f"{i}_dense{k}_kernel"] = keras.ops.convert_to_numpy(layer.kernel)
            arrays[f"{i}_dense{k}_bias"] = keras.ops.convert_to_numpy(layer.bias)
        for k, layer in enumerate(checks.batchnorm_layers(model)):
            for name in ("gamma", "beta", "moving_mean", "moving_variance"):
                arrays[f"{i}_bn{k}_{name}"] = keras.ops.convert_to_numpy(getattr(layer, name))
        for mode in ("inference", "training"):  # inference first: a training call moves BN's statistics
            arrays[f"{i}_out_{mode}"] = keras.ops.convert_to_numpy(model(a, training=mode == "training"))
    evidence.deliver((UNIT, "zero_last_layer"), {}, arrays)
