"""The "Why residual networks?" assignment: its experiment code, its NumPy reference, its checks against a
corpus of wrong and legitimately different answers, the three claims on a seeded run, every Keras backend,
and the real nbgrader path (release, autograde, leaks).

Expensive things run once, in session fixtures: the mutant corpus (in process), the seeded experiment, and
one scratch course that grades three submissions through nbgrader.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
import textwrap

import nbformat
import numpy as np
import pytest

from grader import course, expectations, units
from grader.mutants import notebook_imports
from resnet_course.initializers import input_values
from tests.corpus.why_residual_mutants import (CELLS, CORRECT_VARIANTS, EXERCISES, MUTANTS, notebook_with, run_variant,
                                               solution_sources, graded_cells)

checks_residual, residual = units.module("why_residual", "checks"), units.module("why_residual", "experiments")
hidden_residual, reference = units.hidden("why_residual"), units.module("why_residual", "grading.reference")
expected_residual = units.module("why_residual", "grading.expected")

ROOT = course.ROOT
ASSIGNMENT = "why_residual"
NOTEBOOK = "Why_Residual_Networks.ipynb"
SOURCE = ROOT / "solutions" / ASSIGNMENT / NOTEBOOK
TWO_WRONG = [next(m for m in MUTANTS if m.name == n) for n in ("residual-skip-missing", "zero-bias-left")]


def solution_namespace() -> dict:
    """The source notebook's imports and solution cells, executed: the functions a correct learner writes."""
    imports, _ = graded_cells()
    namespace: dict = {"__name__": "__main__"}
    with notebook_imports(ASSIGNMENT), contextlib.redirect_stdout(io.StringIO()):
        exec(compile(imports, "<imports>", "exec"), namespace)
    for name, source in solution_sources().items():
        exec(compile(source, f"<{name}>", "exec"), namespace)
    return namespace


@pytest.fixture(scope="session")
def solution():
    return solution_namespace()


# --- the experiment code ---------------------------------------------------------------------------------------


def test_small_images_average_squares_of_gray():
    x = np.zeros((1, 64, 64, 3), np.uint8)
    x[0, :8, :8] = 255  # top-left square white
    x[0, 8:16, :8, 0] = 255  # the square below: only red, a third of white's brightness
    small = residual.small_images(x, 8)
    assert small.shape == (1, 8, 8) and small.dtype == np.float32
    assert small[0, 0, 0] == pytest.approx(1.0)
    assert small[0, 1, 0] == pytest.approx(1 / 3)
    assert small[0].sum() == pytest.approx(4 / 3)
    with pytest.raises(ValueError):
        residual.small_images(x, 7)


