"""The checks' toolkit (resnet_course.checking): building a model only to look at it."""

import keras
import numpy as np
import pytest

from grader import units
from resnet_course import checking


def small_model(extra_layer=None):
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(8, 3, kernel_initializer="glorot_uniform")(inputs)
    x = keras.layers.BatchNormalization(axis=3)(x)
    if extra_layer is not None:
        x = extra_layer(x)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(6, activation="softmax")(x))


def weights_with_values(model):
    return [w.path for w in model.weights if w._value is not None]  # (Keras's own "not given values yet")


def test_a_model_built_only_to_be_inspected_has_its_shapes_but_no_values():
    inspected = checking.inspected_only(small_model)
    usual = small_model()
    assert inspected.count_params() == usual.count_params() > 0
    assert [tuple(w.shape) for w in inspected.weights] == [tuple(w.shape) for w in usual.weights]
    assert inspected.layers[1].kernel_initializer.__class__.__name__ == "GlorotUniform"  # the learner's choice
    assert weights_with_values(inspected) == []
    assert len(weights_with_values(usual)) == len(usual.weights)


class Traced(keras.layers.Layer):
    """A layer without compute_output_shape: Keras traces its call to find its output (a stateless scope)."""

    def call(self, x):
        return x * 2.0


def test_weights_left_without_values_are_not_given_values_by_the_next_model_built_as_usual():
    inspected = checking.inspected_only(small_model)
    # Keras gives every weight still on its list values when it next leaves a stateless scope, as in tracing
    small_model(Traced())
    assert weights_with_values(inspected) == []


class FromArray(keras.layers.Layer):
    """A layer whose weight is made from an array: Keras cannot make it without its values."""

    def build(self, input_shape):
        self.scale = keras.Variable(np.ones(int(input_shape[-1]), "float32"))

    def call(self, x):
        return x * self.scale


def test_a_model_that_needs_its_values_is_built_again_as_usual():
    tries = []

    def make():
        tries.append("try")
        return small_model(FromArray())

    model = checking.inspected_only(make)
    assert tries == ["try", "try"]
    assert model.count_params() == small_model(FromArray()).count_params()
    assert len(weights_with_values(model)) == len(model.weights)


def test_the_learners_own_error_is_raised_after_one_try():
    tries = []

    def make():
        tries.append("try")
        raise ValueError("filters must be a list of three integers")

    with pytest.raises(ValueError, match="three integers"):
        checking.inspected_only(make)
    assert tries == ["try"]


identity_block = convolutional_block = None  # the learner's blocks: the layout check binds stand-ins here


def resnet_with_a_weight_from_an_array(input_shape=(64, 64, 3), classes=6):
    X_input = keras.Input(input_shape)
    X = convolutional_block(X_input, 3, [4, 4, 8], s=1)
    X = identity_block(X, 3, [4, 4, 8])
    X = FromArray()(X)
    return keras.Model(X_input, keras.layers.Dense(classes)(keras.layers.Flatten()(X)))


def test_the_layout_check_records_each_block_call_once_when_the_model_is_built_twice():
    checks = units.module("resnet50", "checks")
    calls, model, error = checks.record_layout(resnet_with_a_weight_from_an_array)
    assert error is None and model is not None
    assert [call[0] for call in calls] == ["convolutional", "identity"]
