"""Hidden tests for the ResNet assignment, the part that runs in the student's kernel: called from the
`### BEGIN HIDDEN TESTS` sections of the source notebook, which nbgrader strips from the release.

They go beyond the visible checks: several shapes, filter sizes and strides; values in both BatchNorm modes;
the block calls of ResNet50 with `classes` other than 6; the whole model around stand-in blocks, so a
mistake in a block costs that block's points only. Each test builds the learner's code on its cases and
delivers what it saw (grader.kernel.evidence); grading/judge.py compares that with the reference, outside the kernel
when graded by our pipeline. Nothing here knows the right answers.
"""

from __future__ import annotations

from resnet_course import graph

from .. import checks
from ..checks import BlockCase

from grader.kernel import evidence, integrity

# Shapes, filter sizes and strides the visible checks never use: a hard-coded visible answer fails here.
HIDDEN_CASES = {
    "identity": [
        BlockCase("identity", (2, 5, 5, 8), 3, (3, 4, 8)),
        BlockCase("identity", (4, 3, 7, 5), 2, (2, 6, 5)),
        BlockCase("identity", (3, 6, 6, 3), 5, (4, 2, 3)),
    ],
    "convolutional": [
        BlockCase("convolutional", (2, 7, 7, 4), 3, (2, 3, 6), s=2),
        BlockCase("convolutional", (3, 6, 5, 3), 2, (4, 4, 5), s=3),
        BlockCase("convolutional", (2, 4, 4, 6), 3, (3, 3, 7), s=1),
    ],
}
LAYOUT_CLASSES = 10  # `classes` must reach the output layer, not be hard-coded to 6
UNIT = __name__.split(".")[-3]  # the unit's folder name: the first part of every evidence key


def block_structure(fn, kind: str) -> None:
    """The learner's graph for every hidden case (judged: equal to the reference's, creation order ignored)."""
    integrity.verify()
    graphs = [graph.to_data(checks.check_block_structure(fn, case)[1]) for case in HIDDEN_CASES[kind]]
    evidence.deliver((UNIT, "block_structure", kind), {"graphs": graphs})


def block_values(fn, kind: str, mode: str) -> None:
    """Outputs in `mode` ('inference' or 'training') for every hidden case (judged against the NumPy reference)."""
    integrity.verify()
    outputs = {}
    for i, case in enumerate(HIDDEN_CASES[kind]):
        model, _ = checks.check_block_structure(fn, case)
        outputs[str(i)] = checks.block_outputs(fn, case, model)[mode]
    evidence.deliver((UNIT, "block_values", kind, mode), {"name": getattr(fn, "__name__", kind + "_block")}, outputs)


def resnet50_layout(ResNet50) -> None:
    """The block calls and output shape of ResNet50(classes=10), with stand-in blocks."""
    integrity.verify()
    checks.assert_resnet50_layout(ResNet50)  # the visible diagnosis, when it already finds something
    calls, model, error = checks.record_layout(ResNet50, classes=LAYOUT_CLASSES)
    if error:
        raise error
    evidence.deliver((UNIT, "resnet50_layout"), {"calls": calls, "output_shape": list(model.outputs[0].shape)})


def resnet50_model(ResNet50) -> None:
    """The whole graph of ResNet50 around stand-in blocks (judged: equal to the reference's)."""
    integrity.verify()
    _, model, error = checks.record_layout(ResNet50)
    if error:
        raise error
    evidence.deliver((UNIT, "resnet50_model"), {"graph": graph.to_data(graph.trace(model.outputs[0]))})
