"""A failed visible check reads, in a real kernel, as one short message: the diagnosis on the first line, at
most six lines in all, no traceback through the course package, and still an error (nbgrader gives 0).

One small notebook holds every case, so the kernel and Keras start once.
"""

import contextlib
import io
import re

import nbformat
import pytest
from nbclient import NotebookClient

from resnet_course.checking import CheckFailed
from resnet_course.failures import MAX_LINES
from tests.corpus.mutants import MUTANTS, SOURCE, solution_sources, sources_for
from grader.mutants import notebook_imports

ANSI = re.compile(r"\x1b\[[0-9;]*m")
IMPORTS = """import resnet_course
import keras
from keras import layers
from keras.initializers import glorot_uniform, random_uniform
from grader import units  # each assignment's checks.py, as its own notebook imports it
checks, checks_residual = units.module("resnet50", "checks"), units.module("why_residual", "checks")"""
SOLUTION = solution_sources()
VALID_PADDING = next(m for m in MUTANTS if m.name == "identity-valid-padding-on-fxf")
# Each case: a learner's cell, the check cell, and what the first line must say.
CASES = {
    # A structural mistake found on the graph: no learner error behind it.
    "wrong-structure": (SOLUTION["identity_block"].replace('X = layers.Activation("relu")(X)\n    ### END',
                                                           "### END"),
                        'checks.check_identity_block(identity_block, part="structure")', r"no ReLU after the addition"),
    # Keras raises inside the learner's block (the paths' shapes differ): our diagnosis first, Keras's after.
    "keras-raised": (SOLUTION["identity_block"].replace(*VALID_PADDING.edits[0][:2]),
                     'checks.check_identity_block(identity_block, part="structure")', VALID_PADDING.message),
    # The learner's own code raises an error of its own.
    "learner-raised": ("def ResNet50(input_shape=(64, 64, 3), classes=6):\n    X_input = keras.Input(input_shape)\n"
                       "    X = layers.ZeroPadding2D((3, 3))(X_input)\n    X = undefined_helper(X)\n"
                       "    return keras.Model(X_input, X)",
                       "checks.check_resnet50_layout(ResNet50)", r"^ResNet50 raised NameError: name 'undefined_helper'"),
    # The other notebook's checks: the message's second line is the diagnosis.
    "plain-with-skip": ("def plain_block(X, units):\n    H = layers.Dense(units)(X)\n    return layers.Add()([H, X])",
                        'checks_residual.check_plain_block(plain_block, part="structure")',
                        r"^A plain block has no skip connection"),
}


@pytest.fixture(scope="module")
def executed():
    cells = [nbformat.v4.new_code_cell(IMPORTS)]
    for learner, check, _ in CASES.values():
        cells += [nbformat.v4.new_code_cell(learner), nbformat.v4.new_code_cell(check)]
    nb = nbformat.v4.new_notebook(cells=cells)
    NotebookClient(nb, timeout=300, allow_errors=True, kernel_name="python3").execute()
    errors = {}
    for name, cell in zip(CASES, nb.cells[2::2]):
        outputs = [o for o in cell.outputs if o.output_type == "error"]
        assert len(outputs) == 1, (name, cell.outputs)
        errors[name] = outputs[0]
    return nb, errors


def shown_lines(error) -> list[str]:
    return ANSI.sub("", "\n".join(error.traceback)).splitlines()


@pytest.mark.slow
@pytest.mark.parametrize("name", CASES)
def test_the_diagnosis_is_the_first_of_a_few_lines(executed, name):
    _, errors = executed
    lines = shown_lines(errors[name])
    assert re.search(CASES[name][2], lines[0]), lines
    assert len(lines) <= MAX_LINES, lines
    assert not any("resnet_course" in line or "site-packages" in line or "Traceback" in line for line in lines), lines
    assert errors[name].ename == "CheckFailed"


