"""How a hidden test hands what it saw to its judge (grader.pipeline.judging, the unit's grading/judge.py).

A hidden test runs inside the student's kernel, where student code can reach anything: so it does not give
the verdict there. It records evidence (the learner's graphs and outputs on the hidden cases) and the
verdict is given where student code cannot reach: by grader.preprocessors.JudgeHiddenTests in the grading
worker, which alone sees the reference. Forging evidence that passes means producing the reference's
graphs and outputs, which is solving the exercise.

Under grader.pipeline.execute the kernel has the evidence folder in $RESNET_COURSE_EVIDENCE; anywhere else (plain
nbgrader, the release proof, tests) there is no such folder and the judge is called at once, in-process.

The files are JSON and .npz (never pickle: the worker reads files that student code could have written).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

ENV = "RESNET_COURSE_EVIDENCE"
MAX_BYTES = 64 * 1024 * 1024  # more than any honest evidence; the worker reads no more


def filename(key: tuple[str, ...]) -> str:
    return "-".join(re.sub(r"[^A-Za-z0-9_]", "_", part) for part in key)


def deliver(key: tuple[str, ...], data: dict, arrays: dict[str, np.ndarray] | None = None) -> None:
    folder = os.environ.get(ENV)
    if not folder:  # no worker will judge afterwards (plain nbgrader): the unit's judge, now, in this process
        from grader import units

        unit, name, *args = key
        units.judges(unit)[name](*args, json.loads(json.dumps(data, default=str)), arrays or {})  # as if read back
        return
    path = Path(folder) / filename(key)
    np.savez(path.with_suffix(".npz"), **(arrays or {}))
    path.with_suffix(".json").write_text(json.dumps(data, default=str))


def read(folder: Path, key: tuple[str, ...]) -> tuple[dict, dict[str, np.ndarray]] | None:
    """The evidence for `key`, or None when the hidden test never delivered it."""
    path = Path(folder) / filename(key)
    text, archive = path.with_suffix(".json"), path.with_suffix(".npz")
    if not text.is_file() or not archive.is_file():
        return None
    if text.stat().st_size > MAX_BYTES or archive.stat().st_size > MAX_BYTES:
        raise ValueError("evidence files are larger than any hidden test writes")
    with np.load(archive, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    return json.loads(text.read_text()), arrays
