"""Running an assignment's notebook code in the test process, as the notebook runs it in its own folder."""

import sys
from contextlib import contextmanager

from grader import units

SIBLINGS = ("checks", "experiments")  # the unit's modules its notebook imports by name (`import checks`)


@contextmanager
def notebook_imports(unit: str):
    """Within: `import checks` (and `import experiments`) give `unit`'s modules, as in the notebook's folder.
    Each unit's are named alike, so they are put in sys.modules for the while only."""
    saved = {}
    for name in SIBLINGS:
        if (units.folder() / unit / f"{name}.py").exists():
            saved[name] = sys.modules.get(name)
            sys.modules[name] = units.module(unit, name)
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
