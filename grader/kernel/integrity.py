"""Refuse to grade when the notebook has changed the code that grades it.

Student cells run in the same interpreter as the checks, so they can replace a check with a no-op
(`checks.check_block_values = lambda *a, **k: None`) or numpy's comparisons. Every hidden test first calls
`verify()`: each function of the course's checking modules must still be the one compiled from its file, and
numpy's comparison functions must still be numpy's. This stops the patching a student can do in a line or
two, and says so at once. A determined attacker can still defeat anything that runs in the same process:
that is why the verdicts are given outside the kernel (grader.kernel.evidence, grader.pipeline.judging) and the AST scan
(grader.pipeline.scan) flags such code for the instructor's review.
"""

from __future__ import annotations

import hashlib
import importlib
import sys
import types
from functools import lru_cache

from resnet_course.checking import CheckFailed

from grader import units

# The checks' shared machinery and the kernel side of the grader; the notebook's `checks` and every loaded unit
# module (its checks.py and grading/hidden.py, imported through grader.units) are guarded as well, found in
# sys.modules, not listed.
SHARED = ("resnet_course.checking", "resnet_course.graph", "resnet_course.initializers", "grader.units",
          "grader.kernel.evidence", "grader.kernel.integrity")
NUMPY = {"numpy": ("allclose", "isclose", "array_equal", "abs", "max", "asarray", "all", "any"),
         "numpy.testing": ("assert_allclose", "assert_array_equal")}


def _digest(code: types.CodeType) -> str:
    h = hashlib.sha256(code.co_code)
    for const in code.co_consts:
        h.update(_digest(const).encode() if isinstance(const, types.CodeType) else repr(const).encode())
    h.update(repr(code.co_names).encode())
    return h.hexdigest()


@lru_cache(maxsize=None)
def _compiled(path: str) -> dict[str, str]:
    """{function name: digest} of the top-level functions of the module file `path`, compiled afresh."""
    with open(path, encoding="utf-8") as f:
        code = compile(f.read(), path, "exec", dont_inherit=True)
    return {c.co_name: _digest(c) for c in code.co_consts if isinstance(c, types.CodeType)}


def guarded() -> list[str]:
    """SHARED, the notebook's own visible checks (imported from its folder) and the units' loaded checks and
    hidden tests."""
    return [*SHARED, units.CHECKS, *sorted(name for name in list(sys.modules) if units.is_unit_module(name)
                                           and name.rsplit(".", 1)[-1] in (units.CHECKS, "hidden"))]


def problems() -> list[str]:
    found = []
    for name in guarded():
        module = sys.modules.get(name)
        if module is None:
            continue
        if not getattr(module, "__file__", None):  # replaced in sys.modules by a module of the notebook's making
            found.append(f"sys.modules[{name!r}]")
            continue
        for function, digest in _compiled(module.__file__).items():
            live = getattr(module, function, None)
            live = getattr(live, "__wrapped__", live)  # functools.lru_cache and friends
            code = getattr(live, "__code__", None)
            if code is None:
                if live is not None and callable(live) and not isinstance(live, type):
                    found.append(f"{name}.{function}")
            elif code.co_name != function or _digest(code) != digest:
                found.append(f"{name}.{function}")
    for name, functions in NUMPY.items():
        module = importlib.import_module(name)
        for function in functions:
            owner = str(getattr(getattr(module, function, None), "__module__", "") or "")
            if not owner.startswith("numpy"):
                found.append(f"{name}.{function}")
    return found


def verify() -> None:
    changed = problems()
    if changed:
        raise CheckFailed("This notebook replaced code that grades it (" + ", ".join(changed[:5]) + "): "
                          "remove those assignments; nothing can be graded while they are in place.")
