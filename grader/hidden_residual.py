"""Hidden tests for the "Why residual networks?" assignment: called from the `### BEGIN HIDDEN TESTS` sections
of the source notebook, which nbgrader strips from the release. Instructor side only.

They go beyond the visible checks: other widths and batch sizes; values in both BatchNorm modes against the
NumPy reference (not stored arrays); make_net with several depths and sizes, judged with reference blocks
substituted, so a mistake in a block costs that block's points only; gradient norms of plain and residual
networks against explicit NumPy back-propagation; zero_last_layer on the real blocks.
"""

from __future__ import annotations

import functools

from resnet_course import checks_residual as checks
from resnet_course import graph
from resnet_course.checks_residual import BlockCase, CheckFailed, GradientCase, NetCase

from . import reference_residual as reference
from .expected_residual import block_outputs, gradient_expectations

# Widths, units and batch sizes the visible checks never use: a hard-coded visible answer fails here.
HIDDEN_BLOCKS = {
    "plain": [BlockCase("plain", 4, 5, 9), BlockCase("plain", 6, 3, 3), BlockCase("plain", 3, 8, 2)],
    "residual": [BlockCase("residual", 4, 9, 9), BlockCase("residual", 6, 3, 3), BlockCase("residual", 7, 5, 5)],
}
HIDDEN_NETS = [NetCase(1, False, input_dim=7, units=5, classes=3), NetCase(4, True, input_dim=9, units=6, classes=5),
               NetCase(3, False, input_dim=16, units=4, classes=6), NetCase(2, True, input_dim=3, units=11, classes=2)]


def _frozen(ops):
    """Ops as nested tuples (hashable), so that a case can key a cache."""
    return tuple(_frozen(op) if isinstance(op, (list, tuple)) else op for op in ops)


HIDDEN_GRADIENTS = [
    GradientCase("plain net, 2 blocks", 5, 9, _frozen(reference.net_ops(2, False, units=4, classes=3))),
    GradientCase("residual net, 3 blocks", 6, 10, _frozen(reference.net_ops(3, True, units=5, classes=4))),
    GradientCase("small MLP without BatchNorm", 4, 7, (("dense", 6, None), ("relu",), ("dense", 3, "softmax"))),
]
REFERENCE_BLOCKS = {"plain": reference.keras_plain_block, "residual": reference.keras_residual_block}


def block_structure(fn, kind: str) -> None:
    """The learner's graph equals the reference graph for every hidden case (creation order ignored)."""
    for case in HIDDEN_BLOCKS[kind]:
        _, learner = checks.check_block_structure(fn, case)
        difference = graph.first_difference(reference_block_graph(case), learner)
        if difference:
            raise CheckFailed(f"{kind} block differs from the reference for {case.name}: {difference}")


@functools.lru_cache(maxsize=None)
def reference_block_graph(case: BlockCase) -> graph.Node:
    return checks.build_block(REFERENCE_BLOCKS[case.kind], case)[1]


def block_values(fn, kind: str) -> None:
    """Outputs in both BatchNorm modes match the NumPy reference for every hidden case."""
    for case in HIDDEN_BLOCKS[kind]:
        checks.check_block_values(fn, case, block_outputs(case))


def make_net(fn) -> None:
    """Layout with stand-in blocks for several sizes and the defaults; the whole graph with reference blocks."""
    for case in HIDDEN_NETS:
        checks.assert_make_net_layout(fn, case)
    # Without the other arguments: 64 inputs, 64 units, 6 classes (the notebook's experiments rely on them).
    checks.assert_make_net_layout(fn, NetCase(2, True, input_dim=64, units=64, classes=6, defaults=True))
    for case in HIDDEN_NETS:
        with checks.names_replaced(fn, {"plain_block": reference.keras_plain_block,
                                        "residual_block": reference.keras_residual_block}):
            model = checks.call_make_net(fn, case)
        difference = graph.first_difference(reference_net_graph(case), graph.trace(model.outputs[0]))
        if difference:
            raise CheckFailed(f"{case.describe()} differs from the reference network: {difference}")


@functools.lru_cache(maxsize=None)
def reference_net_graph(case: NetCase) -> graph.Node:
    return graph.trace(reference.keras_make_net(case.depth, case.residual, **case.kwargs()).outputs[0])


@functools.lru_cache(maxsize=None)
def _keras_model(case: GradientCase):
    """The case's network in Keras (built once: every check resets its weights before using it)."""
    ops = list(case.ops)
    if any(op[0] == "residual" for op in ops):
        depth = sum(op[0] == "residual" for op in ops)
        return reference.keras_make_net(depth, True, input_dim=case.input_dim, units=ops[0][1], classes=case.classes)
    return checks.build_ops_model(ops, case.input_dim)


def layer_gradient_norms(fn) -> None:
    """Per-layer gradient norms of plain, residual and BN-free networks against NumPy back-propagation."""
    for case in HIDDEN_GRADIENTS:
        x, y = case.inputs()
        checks.assert_gradient_norms(fn, case, gradient_expectations(list(case.ops), x, y), model=_keras_model(case))


def zero_last_layer(fn) -> None:
    """On the real blocks (reference versions) of other widths: the residual one becomes the identity."""
    for width in (5, 9):
        a = checks.relu_outputs(3, width)
        for kind in ("residual", "plain"):
            checks.assert_zero_last_layer(fn, _one_block(kind, width), kind, a)


@functools.lru_cache(maxsize=None)
def _one_block(kind: str, width: int):
    """A reference block on its own (built once: the check resets its weights before using it)."""
    return checks.one_block(REFERENCE_BLOCKS[kind], width)
