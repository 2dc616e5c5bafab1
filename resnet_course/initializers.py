"""Weights and inputs that depend only on a shape, never on a random generator.

The checks inject `ShapeKeyed` as the blocks' `initializer`: the same kernel shape gets the same numbers on
every backend, Keras version and machine, so expected outputs can be computed once by an independent NumPy
reference and compared exactly (up to float rounding).
"""

from __future__ import annotations

import math

import numpy as np


def pattern(shape, salt: int = 0) -> np.ndarray:
    """Quasi-random values in [-1, 1] that depend only on `shape` and `salt` (float64)."""
    shape = tuple(int(d) for d in shape)
    key = sum((k + 1) * d for k, d in enumerate(shape)) + 7 * salt
    i = np.arange(math.prod(shape), dtype=np.float64)
    # A classic hash of a sine: neighbouring entries are uncorrelated, and float64 keeps it reproducible.
    u = np.sin(i * 12.9898 + key * 78.233) * 43758.5453
    return (2 * (u - np.floor(u)) - 1).reshape(shape)


def glorot_limit(shape) -> float:
    """The Glorot-uniform bound for a Dense or Conv kernel of this shape (keeps activations near unit scale)."""
    receptive = math.prod(shape[:-2]) if len(shape) > 2 else 1
    fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
    return math.sqrt(6.0 / (fan_in + fan_out))


def kernel_values(shape) -> np.ndarray:
    return pattern(shape) * glorot_limit(shape)


def batchnorm_values(channels: int) -> dict[str, np.ndarray]:
    """gamma, beta, moving mean and variance for a BatchNormalization over `channels` (all non-trivial)."""
    return {
        "gamma": 1 + 0.2 * pattern((channels,), salt=1),
        "beta": 0.2 * pattern((channels,), salt=2),
        "moving_mean": 0.2 * pattern((channels,), salt=3),
        "moving_variance": 1 + 0.5 * np.abs(pattern((channels,), salt=4)),
    }


def input_values(shape) -> np.ndarray:
    """A deterministic input batch with mixed signs, so ReLU placement matters."""
    return 1.5 * pattern(shape, salt=11)


def _shape_keyed():
    import keras

    @keras.saving.register_keras_serializable(package="resnet_course")
    class ShapeKeyed(keras.initializers.Initializer):
        """Drop-in for `keras.initializers.glorot_uniform`: `initializer(seed=0)` works, the seed is ignored."""

        def __init__(self, seed=None):
            self.seed = seed

        def __call__(self, shape, dtype=None):
            return keras.ops.convert_to_tensor(kernel_values(shape), dtype=dtype or "float32")

        def get_config(self):
            return {"seed": self.seed}

    return ShapeKeyed


def __getattr__(name: str):
    # ShapeKeyed is made on first use: the NumPy values above must not cost an import of Keras (the grader
    # judges with them in processes that never build a model).
    if name == "ShapeKeyed":
        globals()["ShapeKeyed"] = _shape_keyed()
        return globals()["ShapeKeyed"]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --- Dense networks (the "Why residual networks?" notebook): each layer's values also depend on its position ---


def dense_weights(n_in: int, n_out: int, index: int) -> tuple[np.ndarray, np.ndarray]:
    """Kernel (n_in, n_out) and bias (n_out,) of the index-th Dense layer from the input (float64).

    The position is part of the key, so two Dense layers of the same shape get different numbers: a learner
    who reuses one layer twice, or applies them in another order, gets different outputs.
    """
    kernel = pattern((n_in, n_out), salt=20 + 3 * index) * glorot_limit((n_in, n_out))
    bias = 0.1 * pattern((n_out,), salt=21 + 3 * index)
    return kernel, bias


def batchnorm_weights(n: int, index: int) -> dict[str, np.ndarray]:
    """gamma, beta, moving mean and variance of the index-th BatchNormalization from the input (float64)."""
    base = 500 + 5 * index
    return {
        "gamma": 1 + 0.2 * pattern((n,), salt=base),
        "beta": 0.2 * pattern((n,), salt=base + 1),
        "moving_mean": 0.2 * pattern((n,), salt=base + 2),
        "moving_variance": 1 + 0.5 * np.abs(pattern((n,), salt=base + 3)),
    }
