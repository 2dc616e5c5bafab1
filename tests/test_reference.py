"""The NumPy reference, the stored expectations and the canonical graph agree with each other and with Keras."""

import keras
import numpy as np
import pytest

from grader import units

from grader.pipeline import judging
from grader.kernel import evidence
from resnet_course import graph
from resnet_course.initializers import ShapeKeyed, input_values, kernel_values, pattern

checks, hidden = units.module("resnet50", "checks"), units.hidden("resnet50")
expected, reference = units.module("resnet50", "grading.expected"), units.module("resnet50", "grading.reference")
judge = units.module("resnet50", "grading.judge")


def test_stored_visible_expectations_equal_the_reference():
    stored = checks.stored_expected()
    fresh = expected.compute()
    assert set(stored) == set(fresh)
    for key in fresh:
        np.testing.assert_allclose(stored[key], fresh[key], rtol=1e-6, atol=1e-7, err_msg=key)


@pytest.mark.parametrize("case", [c for cases in hidden.HIDDEN_CASES.values() for c in cases] +
                         list(checks.VISIBLE_CASES.values()), ids=lambda c: c.name)
def test_reference_keras_blocks_match_the_numpy_reference(case):
    block = reference.KERAS_BLOCKS[case.kind]
    outputs = checks.block_outputs(block, case)
    for mode, value in expected.reference_outputs(case).items():
        np.testing.assert_allclose(outputs[mode], value, rtol=1e-4, atol=1e-4, err_msg=mode)


def test_numpy_conv_matches_a_direct_loop():
    x = input_values((1, 5, 4, 2))
    k = kernel_values((3, 3, 2, 3))
    out = reference.conv2d(x, k, stride=2, padding="same")
    # TensorFlow's 'same' with k=3, s=2: height 5 pads 1 before and 1 after, width 4 pads 0 before and 1 after.
    padded = np.pad(x, ((0, 0), (1, 1), (0, 1), (0, 0)))
    direct = np.zeros((1, 3, 2, 3))
    for i in range(3):
        for j in range(2):
            direct[0, i, j] = np.einsum("abc,abcd->d", padded[0, 2 * i:2 * i + 3, 2 * j:2 * j + 3], k)
    np.testing.assert_allclose(out, direct, rtol=1e-12)


def test_shape_keyed_values_depend_only_on_shape():
    assert np.array_equal(pattern((3, 4)), pattern((3, 4)))
    assert not np.allclose(pattern((3, 4)), pattern((4, 3)).reshape(3, 4))
    a = keras.ops.convert_to_numpy(ShapeKeyed(seed=0)((1, 1, 2, 3)))
    b = keras.ops.convert_to_numpy(ShapeKeyed(seed=99)((1, 1, 2, 3)))
    assert np.array_equal(a, b) and np.allclose(a, kernel_values((1, 1, 2, 3)))
    assert abs(pattern((1000,)).mean()) < 0.1 and abs(np.corrcoef(pattern((1000,))[:-1], pattern((1000,))[1:])[0, 1]) < 0.1


def test_graph_ignores_creation_order_and_api_spelling():
    from keras import layers

    def model(shortcut_first, spelling):
        x = keras.Input((4, 4, 3))
        if shortcut_first:
            s = layers.BatchNormalization()(layers.Conv2D(3, 1)(x))
        m = layers.Conv2D(3, 1, activation="relu")(x)
        if not shortcut_first:
            s = layers.BatchNormalization()(layers.Conv2D(3, 1)(x))
        out = {"layer": lambda: layers.Add()([m, s]), "op": lambda: keras.ops.add(s, m), "plus": lambda: s + m}[spelling]()
        return graph.trace(layers.ReLU()(out))

    keys = {model(first, spelling).key for first in (True, False) for spelling in ("layer", "op", "plus")}
    assert len(keys) == 1


def test_graph_reports_where_models_differ():
    from keras import layers

    x = keras.Input((8, 8, 3))
    a = graph.trace(layers.Dense(6, activation="softmax")(layers.Flatten()(layers.AveragePooling2D(2)(x))))
    b = graph.trace(layers.Dense(6, activation="softmax")(layers.GlobalAveragePooling2D()(x)))
    diff = graph.first_difference(a, b)
    assert "expected flatten()" in diff and "found global_avgpool()" in diff
    assert graph.first_difference(a, a) is None


def test_reference_resnet50_has_the_published_size():
    model = reference.keras_resnet50()
    assert model.count_params() == checks.RESNET50_PARAMS["total"] == 23_600_006
    assert len(model.layers) == 177


