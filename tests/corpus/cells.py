"""Run the source notebook's graded test cells (hidden tests included) against a variant, in this process.

The fast path for the mutant and variant suites: the same cell sources nbgrader runs, without a kernel
per submission. The nbgrader path itself is proven on a few submissions in test_assignment.py.
"""

from __future__ import annotations

import contextlib
import io
import json

from .mutants import SOURCE, Variant, sources_for


def notebook_cells() -> tuple[str, dict[str, str]]:
    """(the first code cell: imports, {grade_id: test cell source})."""
    nb = json.loads(SOURCE.read_text())
    imports, tests = None, {}
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        meta = cell["metadata"].get("nbgrader", {})
        source = "".join(cell["source"])
        if imports is None and not meta:
            imports = source
        if meta.get("grade"):
            tests[meta["grade_id"]] = source
    return imports, tests


def run_variant(variant: Variant | None) -> dict[str, dict]:
    """{grade_id: {'passed': bool, 'message': str, 'output': str}} for every graded cell."""
    imports, tests = notebook_cells()
    namespace: dict = {"__name__": "__main__"}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(imports, "<imports>", "exec"), namespace)
    sources = sources_for(variant) if variant else sources_for(Variant("solution", "resnet50", ()))
    for exercise in ("identity_block", "convolutional_block", "resnet50"):
        exec(compile(sources[exercise], f"<{exercise}>", "exec"), namespace)
    results = {}
    for grade_id, source in tests.items():
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out):
                exec(compile(source, f"<{grade_id}>", "exec"), namespace)
            results[grade_id] = {"passed": True, "message": "", "output": out.getvalue()}
        except Exception as e:  # a failing check is the expected outcome for mutants
            results[grade_id] = {"passed": False, "message": f"{type(e).__name__}: {e}", "output": out.getvalue()}
    return results