def test_features_are_standardised_and_batches_balanced():
    from resnet_course import data

    features = residual.signs_features(data.load_signs())
    assert features.x.shape == (1080, 64) and features.x.dtype == np.float32
    np.testing.assert_allclose(features.x.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(features.x.std(axis=0), 1, atol=1e-3)
    x, y = features.balanced_batch()
    assert x.shape == (120, 64) and np.bincount(y.argmax(axis=1)).tolist() == [20] * 6
    x2, _ = features.balanced_batch()
    np.testing.assert_array_equal(x, x2)


def test_plan_shrinks_to_a_smoke_run_under_nbgrader(monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    assert residual.plan() == residual.Plan(residual.DEPTHS, residual.EPOCHS, None, False)
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    smoke = residual.plan()
    assert max(smoke.depths) <= 2 and smoke.epochs == 1 and smoke.samples <= 120 and smoke.eager


def _runs(plain, res, depths=(1, 24)):
    return [residual.Run(d, r, train_error=[0.9, e]) for d, (p, q) in zip(depths, zip(plain, res))
            for r, e in ((False, p), (True, q))]


def test_findings_and_their_description_follow_the_numbers():
    norms = {(24, False): np.array([5000.0, 1.0]), (24, True): np.array([10.0, 1.0]),
             (1, False): np.array([1.0]), (1, True): np.array([1.0])}
    good = residual.findings(norms, _runs(plain=(0.1, 0.8), res=(0.1, 0.0)))
    assert good.gradient_ratio == 500 and good.gradients_differ and good.plain_degrades and good.residual_does_not_degrade
    text = residual.describe(good)
    assert "500 times larger" in text and "Degradation" in text and "do not degrade" in text
    bad = residual.findings({**norms, (24, False): np.array([20.0, 1.0])}, _runs(plain=(0.5, 0.4), res=(0.1, 0.3)))
    assert not (bad.gradients_differ or bad.plain_degrades or bad.residual_does_not_degrade)
    text = residual.describe(bad)
    assert "No degradation in this run" in text and "unlike in the paper" in text
    vanishing = residual.findings({**norms, (24, False): np.array([1e-4, 1.0])}, _runs((0.1, 0.8), (0.1, 0.0)))
    assert vanishing.gradients_differ and "smaller" in residual.describe(vanishing)


def test_a_zeroed_residual_block_leaves_a_trained_network_unchanged(solution):
    import keras

    features = residual.Features(input_values((30, 10)).astype("float32"), np.arange(30) % 6, 0)
    keras.utils.set_random_seed(0)
    model = reference.keras_make_net(1, True, input_dim=10, units=8)
    with_residual = residual.add_block_before_head(model, reference.keras_residual_block, solution["zero_last_layer"])
    with_plain = residual.add_block_before_head(model, reference.keras_plain_block, solution["zero_last_layer"])
    assert len(with_residual.layers) > len(model.layers)
    same = residual.prediction_change(model, with_residual, features)
    assert same["changed_labels"] == 0 and same["max_probability_change"] < 1e-6
    assert same["error_before"] == same["error_after"]
    lost = residual.prediction_change(model, with_plain, features)
    assert lost["max_probability_change"] > 1e-3
    # The plain block's output is all zeros, so every image gets the same prediction.
    probabilities = keras.ops.convert_to_numpy(with_plain(features.x, training=False))
    np.testing.assert_allclose(probabilities, probabilities[:1].repeat(len(probabilities), axis=0), atol=1e-6)


def test_identity_demo_with_the_solution(solution):
    a = checks_residual.relu_outputs(5, 7)
    out = residual.identity_demo(solution["residual_block"], solution["plain_block"], solution["zero_last_layer"], a)
    np.testing.assert_allclose(out["residual"], a, atol=1e-6)
    np.testing.assert_allclose(out["plain"], 0, atol=1e-6)


# --- the NumPy reference and the stored expectations -----------------------------------------------------------------


@pytest.mark.parametrize("residual_net", [False, True], ids=["plain", "residual"])
def test_reference_gradients_match_finite_differences(residual_net):
    """The hand-written back-propagation agrees with central differences of the reference's own loss."""
    ops = reference.net_ops(2, residual_net, units=4, classes=3)
    x = input_values((6, 5))
    y = np.eye(3)[np.arange(6) % 3]
    params = reference.parameters(ops, 5)
    grads = reference.dense_gradients(ops, x, y, training=True, params=params)

    def loss():
        p = reference.forward(ops, x, training=True, params=params)
        return -(y * np.log(p)).sum(axis=1).mean()

    rng = np.random.default_rng(0)
    for k, (kernel, bias) in enumerate(params["dense"]):
        for array, grad in ((kernel, grads[k][0]), (bias, grads[k][1])):
            for index in map(tuple, rng.integers(0, array.shape, size=(3, array.ndim))):
                saved, h = array[index], 1e-6
                array[index] = saved + h
                up = loss()
                array[index] = saved - h
                down = loss()
                array[index] = saved
                assert grad[index] == pytest.approx((up - down) / (2 * h), rel=1e-4, abs=1e-8), (k, index)


def test_reference_agrees_with_keras_on_its_own_networks():
    """Forward passes of the Keras reference networks with the deterministic weights equal the NumPy ones."""
    import keras

    for residual_net in (False, True):
        model = reference.keras_make_net(2, residual_net, input_dim=5, units=4, classes=3)
        checks_residual.set_deterministic_weights(model)
        x = input_values((6, 5)).astype("float32")
        ops = reference.net_ops(2, residual_net, units=4, classes=3)
        for training in (False, True):
            out = keras.ops.convert_to_numpy(model(x, training=training))
            np.testing.assert_allclose(out, reference.forward(ops, x, training), rtol=1e-4, atol=1e-6)


def test_stored_expectations_match_the_reference(capsys):
    assert expectations.command(expected_residual, check=True) == 0, capsys.readouterr().out


def test_learners_receive_only_the_visible_cases():
    stored = checks_residual.stored_expected()
    assert set(stored) == {"plain_inference", "plain_training", "residual_inference", "residual_training",
                           "gradient_training", "gradient_inference", "gradient_with_bias"}
    assert not set(hidden_residual.HIDDEN_BLOCKS["plain"] + hidden_residual.HIDDEN_BLOCKS["residual"]) & set(
        checks_residual.VISIBLE_BLOCKS.values())
    assert not set(hidden_residual.HIDDEN_NETS) & set(checks_residual.VISIBLE_NETS)
    release = ROOT / "assignments" / ASSIGNMENT
    assert (release / "expected.npz").read_bytes() == checks_residual.EXPECTED_FILE.read_bytes()  # shipped beside it
    assert not (release / "grading").exists()


# --- the checks judge right: mutants and legitimate variants, in process ---------------------------------------------


@pytest.fixture(scope="session")
def outcomes():
    return {v.name: run_variant(v) for v in MUTANTS + CORRECT_VARIANTS} | {"solution": run_variant(None)}


def test_the_solution_passes_every_cell(outcomes):
    assert {k: r["message"] for k, r in outcomes["solution"].items() if not r["passed"]} == {}
    assert set(outcomes["solution"]) == {c for cells in CELLS.values() for c in cells}


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_each_mutant_loses_exactly_its_exercise_and_says_why(outcomes, mutant):
    result = outcomes[mutant.name]
    failed = {k for k, r in result.items() if not r["passed"]}
    assert set(mutant.lost_cells()) <= failed, f"{mutant.name} kept points in {set(mutant.lost_cells()) - failed}"
    assert failed <= set(CELLS[mutant.exercise]), f"{mutant.name} also lost {failed - set(CELLS[mutant.exercise])}"
    message = result[mutant.lost_cells()[0]]["message"]
    assert re.search(mutant.message, message), message


@pytest.mark.parametrize("variant", CORRECT_VARIANTS, ids=lambda v: v.name)
def test_each_correct_variant_keeps_full_marks(outcomes, variant):
    assert {k: r["message"] for k, r in outcomes[variant.name].items() if not r["passed"]} == {}


def test_corpus_covers_every_exercise():
    for exercise in EXERCISES:
        assert sum(m.exercise == exercise for m in MUTANTS) >= 2, exercise


# --- the three claims, on a seeded run of the notebook's experiments ------------------------------------------------


@pytest.fixture(scope="session")
def seeded_run(solution):
    """The notebook's experiments (the shallowest and the deepest nets only) with the solution, seed 0."""
    from resnet_course import data

    features = residual.signs_features(data.load_signs())
    depths = (residual.DEPTHS[0], residual.DEPTHS[-1])
    make_net, norms_fn = solution["make_net"], solution["layer_gradient_norms"]
    norms = residual.gradient_norms_at_init(make_net, norms_fn, features, depths=depths)
    runs, _ = residual.train_depths(make_net, None, features, residual.Plan(depths=depths), verbose=False)
    return residual.findings(norms, runs)


@pytest.mark.slow
def test_claim_1_the_deepest_nets_first_layer_gradients_differ_100_fold(seeded_run):
    assert seeded_run.gradients_differ, seeded_run


@pytest.mark.slow
def test_claim_2_plain_nets_degrade_with_depth_and_residual_nets_do_not(seeded_run):
    assert seeded_run.plain_degrades, seeded_run
    assert seeded_run.residual_does_not_degrade, seeded_run


# --- every Keras backend ---------------------------------------------------------------------------------------


BACKEND_SCRIPT = textwrap.dedent("""
    import contextlib, io, json, sys
    import numpy as np
    sys.path.insert(0, {root!r})
    from tests.corpus.why_residual_mutants import run_variant
    from tests.test_why_residual import solution_namespace
    import keras
    from grader import units
    checks_residual, residual = units.module("why_residual", "checks"), units.module("why_residual", "experiments")
    reference = units.module("why_residual", "grading.reference")
    HIDDEN_GRADIENTS = units.hidden("why_residual").HIDDEN_GRADIENTS
    ns = solution_namespace()
    result = {{"backend": keras.backend.backend()}}
    result["cells"] = {{k: v["message"] for k, v in run_variant(None, hidden=False).items() if not v["passed"]}}
    case = HIDDEN_GRADIENTS[1]
    model = reference.keras_make_net(3, True, input_dim=case.input_dim, units=5, classes=case.classes)
    checks_residual.set_deterministic_weights(model)
    x, y = case.inputs()
    found, want = ns["layer_gradient_norms"](model, x, y), reference.gradient_norms(list(case.ops), x, y)
    result["gradient_error"] = float(np.max(np.abs(found - want) / want))
    features = residual.Features(np.random.default_rng(0).normal(size=(120, 64)).astype("float32"), np.arange(120) % 6, 8)
    plan = residual.Plan(depths=(1, 2), epochs=1, samples=120, eager=True)
    norms = residual.gradient_norms_at_init(ns["make_net"], ns["layer_gradient_norms"], features, depths=plan.depths)
    runs, kept = residual.train_depths(ns["make_net"], ns["layer_gradient_norms"], features, plan, verbose=False)
    result["runs"] = [[r.depth, r.residual, len(r.train_error), len(r.norms_trained)] for r in runs]
    a = checks_residual.relu_outputs(4, 6)
    demo = residual.identity_demo(ns["residual_block"], ns["plain_block"], ns["zero_last_layer"], a)
    result["identity"] = bool(np.allclose(demo["residual"], a, atol=1e-6) and np.allclose(demo["plain"], 0, atol=1e-6))
    deeper = residual.add_block_before_head(kept[(1, True)], ns["residual_block"], ns["zero_last_layer"])
    result["unchanged"] = residual.prediction_change(kept[(1, True)], deeper, features)["max_probability_change"]
    print("RESULT " + json.dumps(result))
""")


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_checks_and_experiments_run_on_backend(backend):
    import importlib.util

    if importlib.util.find_spec(backend) is None:
        if backend == "jax":
            pytest.skip("JAX is not installed (pip install -e '.[jax]')")
        pytest.fail(f"{backend} must be installed for the test suite")
    env = {**os.environ, "KERAS_BACKEND": backend, "MPLBACKEND": "Agg", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([sys.executable, "-c", BACKEND_SCRIPT.format(root=str(ROOT))], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(line[len("RESULT "):])
    assert result["backend"] == backend
    assert result["cells"] == {}, result["cells"]  # every visible check passes on this backend
    assert result["gradient_error"] < 1e-4
    assert result["runs"] == [[1, False, 1, 4], [1, True, 1, 4], [2, False, 1, 6], [2, True, 1, 6]]
    assert result["identity"] and result["unchanged"] < 1e-6


# --- the real nbgrader path -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def graded():
    with course.scratch_course(ASSIGNMENT) as root:
        release = course.generate_release(ASSIGNMENT, root)
        fresh = {p.relative_to(release): p.read_bytes() for p in release.rglob("*") if p.is_file()}
        course.submit(root, ASSIGNMENT, "solution", {NOTEBOOK: root / "solutions" / ASSIGNMENT / NOTEBOOK})
        course.submit(root, ASSIGNMENT, "untouched", {NOTEBOOK: release / NOTEBOOK})
        course.submit(root, ASSIGNMENT, "two_wrong", {NOTEBOOK: notebook_with(TWO_WRONG)})
        scores = {s: course.autograde(ASSIGNMENT, s, root) for s in ("solution", "untouched", "two_wrong")}
        autograded = {s: nbformat.read(root / "autograded" / s / ASSIGNMENT / NOTEBOOK, as_version=4) for s in scores}
        yield {"fresh_release": fresh, "scores": scores, "autograded": autograded}


@pytest.mark.slow
def test_solution_scores_full_marks(graded):
    score = graded["scores"]["solution"]
    assert score.cells == course.cell_points(ASSIGNMENT)
    assert score.score == score.max_score == 30


@pytest.mark.slow
def test_untouched_release_scores_zero(graded):
    score = graded["scores"]["untouched"]
    assert score.score == 0 and set(score.cells) == set(course.cell_points(ASSIGNMENT))


@pytest.mark.slow
def test_two_wrong_exercises_lose_exactly_their_points(graded):
    score, points = graded["scores"]["two_wrong"], course.cell_points(ASSIGNMENT)
    lost = {c for m in TWO_WRONG for c in CELLS[m.exercise]}
    assert score.cells == {cell: 0 if cell in lost else points[cell] for cell in points}
    nb = graded["autograded"]["two_wrong"]
    for mutant in TWO_WRONG:
        cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == mutant.lost_cells()[0])
        error = next(o for o in cell.outputs if o.output_type == "error")
        assert re.search(mutant.message, error["evalue"]), error["evalue"]


@pytest.mark.slow
def test_graded_cells_of_the_solution_write_nothing_to_stderr(graded):
    for cell in graded["autograded"]["solution"].cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            assert not [o for o in cell.outputs if o.get("name") == "stderr" or o.output_type == "error"], cell.source


@pytest.mark.slow
def test_experiments_ran_as_a_smoke_run_under_nbgrader(graded):
    text = "\n".join(o.get("text", "") for c in graded["autograded"]["solution"].cells if c.cell_type == "code"
                     for o in c.get("outputs", []))
    assert "residual, 2 blocks (6 layers): training error" in text and "after 1 epochs" in text
    assert "residual block gives back a[l]: True" in text and "plain block gives zeros:        True" in text
    assert "one more residual block: training error" in text and "0% of the predicted labels changed" in text


SOLUTION_LINES = ["X = layers.Add()([X, shortcut])", "block = residual_block if residual else plain_block",
                  "if w is layer.kernel", "last.beta.assign", "units.hidden", "BEGIN SOLUTION", "BEGIN HIDDEN TESTS"]


def test_release_holds_no_solution_and_no_outputs():
    text = (ROOT / "assignments" / ASSIGNMENT / NOTEBOOK).read_text()
    for line in SOLUTION_LINES:
        assert line not in text, f"{line!r} leaks into the release"
    for path in (SOURCE, ROOT / "assignments" / ASSIGNMENT / NOTEBOOK):
        nb = nbformat.read(path, as_version=4)
        assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code")
    points = course.cell_points(ASSIGNMENT)
    assert sum(points.values()) == 30 and set(points) == {c for cells in CELLS.values() for c in cells}


# --- the sandboxed path of `python -m grader autograde` -----------------------------------------------------------


@pytest.fixture(scope="session")
def sandboxed():
    """The solution, and the solution with its hidden tests silenced from a student cell, graded as
    `python -m grader autograde` grades: a confined kernel, the verdicts given outside it."""
    from grader.pipeline import execute, jobs

    silenced = nbformat.read(SOURCE, as_version=4)
    first = next(c for c in silenced.cells if c.metadata.get("nbgrader", {}).get("grade_id") == EXERCISES[0])
    first.source = ("from grader.kernel import evidence, integrity\nevidence.deliver = integrity.verify = lambda *a, **k: None\n"
                    + first.source)
    template, limits = course.template(ASSIGNMENT), jobs.Limits(cell_timeout=120, submission_timeout=400)
    return {name: execute.grade(jobs.Job(name, {NOTEBOOK: data}), template, limits)
            for name, data in (("solution", SOURCE.read_bytes()), ("silenced", nbformat.writes(silenced).encode()))}


def test_sandboxed_solution_earns_every_point(sandboxed):
    outcome = sandboxed["solution"]
    assert outcome.status == "graded", outcome.message
    assert outcome.scores[NOTEBOOK[:-6]] == course.cell_points(ASSIGNMENT), outcome.messages


def test_silenced_hidden_tests_earn_nothing_however_the_kernel_ran(sandboxed):
    outcome = sandboxed["silenced"]
    assert outcome.status == "graded", outcome.message
    assert not any(outcome.scores[NOTEBOOK[:-6]].values())
    assert all("did not report" in outcome.messages.get(cell, "") for cell in course.cell_points(ASSIGNMENT))
