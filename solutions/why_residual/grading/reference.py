"""NumPy reference for the "Why residual networks?" assignment: dense plain and residual blocks, the deep
network builder, and per-layer gradient norms by explicit back-propagation. Instructor side only.

A network is a list of ops, applied in order to a (batch, features) array:

    ("dense", units, activation)   activation None or "softmax"
    ("bn",)                        BatchNormalization over the features (epsilon 1e-3, Keras's default)
    ("relu",)
    ("residual", [ops])            x + ops(x): the skip connection around a main path

Parameters are the shape-keyed values of `resnet_course.initializers` (`dense_weights`, `batchnorm_weights`),
numbered in the order the Dense and BatchNormalization layers are met from input to output, which is the
order of a Keras functional model's `layers`. Nothing here comes from a framework or its random generator.
"""

from __future__ import annotations

import numpy as np

from resnet_course.initializers import batchnorm_weights, dense_weights

# The architectures, as ops, are shared with the hidden tests, which build the same networks in the kernel
# (where this module is out of reach).
from .hidden import BLOCK_OPS, net_ops, plain_block_ops, residual_block_ops  # noqa: F401

BN_EPSILON = 1e-3

# --- parameters ------------------------------------------------------------------------------------------------


def parameters(ops: list, input_dim: int) -> dict:
    """{'dense': [(kernel, bias), ...], 'bn': [params, ...]} in input-to-output order."""
    params = {"dense": [], "bn": []}

    def walk(ops, width):
        for op in ops:
            if op[0] == "dense":
                params["dense"].append(dense_weights(width, op[1], len(params["dense"])))
                width = op[1]
            elif op[0] == "bn":
                params["bn"].append(batchnorm_weights(width, len(params["bn"])))
            elif op[0] == "residual":
                walk(op[1], width)
        return width

    walk(ops, input_dim)
    return params


# --- forward and backward ----------------------------------------------------------------------------------------


def _forward(ops, x, params, counters, training, tape):
    for op in ops:
        kind = op[0]
        if kind == "dense":
            k = counters["dense"]
            counters["dense"] += 1
            kernel, bias = params["dense"][k]
            out = x @ kernel + bias
            if op[2] == "softmax":
                z = out - out.max(axis=1, keepdims=True)
                out = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
            tape.append(("dense", k, x, op[2], out))
            x = out
        elif kind == "bn":
            k = counters["bn"]
            counters["bn"] += 1
            p = params["bn"][k]
            if training:
                mean, var = x.mean(axis=0), x.var(axis=0)
            else:
                mean, var = p["moving_mean"], p["moving_variance"]
            scale = 1 / np.sqrt(var + BN_EPSILON)
            xhat = (x - mean) * scale
            tape.append(("bn", k, xhat, scale, training))
            x = xhat * p["gamma"] + p["beta"]
        elif kind == "relu":
            tape.append(("relu", x > 0))
            x = np.maximum(x, 0)
        elif kind == "residual":
            inner: list = []
            x = x + _forward(op[1], x, params, counters, training, inner)
            tape.append(("residual", inner))
        else:
            raise ValueError(f"unknown op {op!r}")
    return x


def forward(ops: list, x: np.ndarray, training: bool = False, params: dict | None = None) -> np.ndarray:
    """The network's output for the input batch x (float64)."""
    x = np.asarray(x, np.float64)
    params = params or parameters(ops, x.shape[1])
    return _forward(ops, x, params, {"dense": 0, "bn": 0}, training, [])


def _backward(tape, grad, params, kernel_grads):
    for entry in reversed(tape):
        kind = entry[0]
        if kind == "dense":
            _, k, x_in, activation, out = entry
            if activation == "softmax":  # grad arrives w.r.t. the probabilities; go back through softmax
                grad = out * (grad - (grad * out).sum(axis=1, keepdims=True))
            kernel_grads[k] = (x_in.T @ grad, grad.sum(axis=0))
            grad = grad @ params["dense"][k][0].T
        elif kind == "bn":
            _, k, xhat, scale, training = entry
            dxhat = grad * params["bn"][k]["gamma"]
            if training:
                n = len(xhat)
                grad = scale / n * (n * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0))
            else:
                grad = dxhat * scale
        elif kind == "relu":
            grad = grad * entry[1]
        elif kind == "residual":
            grad = grad + _backward(entry[1], grad, params, kernel_grads)
    return grad


def dense_gradients(ops: list, x: np.ndarray, y: np.ndarray, training: bool = True,
                    params: dict | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(d loss / d kernel, d loss / d bias) of every Dense layer, input to output, where the loss is the mean
    categorical cross-entropy of the network's softmax output against the one-hot labels y."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    params = params or parameters(ops, x.shape[1])
    tape: list = []
    probabilities = _forward(ops, x, params, {"dense": 0, "bn": 0}, training, tape)
    grads: dict[int, tuple] = {}
    _backward(tape, -y / probabilities / len(x), params, grads)
    return [grads[k] for k in range(len(params["dense"]))]


def gradient_norms(ops: list, x: np.ndarray, y: np.ndarray, training: bool = True, with_bias: bool = False) -> np.ndarray:
    """The L2 norm of each Dense kernel's gradient (with its bias's, if asked), input to output."""
    return np.array([np.sqrt((k**2).sum() + (b**2).sum() * with_bias) for k, b in dense_gradients(ops, x, y, training)])


def loss(ops: list, x: np.ndarray, y: np.ndarray, training: bool = True) -> float:
    p = forward(ops, x, training)
    return float(-(np.asarray(y) * np.log(p)).sum(axis=1).mean())


# --- the same architectures in Keras: expected graphs, and stand-ins for a learner's blocks --------------------


def keras_plain_block(X, units):
    from keras import layers

    X = layers.Dense(units)(X)
    X = layers.BatchNormalization()(X)
    X = layers.Activation("relu")(X)
    X = layers.Dense(units)(X)
    X = layers.BatchNormalization()(X)
    return layers.Activation("relu")(X)


def keras_residual_block(X, units):
    from keras import layers

    shortcut = X
    X = layers.Dense(units)(X)
    X = layers.BatchNormalization()(X)
    X = layers.Activation("relu")(X)
    X = layers.Dense(units)(X)
    X = layers.BatchNormalization()(X)
    X = layers.Add()([X, shortcut])
    return layers.Activation("relu")(X)


def keras_make_net(depth, residual, input_dim=64, units=64, classes=6, plain_block=None, residual_block=None):
    """The reference make_net (with other blocks in place of the reference ones when given)."""
    import keras
    from keras import layers

    inputs = keras.Input((input_dim,))
    X = layers.Dense(units)(inputs)
    X = layers.BatchNormalization()(X)
    X = layers.Activation("relu")(X)
    for _ in range(depth):
        block = (residual_block or keras_residual_block) if residual else (plain_block or keras_plain_block)
        X = block(X, units)
    outputs = layers.Dense(classes, activation="softmax")(X)
    return keras.Model(inputs, outputs)
