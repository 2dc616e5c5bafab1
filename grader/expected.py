"""Write (or verify) the expected arrays the learners' visible checks carry, from the NumPy reference.

    python -m grader.expected           # rewrite resnet_course/expected_blocks.npz, grader/hidden_expected.json
    python -m grader.expected --check   # exit 1 if either drifted from the reference
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np

from resnet_course import checks
from resnet_course.initializers import input_values

from . import reference

REFERENCE_BLOCKS = {"identity": reference.identity_block, "convolutional": reference.convolutional_block}
TARGET = Path(checks.__file__).with_name(checks.EXPECTED_FILE)
GRAPH_TARGET = Path(__file__).with_name("hidden_expected.json")


def hidden_expectations_text() -> str:
    """What grader.judge compares the hidden tests' evidence with: the reference blocks' graphs on the hidden
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


def drift(stored: dict[str, np.ndarray], fresh: dict[str, np.ndarray]) -> list[str]:
    """Names of the stored arrays that differ from freshly computed ones (or exist on one side only)."""
    changed = [k for k in fresh if k not in stored or not np.allclose(stored[k], fresh[k], rtol=1e-6, atol=1e-7)]
    return changed or sorted(set(stored) ^ set(fresh))


def write_arrays(target: Path, arrays: dict[str, np.ndarray]) -> None:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    target.write_bytes(buffer.getvalue())
    print(f"wrote {target} ({', '.join(sorted(arrays))})")


def compute() -> dict[str, np.ndarray]:
    arrays = {}
    for kind, case in checks.VISIBLE_CASES.items():
        for mode, value in reference_outputs(case).items():
            arrays[f"{kind}_{mode}"] = value
    return arrays


def command(argv, doc: str, compute, stored, target: Path, graph_target: Path, graph_text) -> int:
    """`python -m grader.expected[_residual] [--check]`: write (or compare) the arrays compute() gives with
    `target` (read back by stored()) and graph_text() with `graph_target`."""
    from resnet_course._quiet import quiet_tensorflow_import

    quiet_tensorflow_import()  # this one builds models
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    arrays = compute()
    if args.check:
        drifted = drift(stored(), arrays)
        if drifted:
            print(f"stored expectations drifted from the reference: {drifted}")
            return 1
        if graph_target.read_text() != graph_text():
            print(f"{graph_target.name} drifted from the reference")
            return 1
        print("stored expectations match the reference")
        return 0
    write_arrays(target, arrays)
    graph_target.write_text(graph_text())
    print(f"wrote {graph_target}")
    return 0


def main(argv=None) -> int:
    return command(argv, __doc__, compute, checks.stored_expected, TARGET, GRAPH_TARGET, hidden_expectations_text)


if __name__ == "__main__":
    sys.exit(main())
