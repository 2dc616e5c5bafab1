"""How hard is the hand-sign set? A linear classifier on raw pixels versus a small CNN, plus generation time.

    python bench/data_baselines.py            # prints a table; about 2 minutes on 2 CPU cores
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # real_transfer's small CNN

import resnet_course  # noqa: F401  (quiet TensorFlow first)
import keras

from resnet_course import data, render, training


def linear_classifier(signs: data.Signs) -> float:
    """Multinomial logistic regression on standardised raw pixels (L2-regularised, trained to convergence)."""
    x = data.to_inputs(signs.x_train).reshape(len(signs.x_train), -1)
    xt = data.to_inputs(signs.x_test).reshape(len(signs.x_test), -1)
    mean, std = x.mean(0), x.std(0) + 1e-6
    model = keras.Sequential([keras.Input(x.shape[1:]),
                              keras.layers.Dense(6, activation="softmax", kernel_regularizer=keras.regularizers.l2(1e-3))])
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit((x - mean) / std, signs.y_train, batch_size=64, epochs=100, verbose=0)
    return float(model.evaluate((xt - mean) / std, signs.y_test, verbose=0)[1])


def small_cnn(signs: data.Signs, epochs: int = 15) -> float:
    """The small CNN of bench/real_transfer.py (four conv + BatchNorm + ReLU stages, about 0.1 M parameters)."""
    from real_transfer import small_cnn as build

    model = build()
    training.set_batchnorm_momentum(model, 0.9)  # see training.py: 0.99 lags on small data
    model.compile(keras.optimizers.Adam(3e-3), "categorical_crossentropy", metrics=["accuracy"])
    model.fit(data.batches(signs.x_train, signs.y_train, 32, shuffle=True, augmented=True), epochs=epochs, verbose=0)
    return float(model.evaluate(data.to_inputs(signs.x_test), data.one_hot(signs.y_test), verbose=0)[1])


def main() -> None:
    keras.utils.set_random_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        render.write_signs(tmp, seed=0, progress=False)
        generation = time.perf_counter() - start
    signs = data.load_signs()
    rows = [("generate 1080 + 120 images", f"{generation:.1f} s")]
    start = time.perf_counter()
    rows.append(("linear classifier, test accuracy", f"{linear_classifier(signs):.3f}  ({time.perf_counter() - start:.0f} s)"))
    start = time.perf_counter()
    rows.append(("small CNN (4 conv+BN), test accuracy", f"{small_cnn(signs):.3f}  ({time.perf_counter() - start:.0f} s)"))
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
