"""The toolkit every assignment's visible checks (solutions/<assignment>/checks.py) are built on.

Each unit's checks.py holds only its own cases and diagnoses; what they share lives here.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np

from . import failures, graph, summary

summary.watch()  # in a notebook: note each cell's outcome for the summary at its end


class CheckFailed(AssertionError):
    """A learner-facing failure: the message says what is wrong and how to fix it.

    str() is the whole diagnosis (the grader and nbgrader's feedback read it). A notebook shows the few
    lines of _render_traceback_() instead of a traceback (see failures.py); `shown`, when given, are those
    lines for a message that does not start with its diagnosis."""

    def __init__(self, message: str = "", *, shown: list[str] | None = None):
        super().__init__(message)
        self.shown = shown

    def _render_traceback_(self) -> list[str]:
        return failures.notebook_lines(self, self.shown)


def same_block_graphs(kind: str, what: str, cases: list, expected: list, learner: list) -> None:
    """Raise CheckFailed unless the learner's graph (data) of every case equals the stored reference's."""
    if len(learner) != len(cases):
        raise CheckFailed(f"{what}: the hidden checks saw {len(learner)} of {len(cases)} cases.")
    for case, want, got in zip(cases, expected, learner):
        difference = graph.first_difference(graph.from_data(want), graph.from_data(got))
        if difference:
            raise CheckFailed(f"{kind} block differs from the reference for {case.name}: {difference}")


def stored_arrays(path: Path) -> dict[str, np.ndarray]:
    """The expected arrays a unit's checks carry (its expected.npz, written by the instructors' reference)."""
    with open(path, "rb") as f:
        with np.load(f) as data:
            return dict(data)


def fn_name(fn) -> str:
    return getattr(fn, "__name__", "your function")


def error_line(e: BaseException) -> str:
    """The first line of an error the learner's code raised, or its type where it says nothing."""
    return failures.first_line(e) or type(e).__name__


def reused(store: dict, key, make):
    """make(), or under nbgrader (every cell runs once, in order) what it made for the same key before: the
    visible and hidden checks of one exercise then build each block once. Interactively everything is built
    afresh, so a learner who changes a helper sees the change."""
    if not os.environ.get("NBGRADER_EXECUTION"):
        return make()
    if key not in store:
        store[key] = make()
    return store[key]


def value_problem(output: np.ndarray, expected: dict[str, np.ndarray], mode: str, rtol: float, atol: float,
                  other_mode: str, values: str) -> str | None:
    """What is wrong with `output` against expected[mode], or None when it matches: its shape; the other
    BatchNormalization mode's output (then `other_mode` says what to do); other values (then `values`)."""
    if output.shape != expected[mode].shape:
        return f"Output shape should be {expected[mode].shape}; found {output.shape}."
    if np.allclose(output, expected[mode], rtol=rtol, atol=atol):
        return None
    other = "training" if mode == "inference" else "inference"
    if np.allclose(output, expected[other], rtol=rtol, atol=atol):
        return f"In {mode} mode the block gives the {other}-mode output: {other_mode}"
    err = np.abs(output - expected[mode]).max()
    return (f"The {mode}-mode output differs from the expected values (largest difference {err:.3g}) although the "
            f"structure looks right. {values}")


@contextlib.contextmanager
def names_replaced(fn, replacements: dict):
    """Run `fn` with names of its module (the notebook) bound to other objects, restored afterwards."""
    namespace = fn.__globals__
    saved = {k: namespace[k] for k in replacements if k in namespace}
    namespace.update(replacements)
    try:
        yield
    finally:
        for k in replacements:
            namespace.pop(k, None)
        namespace.update(saved)


def inspected_only(make):
    """make(), with every Keras weight it creates given its shape but no values.

    For models built only to be looked at (their layers, shapes, parameter counts, graph): giving ResNet50's
    23.6 million weights their values costs three times the CPU of building it, in every learner's check and
    every graded submission. The layers keep their initializer settings, so a check that reads them still
    sees the learner's choice. A weight made from an array cannot wait for its values (Keras refuses it):
    make() then runs again, as usual.

    make() must create what it uses afresh (a layer made before and first built inside keeps no values for
    good), and what it returns is only to be looked at: never run, trained, assigned to or saved.
    """
    import keras
    from keras.src.backend.common import global_state  # Keras's list of the weights still without values

    pending = list(global_state.get_global_attribute("uninitialized_variables") or [])
    try:
        with keras.StatelessScope(initialize_variables=False):
            return make()
    except ValueError as e:
        if "stateless scope" not in str(e):
            raise
    finally:
        # Off Keras's list again: it gives every weight on it values when it next leaves an outermost
        # stateless scope (as when it traces a layer that has no compute_output_shape).
        global_state.set_global_attribute("uninitialized_variables", pending)
    return make()


def with_stand_ins(fn, stand_ins: dict, call):
    """call() while the names in `stand_ins` (the learner's blocks) are bound to stand-ins in fn's notebook:
    (its result, None), or (None, the CheckFailed it raised)."""
    with names_replaced(fn, stand_ins):
        try:
            return call(), None
        except CheckFailed as e:
            return None, e


def check_returned_tensor(name: str, out, X, unchanged: str) -> None:
    """Raise CheckFailed unless the learner's block returned a Keras tensor other than its input X; `unchanged`
    says what to build instead."""
    if out is None:
        raise CheckFailed(f"{name} returned None: end the function with `return X`.")
    if not hasattr(out, "_keras_history"):
        raise CheckFailed(f"{name} must return the Keras tensor the block computes; it returned {type(out).__name__}.")
    if out is X:
        raise CheckFailed(f"{name} returned its input unchanged: {unchanged}")