@pytest.mark.slow
def test_the_learner_error_is_located_in_their_cell_and_summarised_in_one_line(executed):
    _, errors = executed
    lines = shown_lines(errors["keras-raised"])
    assert any(re.match(r"  line \d+ of your cell \[\d+\], in identity_block: X = layers.Add\(\)", line) for line in lines), lines
    assert sum("incompatible shapes" in line.lower() for line in lines) == 1, lines
    lines = shown_lines(errors["learner-raised"])
    assert any(re.match(r"  line 4 of your cell \[\d+\], in ResNet50: X = undefined_helper\(X\)", line) for line in lines), lines


@pytest.mark.slow
def test_the_error_value_keeps_the_whole_diagnosis(executed):
    """The grader and nbgrader's feedback read `ename: evalue`: it keeps every line of the message."""
    _, errors = executed
    assert errors["keras-raised"].evalue.startswith("identity_block(X of shape (3, 4, 4, 6), f=3, filters=[4, 5, 6]):\n  - ")
    assert errors["plain-with-skip"].evalue.splitlines()[1].startswith("A plain block has no skip connection")


# --- every mutant of both notebooks, in this process (what the notebook would show, without a kernel) ------


def visible_failures(imports: str, sources: dict[str, str], tests: dict[str, str],
                     unit: str = "resnet50") -> dict[str, Exception]:
    """{grade id: the exception its visible check raised} for the exercise sources given."""
    namespace: dict = {"__name__": "__main__"}
    with notebook_imports(unit), contextlib.redirect_stdout(io.StringIO()):
        exec(compile(imports, "<imports>", "exec"), namespace)
        for exercise, source in sources.items():
            exec(compile(source, f"<{exercise}>", "exec"), namespace)
        failures = {}
        for grade_id, source in tests.items():
            try:
                exec(compile(source.split("### BEGIN HIDDEN TESTS")[0], f"<{grade_id}>", "exec"), namespace)
            except Exception as e:  # the outcome the mutants are for
                failures[grade_id] = e
    return failures


def assert_shown_briefly(mutant, failures):
    first_cell = mutant.lost_cells()[0]
    error = failures.get(first_cell)
    if error is None:
        return  # the visible check cannot see this mistake; the hidden tests catch it
    assert isinstance(error, CheckFailed), (mutant.name, repr(error))
    assert re.search(mutant.message, str(error)), (mutant.name, str(error))  # the grader's message, unchanged
    lines = error._render_traceback_()
    assert len(lines) <= MAX_LINES and re.search(mutant.message, lines[0]), (mutant.name, lines)


@pytest.mark.slow
def test_every_resnet50_mutant_is_shown_in_a_few_lines_diagnosis_first():
    imports, tests = resnet50_graded_cells()
    for mutant in [m for m in MUTANTS if m.message]:
        first = mutant.lost_cells()[0]
        assert_shown_briefly(mutant, visible_failures(imports, sources_for(mutant), {first: tests[first]}))


@pytest.mark.slow
def test_every_why_residual_mutant_is_shown_in_a_few_lines_diagnosis_first():
    from tests.corpus import why_residual_mutants as why

    imports, tests = why.graded_cells()
    for mutant in [m for m in why.MUTANTS if m.message]:
        first = mutant.lost_cells()[0]
        assert_shown_briefly(mutant, visible_failures(imports, why.sources_for(mutant), {first: tests[first]},
                                                      "why_residual"))


def resnet50_graded_cells() -> tuple[str, dict[str, str]]:
    """(the import cell, {grade id: test cell source}) of the ResNet50 source notebook."""
    nb = nbformat.read(SOURCE, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    tests = {c.metadata["nbgrader"]["grade_id"]: c.source for c in code if c.metadata.get("nbgrader", {}).get("grade")}
    return code[0].source.replace("print(backend.report())", ""), tests


def test_the_model_check_fails_while_resnet50_is_not_written():
    """The whole-model check waits for the learner's blocks, but an unwritten ResNet50 must not pass it."""
    imports, tests = resnet50_graded_cells()
    release = solution_sources(SOURCE.parents[2] / "assignments" / "resnet50" / "Residual_Networks.ipynb")
    failures = visible_failures(imports, release, {"resnet50_model": tests["resnet50_model"]})
    assert "ResNet50 is not implemented yet" in str(failures.get("resnet50_model")), failures
