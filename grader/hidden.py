"""Hidden tests for the ResNet assignment: called from the `### BEGIN HIDDEN TESTS` sections of the source
notebook, which nbgrader strips from the release. Instructor side only.

They go beyond the visible checks: several shapes, filter sizes and strides; values in both BatchNorm modes
against the NumPy reference (not stored arrays); the whole graph compared with the reference graph in a way
that does not depend on layer creation order; ResNet50 judged with reference blocks substituted, so a
mistake in a block costs that block's points only.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

from resnet_course import checks, graph
from resnet_course.checks import BlockCase, CheckFailed

from . import integrity, reference
from .expected import reference_outputs

REFERENCE_GRAPH = Path(__file__).with_name("resnet50_graph.json")

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
REFERENCE_KERAS = {"identity": reference.keras_identity_block, "convolutional": reference.keras_convolutional_block}


def block_structure(fn, kind: str) -> None:
    """The learner's graph equals the reference graph for every hidden case (creation order ignored)."""
    integrity.verify()
    for case in HIDDEN_CASES[kind]:
        _, learner = checks.check_block_structure(fn, case)
        _, expected = checks.build_block(REFERENCE_KERAS[kind], case)
        difference = graph.first_difference(expected, learner)
        if difference:
            raise CheckFailed(f"{kind} block differs from the reference for {case.name}: {difference}")


def block_values(fn, kind: str, mode: str) -> None:
    """Outputs in `mode` ('inference' or 'training') match the NumPy reference for every hidden case."""
    integrity.verify()
    for case in HIDDEN_CASES[kind]:
        checks.check_block_values(fn, case, mode, reference_outputs(case))


def resnet50_layout(ResNet50) -> None:
    integrity.verify()
    checks.assert_resnet50_layout(ResNet50)
    # `classes` must reach the output layer, not be hard-coded to 6 (stand-in blocks: cheap to build).
    _, model, error = checks.record_layout(ResNet50, classes=10)
    if error:
        raise error
    if tuple(model.outputs[0].shape) != (None, 10):
        raise CheckFailed(f"ResNet50(classes=10) should output (None, 10); found {tuple(model.outputs[0].shape)}: "
                          "use the `classes` argument for the Dense layer's units.")


@functools.lru_cache(maxsize=1)
def reference_resnet50_graph() -> graph.Node:
    """Stored by `python -m grader.expected` (building the reference model costs each kernel seconds)."""
    return graph.from_data(json.loads(REFERENCE_GRAPH.read_text()))


def resnet50_model(ResNet50) -> None:
    """With the reference blocks in place, the learner's ResNet50 is the reference graph, parameter for parameter."""
    integrity.verify()
    with checks.blocks_replaced(ResNet50, reference.keras_identity_block, reference.keras_convolutional_block):
        try:
            model = ResNet50(input_shape=(64, 64, 3), classes=6)
        except NotImplementedError:
            raise CheckFailed("ResNet50 is not implemented yet: replace `raise NotImplementedError()` with your "
                              "code.") from None
    difference = graph.first_difference(reference_resnet50_graph(), graph.trace(model.outputs[0]))
    if difference:
        raise CheckFailed(f"ResNet50 differs from the reference architecture: {difference}")
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    if model.count_params() != checks.RESNET50_PARAMS["total"] or trainable != checks.RESNET50_PARAMS["trainable"]:
        raise CheckFailed(f"ResNet50 has {model.count_params():,} parameters ({trainable:,} trainable); expected "
                          f"{checks.RESNET50_PARAMS['total']:,} ({checks.RESNET50_PARAMS['trainable']:,}).")
