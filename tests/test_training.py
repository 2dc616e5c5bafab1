"""The training recipe: validates on held-out images, never on the test set, and ends with the best epoch."""

import numpy as np
import pytest

from resnet_course import data, training


def tiny_model():
    import keras

    return keras.Sequential([keras.Input((64, 64, 3)), keras.layers.Conv2D(4, 3, strides=4),
                             keras.layers.BatchNormalization(), keras.layers.ReLU(),
                             keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(6, activation="softmax")])


def random_signs(n: int, seed: int) -> data.Signs:
    """`n` random 64x64 images labelled 0-5 in turn; the first six are also the test split."""
    x = np.random.default_rng(seed).integers(0, 256, (n, 64, 64, 3), dtype=np.uint8)
    y = np.arange(n) % 6
    return data.Signs(x, y, x[:6], y[:6], np.arange(6), "test")


def test_train_validates_on_held_out_images_and_never_reads_the_test_set(monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (60, 64, 64, 3), dtype=np.uint8)
    y = np.arange(60) % 6
    # Test images of another shape: fitting, validating or checkpointing on them would fail.
    signs = data.Signs(x, y, np.zeros((3, 5, 5, 3), np.uint8), np.arange(3), np.arange(6), "test")
    history = training.train(tiny_model(), signs, training.Recipe(epochs=2, batch_size=16), verbose=0)
    assert len(history.history["val_loss"]) == 2 and "val_accuracy" in history.history


def test_train_fits_every_training_image_when_the_source_has_its_own_validation_images(monkeypatch, capsys):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    signs = random_signs(36, seed=2)
    own_val = data.Signs(signs.x_train, signs.y_train, signs.x_test, signs.y_test, signs.classes, "test",
                         signs.x_train[:12], signs.y_train[:12])
    training.train(tiny_model(), own_val, training.Recipe(epochs=1, batch_size=16, precision="float32"), verbose=2)
    assert "Training on 36 images for 1 epoch, validating on 12 after each" in capsys.readouterr().out
    training.train(tiny_model(), signs, training.Recipe(epochs=1, batch_size=16, precision="float32"), verbose=2)
    assert "Training on 30 images for 1 epoch, validating on 6 after each" in capsys.readouterr().out


def test_train_ends_with_batchnorm_averages_measured_on_the_plain_training_images(monkeypatch):
    import keras

    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    signs = random_signs(60, seed=3)
    model = tiny_model()
    training.train(model, signs, training.Recipe(epochs=2, batch_size=16, val_fraction=0.2, precision="float32"),
                   verbose=0)
    trained_on = data.with_validation(signs, 0.2, 0).x_train  # 48 images: one batch of the measuring pass
    bn = model.layers[1]
    numpy = keras.ops.convert_to_numpy
    features = numpy(keras.Model(model.inputs, bn.input)(data.to_inputs(trained_on)))
    assert np.allclose(numpy(bn.moving_mean), features.mean((0, 1, 2)), rtol=1e-4, atol=1e-4)
    assert np.allclose(numpy(bn.moving_variance), features.var((0, 1, 2)), rtol=1e-3, atol=1e-4)
    # Across several batches each average is the mean of the batches' averages, whatever the momentum.
    bn.momentum = 0.9
    training.measure_batchnorm(model, trained_on, batch_size=16)
    assert np.allclose(numpy(bn.moving_mean), features.mean((0, 1, 2)), rtol=1e-4, atol=1e-4)
    assert bn.momentum == 0.9


