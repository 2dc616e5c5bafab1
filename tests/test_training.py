"""The training recipe: validates on held-out images, never on the test set, and ends with the best epoch."""

import numpy as np
import pytest

from resnet_course import data, training


def tiny_model():
    import keras

    return keras.Sequential([keras.Input((64, 64, 3)), keras.layers.Conv2D(4, 3, strides=4),
                             keras.layers.BatchNormalization(), keras.layers.ReLU(),
                             keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(6, activation="softmax")])


def test_train_validates_on_held_out_images_and_never_reads_the_test_set(monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (60, 64, 64, 3), dtype=np.uint8)
    y = np.arange(60) % 6
    # Test images of another shape: fitting, validating or checkpointing on them would fail.
    signs = data.Signs(x, y, np.zeros((3, 5, 5, 3), np.uint8), np.arange(3), np.arange(6), "test")
    history = training.train(tiny_model(), signs, training.Recipe(epochs=2, batch_size=16), verbose=0)
    assert len(history.history["val_loss"]) == 2 and "val_accuracy" in history.history


@pytest.mark.parametrize("keep_best", [True, False], ids=["best-epoch", "last-epoch"])
def test_train_ends_with_the_best_validation_epoch_unless_told_otherwise(monkeypatch, keep_best):
    import keras

    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (48, 64, 64, 3), dtype=np.uint8)
    y = np.arange(48) % 6
    signs = data.Signs(x, y, x[:6], y[:6], np.arange(6), "test")
    model = tiny_model()
    snapshots = []

    class Snapshot(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            snapshots.append((logs["val_loss"], [w.copy() for w in self.model.get_weights()]))

    recipe = training.Recipe(epochs=3, batch_size=16, learning_rate=0.05, keep_best=keep_best)
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
