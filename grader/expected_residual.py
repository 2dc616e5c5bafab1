"""Write (or verify) the expected arrays the "Why residual networks?" visible checks carry, from the NumPy
reference.

    python -m grader.expected_residual           # rewrite resnet_course/expected_residual.npz
    python -m grader.expected_residual --check   # exit 1 if the stored arrays drifted from the reference
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from resnet_course import checks_residual as checks
from resnet_course.initializers import input_values

from . import reference_residual as reference
from .expected import drift, write_arrays

BLOCK_OPS = {"plain": reference.plain_block_ops, "residual": reference.residual_block_ops}
TARGET = Path(checks.__file__).with_name(checks.EXPECTED_FILE)


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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    arrays = compute()
    if args.check:
        drifted = drift(checks.stored_expected(), arrays)
        if drifted:
            print(f"stored expectations drifted from the reference: {drifted}")
            return 1
        print("stored expectations match the reference")
        return 0
    write_arrays(TARGET, arrays)
    return 0


if __name__ == "__main__":
    sys.exit(main())
