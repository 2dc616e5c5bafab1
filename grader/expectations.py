"""Stored expectations: each unit's grading/expected.py computes them from its reference; this writes them, or
says whether the stored ones drifted (`python -m grader expected <unit> [--check]`; the unit conformance test
runs --check for every unit).
"""

from __future__ import annotations

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


def command(expected, check: bool = False) -> int:
    """Write (or with check=True compare) a unit's stored expectations: `expected` is its grading/expected.py,
    which gives compute() (the arrays its visible checks carry, stored in TARGET) and graph_text() (what its
    judges read, stored in GRAPH_TARGET), both from the reference. 0 when written or unchanged, 1 when drifted."""
    from resnet_course._quiet import quiet_tensorflow_import
    from resnet_course.checking import stored_arrays

    quiet_tensorflow_import()  # the graphs are built with Keras
    arrays, graph_text = expected.compute(), expected.graph_text()
    if check:
        drifted = drift(stored_arrays(expected.TARGET), arrays)
        if drifted:
            print(f"stored expectations drifted from the reference: {drifted}")
            return 1
        if expected.GRAPH_TARGET.read_text() != graph_text:
            print(f"{expected.GRAPH_TARGET.name} drifted from the reference")
            return 1
        print("stored expectations match the reference")
        return 0
    write_arrays(expected.TARGET, arrays)
    expected.GRAPH_TARGET.write_text(graph_text)
    print(f"wrote {expected.GRAPH_TARGET}")
    return 0
