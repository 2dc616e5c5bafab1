"""The toolkit every assignment's visible checks (solutions/<assignment>/checks.py) are built on.

Each unit's checks.py holds only its own cases and diagnoses; what they share lives here.
"""

from __future__ import annotations

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