def test_stored_hidden_expectations_are_the_reference():
    """expected.json (what the unit's judge compares with) is what the reference builds now."""
    assert expected.GRAPH_TARGET.read_text() == expected.graph_text()
    stored = judge.stored()
    assert len(stored["resnet50_layout"]["calls"]) == 16  # 3 + 4 + 6 + 3 blocks
    stand_in_graph = graph.from_data(stored["resnet50_model"]["graph"])
    # Around stand-in blocks the stored graph still holds the whole stem and head of the reference.
    full = graph.trace(reference.keras_resnet50().outputs[0])
    assert [n.op for n in graph.nodes(stand_in_graph)][:6] == [n.op for n in graph.nodes(full)][:6]
    assert [n.op for n in graph.nodes(stand_in_graph)][-4:] == [n.op for n in graph.nodes(full)][-4:]


def test_graph_data_round_trip_sees_a_one_attribute_change():
    fresh = graph.trace(reference.keras_resnet50().outputs[0])
    data = graph.to_data(fresh)
    assert graph.first_difference(graph.from_data(data), fresh) is None
    first_conv = next(i for i, n in enumerate(data) if n["op"] == "conv")
    data[first_conv] = {**data[first_conv], "attrs": {**data[first_conv]["attrs"], "filters": 7}}
    assert "filters=7" in graph.first_difference(fresh, graph.from_data(data))


@pytest.mark.parametrize("kind", ["identity", "convolutional"])
def test_in_process_hidden_tests_pass_the_reference_and_fail_a_changed_block(kind):
    """Without an evidence folder the hidden tests judge at once (plain nbgrader): same verdicts."""
    hidden.block_structure(reference.KERAS_BLOCKS[kind], kind)
    hidden.block_values(reference.KERAS_BLOCKS[kind], kind, "training")

    def kernel_size_ignored(X, f, filters, **kwargs):
        return reference.KERAS_BLOCKS[kind](X, 3, filters, **kwargs)

    with pytest.raises(checks.CheckFailed, match="Kernel sizes on the main path"):
        hidden.block_structure(kernel_size_ignored, kind)


def test_hidden_calls_are_read_from_the_test_cell_source():
    source = ('checks.check_identity_block(identity_block, part="training")\n'
              'from grader import units\nunits.hidden("resnet50").block_values(identity_block, "identity", "training")\n'
              'units.hidden("resnet50").resnet50_model(ResNet50)\nother.block_values(x, "y", "z")\n')
    assert judging.hidden_calls(source) == [("resnet50", "block_values", "identity", "training"),
                                            ("resnet50", "resnet50_model")]
    assert judging.hidden_calls('from grader import units as u\nu.hidden("why_residual").make_net(f)') == [
        ("why_residual", "make_net")]
    assert judging.hidden_calls('import units\nunits.hidden("resnet50").block_values(f)') == []  # not the grader's
    assert judging.hidden_calls("this is not python (") == []


def test_a_hidden_test_without_a_judge_fails_loudly(tmp_path):
    """Evidence of a hidden test the unit's judge does not know is never passed silently."""
    for key in [("resnet50", "not_a_test"), ("no_such_unit", "x")]:
        stem = tmp_path / evidence.filename(key)
        stem.with_suffix(".json").write_text("{}")
        np.savez(stem.with_suffix(".npz"))
    assert "no judge for the hidden test 'not_a_test'" in judging.verdict(tmp_path, ("resnet50", "not_a_test"))
    assert "no assignment unit 'no_such_unit'" in judging.verdict(tmp_path, ("no_such_unit", "x"))


def test_missing_or_forged_evidence_fails(tmp_path, monkeypatch):
    key = ("resnet50", "block_structure", "identity")
    assert "did not report" in judging.verdict(tmp_path, key)
    monkeypatch.setenv(evidence.ENV, str(tmp_path))
    hidden.block_structure(reference.KERAS_BLOCKS["identity"], "identity")  # delivers, judges nothing
    assert judging.verdict(tmp_path, key) is None
    stem = tmp_path / evidence.filename(key)
    stem.with_suffix(".json").write_text('{"graphs": [[{"op": "input", "attrs": {}, "inputs": [], "shape": null}]]}')
    assert "saw 1 of 3 cases" in judging.verdict(tmp_path, key)
    stem.with_suffix(".json").write_text("not json")
    assert "could not be read" in judging.verdict(tmp_path, key)
    stem.with_suffix(".npz").write_bytes(b"\x80pickle")
    assert "could not be read" in judging.verdict(tmp_path, key)
