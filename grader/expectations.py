"""Stored expectations: each unit's grading/expected.py computes them from its reference; this writes them, or
says whether the stored ones drifted (`python -m grader expected <unit> [--check]`; the unit conformance test
runs --check for every unit).
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np


def drift(stored: dict[str, np.ndarray], fresh: dict[str, np.ndarray]) -> list[str]:
    """Names of the stored arrays that differ from freshly computed ones (or exist on one side only)."""
    changed = [k for k in fresh if k not in stored or not np.allclose(stored[k], fresh[k], rtol=1e-6, atol=1e-7)]
    return changed or sorted(set(stored) ^ set(fresh))


def write_arrays(target: Path, arrays: dict[str, np.ndarray]) -> None:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    target.write_bytes(buffer.getvalue())
    print(f"wrote {target} ({', '.join(sorted(arrays))})")


def command(argv, doc: str, compute, stored, target: Path, graph_target: Path, graph_text) -> int:
    """`python -m grader expected <unit> [--check]`: write (or compare) the arrays compute() gives with
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
