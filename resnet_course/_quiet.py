"""Import TensorFlow without its start-up chatter, keeping every line that is not known to be benign."""

from __future__ import annotations

import os
import re
import sys
import tempfile

# Informational lines TensorFlow's C++ core writes to stderr on import, before its log level applies.
BENIGN = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\)|I0000 |E0000 .*(cuInit|cuda)|"
    r"To enable the following instructions|.*rebuild TensorFlow with the appropriate compiler flags|\s*$)"
)


DEFER = "RESNET_COURSE_DEFER_TENSORFLOW"  # "1": a process that may never need Keras (the grader's own)


def quiet_tensorflow_import(on_package_import: bool = False) -> None:
    """Import TensorFlow now, quietly (a notebook's stderr costs points under nbgrader). On the package's
    import this is skipped outside Jupyter kernels where $RESNET_COURSE_DEFER_TENSORFLOW is 1: the grader's
    processes judge with this package's NumPy helpers and must not pay seconds for TensorFlow."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if on_package_import and os.environ.get(DEFER) == "1" and "ipykernel" not in sys.modules:
        return
    if "tensorflow" in sys.modules or os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
        return
    try:
        saved = os.dup(2)
    except OSError:  # no usable stderr descriptor (some embedded interpreters): import as usual
        _import_tensorflow()
        return
    with tempfile.TemporaryFile(mode="w+b") as captured:
        sys.stderr.flush()
        os.dup2(captured.fileno(), 2)
        try:
            _import_tensorflow()
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        captured.seek(0)
        kept = [line for line in captured.read().decode(errors="replace").splitlines() if not BENIGN.match(line)]
    if kept:
        print("\n".join(kept), file=sys.stderr)


def _import_tensorflow() -> None:
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        pass  # another backend will be used; keras reports what is missing