@pytest.mark.parametrize("keep_best", [True, False], ids=["best-epoch", "last-epoch"])
def test_train_ends_with_the_best_validation_epoch_unless_told_otherwise(monkeypatch, keep_best):
    import keras

    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    signs = random_signs(48, seed=1)
    model = tiny_model()
    snapshots = []

    class Snapshot(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            snapshots.append((logs["val_loss"], [w.copy() for w in self.model.get_weights()]))

    recipe = training.Recipe(epochs=3, batch_size=16, learning_rate=0.05, keep_best=keep_best, measure_batchnorm=False)
    training.train(model, signs, recipe, verbose=0, callbacks=[Snapshot()])
    chosen = min(range(len(snapshots)), key=lambda i: snapshots[i][0]) if keep_best else len(snapshots) - 1
    for got, want in zip(model.get_weights(), snapshots[chosen][1]):
        assert np.array_equal(got, want)


def test_save_model_writes_to_the_cache_folder_and_reloads_the_same_model(monkeypatch, tmp_path):
    import keras

    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.setenv("RESNET_COURSE_CACHE", str(tmp_path / "cache"))
    model = tiny_model()
    path = training.save_model(model, "tiny.keras")
    assert path == tmp_path / "cache" / "tiny.keras" and path.exists()
    x = data.to_inputs(np.random.default_rng(3).integers(0, 256, (4, 64, 64, 3), dtype=np.uint8))
    reloaded = keras.models.load_model(path)
    assert np.allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_nothing_is_saved_while_grading(monkeypatch, tmp_path):
    monkeypatch.setenv("NBGRADER_EXECUTION", "validate")
    monkeypatch.setenv("RESNET_COURSE_CACHE", str(tmp_path / "cache"))
    assert training.save_model(tiny_model()) is None
    assert not (tmp_path / "cache").exists()


def residual_model():
    """Two residual blocks in the course's shape: an identity block (BN -> Add with the input) and a
    convolutional block (BN on both the branch and the shortcut), then a softmax classifier."""
    import keras
    from keras import layers

    x_in = keras.Input((8, 8, 3))
    x = layers.Activation("relu")(layers.BatchNormalization(name="stem_bn")(layers.Conv2D(4, 3, padding="same")(x_in)))
    branch = layers.BatchNormalization(name="identity_branch_bn")(layers.Conv2D(4, 1)(
        layers.Activation("relu")(layers.Conv2D(4, 1)(x))))
    x = layers.Activation("relu")(layers.Add()([x, branch]))
    shortcut = layers.BatchNormalization(name="shortcut_bn")(layers.Conv2D(8, 1)(x))  # built first on purpose
    branch = layers.BatchNormalization(name="conv_branch_bn")(layers.Conv2D(8, 1)(
        layers.Activation("relu")(layers.Conv2D(4, 1)(x))))
    x = layers.Activation("relu")(layers.Add()([shortcut, branch]))
    out = layers.Dense(6, activation="softmax")(layers.Flatten()(layers.GlobalAveragePooling2D()(x)))
    return keras.Model(x_in, out)


def test_start_from_zero_zeroes_the_classifier_and_each_residual_branch_but_not_the_shortcut():
    model = residual_model()
    gamma = {name: np.asarray(model.get_layer(name).gamma) for name in ("stem_bn", "shortcut_bn")}
    assert training.start_from_zero(model) == 2
    for name in ("identity_branch_bn", "conv_branch_bn"):
        assert not np.asarray(model.get_layer(name).gamma).any(), f"{name} should start at zero"
    for name, before in gamma.items():
        assert np.array_equal(np.asarray(model.get_layer(name).gamma), before), f"{name} must be left alone"
    assert all(not np.asarray(w).any() for w in model.layers[-1].weights)
    # Zeroed, the network guesses every class evenly: the loss starts at ln 6, not above it.
    x = np.random.default_rng(0).normal(size=(5, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(model(x)), 1 / 6, rtol=1e-5)


def test_the_learning_rate_warms_up_from_zero_then_decays():
    recipe = training.Recipe(learning_rate=1e-3, warmup=0.1)
    schedule = training.learning_rate_schedule(recipe, steps=100)
    rates = [float(schedule(step)) for step in (0, 5, 10, 55, 100)]
    assert rates[0] == 0 and 0 < rates[1] < rates[2]
    assert rates[2] == pytest.approx(1e-3) and rates[3] < rates[2] and rates[4] == pytest.approx(0, abs=1e-9)
    cold = training.learning_rate_schedule(training.Recipe(learning_rate=1e-3, warmup=0), steps=100)
    assert float(cold(0)) == pytest.approx(1e-3)
    model = training.compile_for_training(tiny_model(), recipe, steps=100)
    assert model.optimizer.clipnorm == recipe.clipnorm


def test_training_again_goes_on_from_the_trained_weights(monkeypatch):
    import keras

    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    signs = random_signs(48, seed=2)
    starts = []

    class AtStart(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            starts.append(np.asarray(self.model.layers[-1].kernel).copy())

    model = tiny_model()
    recipe = training.Recipe(epochs=1, batch_size=16)
    training.train(model, signs, recipe, verbose=0, callbacks=[AtStart()])
    trained = np.asarray(model.layers[-1].kernel).copy()
    training.train(model, signs, recipe, verbose=0, callbacks=[AtStart()])
    assert not starts[0].any(), "a new model's classifier starts at zero"
    assert trained.any() and np.array_equal(starts[1], trained), "a second call must not zero what was learned"


def test_the_training_step_creates_no_variable_so_tensorflow_compiles_it_once(monkeypatch):
    """A variable created while TensorFlow traces the first step (an optimizer slot, a metric counter) makes
    it trace the whole step again: for ResNet50 on a 2-core CPU, 20 s more before the first epoch."""
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("only TensorFlow traces a step again when its first trace made variables")
    import tensorflow as tf

    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    made_while_tracing = []

    def creator(next_creator, **kwargs):
        if tf.inside_function():
            made_while_tracing.append(kwargs.get("name"))
        return next_creator(**kwargs)

    with tf.variable_creator_scope(creator):
        training.train(tiny_model(), random_signs(48, seed=3), training.Recipe(epochs=1, batch_size=16), verbose=0)
    assert made_while_tracing == []


def test_compiling_for_training_builds_the_optimizer_and_changes_no_weight():
    model = tiny_model()
    before = [w.copy() for w in model.get_weights()]
    training.compile_for_training(model, training.Recipe(), steps=10)
    assert model.optimizer.built
    for got, want in zip(model.get_weights(), before):
        assert np.array_equal(got, want)


def test_predictions_read_an_image_and_its_mirror_image_alike():
    import keras

    keras.utils.set_random_seed(5)
    # A model that looks at where things are: it tells an image from its mirror image.
    model = keras.Sequential([keras.Input((64, 64, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(6, activation="softmax")])
    x = random_signs(4, seed=5).x_train
    mirror = x[:, :, ::-1]
    plain = training.predict_probabilities(model, x, mirrored=False)
    assert not np.allclose(plain, training.predict_probabilities(model, mirror, mirrored=False), atol=1e-4)
    both = training.predict_probabilities(model, x)
    np.testing.assert_allclose(both, training.predict_probabilities(model, mirror), atol=1e-6)
    np.testing.assert_allclose(both.sum(axis=1), 1, atol=1e-5)
    assert np.array_equal(training.predict_labels(model, x), both.argmax(axis=1))


def test_mixed_precision_training_computes_in_bfloat16_and_hands_back_a_float32_model(monkeypatch):
    import keras

    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    signs = random_signs(36, seed=3)
    x = signs.x_train
    model = tiny_model()
    seen = []

    class Dtypes(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append((model.layers[0].compute_dtype, model.layers[-1].compute_dtype))

    recipe = training.Recipe(epochs=1, batch_size=12, precision="mixed_bfloat16")
    training.train(model, signs, recipe, verbose=0, callbacks=[Dtypes()])
    # While fitting, the convolution computed in bfloat16 and the softmax classifier in float32.
    assert seen and set(seen) == {("bfloat16", "float32")}
    # Afterwards the model is float32 throughout: its weights, its layers, and what it predicts.
    assert {layer.compute_dtype for layer in model.layers} == {"float32"}
    assert {w.dtype for w in model.weights} == {"float32"}
    out = model.predict(data.to_inputs(x[:4]), verbose=0)
    assert out.dtype == np.float32
    reference = keras.models.clone_model(model)
    reference.set_weights(model.get_weights())
    np.testing.assert_allclose(out, reference.predict(data.to_inputs(x[:4]), verbose=0), atol=1e-6)


def test_auto_precision_is_float32_while_grading_and_without_native_bfloat16(monkeypatch):
    import keras

    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert training.training_precision("auto") == "float32"
    monkeypatch.delenv("NBGRADER_EXECUTION")
    monkeypatch.setattr(training, "cpu_has_bfloat16", lambda: False)
    assert training.training_precision("auto") == "float32"
    assert training.training_precision("mixed_bfloat16") == "mixed_bfloat16"  # asked for explicitly
    if keras.backend.backend() == "tensorflow":
        monkeypatch.setattr(training, "cpu_has_bfloat16", lambda: True)
        import tensorflow as tf

        expected = "float32" if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"
        assert training.training_precision("auto") == expected
