"""Independent NumPy reference for the ResNet exercises (instructor side only: never shipped to learners).

It shares nothing with Keras but the conventions (NHWC tensors, kernels shaped (kh, kw, c_in, c_out),
TensorFlow's 'same' padding, BatchNormalization epsilon 1e-3), so expected values computed here cannot
inherit a bug, a version change or a random generator from the framework under test.
"""

from __future__ import annotations

import math

import numpy as np

from resnet_course.initializers import batchnorm_values, kernel_values

BN_EPSILON = 1e-3


def pad_same(x: np.ndarray, k: int, s: int) -> np.ndarray:
    """TensorFlow's 'same': output size ceil(n / s), extra padding at the bottom/right."""
    _, h, w, _ = x.shape
    pads = []
    for n in (h, w):
        total = max((math.ceil(n / s) - 1) * s + k - n, 0)
        pads.append((total // 2, total - total // 2))
    return np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))


def conv2d(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None = None, stride: int = 1,
           padding: str = "valid") -> np.ndarray:
    kh, kw, _, _ = kernel.shape
    if padding == "same":
        x = pad_same(x, kh, stride)
    windows = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::stride, ::stride]
    # windows: (n, h_out, w_out, c_in, kh, kw)
    out = np.einsum("nhwcij,ijcd->nhwd", windows, kernel, optimize=True)
    return out if bias is None else out + bias


def batchnorm(x: np.ndarray, params: dict, training: bool) -> np.ndarray:
    """Over the channels axis; training mode uses the batch's mean and biased variance."""
    if training:
        mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    else:
        mean, var = params["moving_mean"], params["moving_variance"]
    return (x - mean) / np.sqrt(var + BN_EPSILON) * params["gamma"] + params["beta"]


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0)


def conv_bn(x: np.ndarray, filters: int, k: int, stride: int, padding: str, training: bool) -> np.ndarray:
    """A conv with shape-keyed weights and zero bias, then BN with shape-keyed parameters."""
    kernel = kernel_values((k, k, x.shape[-1], filters))
    return batchnorm(conv2d(x, kernel, stride=stride, padding=padding), batchnorm_values(filters), training)


def identity_block(x: np.ndarray, f: int, filters, training: bool = False) -> np.ndarray:
    f1, f2, f3 = filters
    main = relu(conv_bn(x, f1, 1, 1, "valid", training))
    main = relu(conv_bn(main, f2, f, 1, "same", training))
    main = conv_bn(main, f3, 1, 1, "valid", training)
    return relu(main + x)


def convolutional_block(x: np.ndarray, f: int, filters, s: int = 2, training: bool = False) -> np.ndarray:
    f1, f2, f3 = filters
    main = relu(conv_bn(x, f1, 1, s, "valid", training))
    main = relu(conv_bn(main, f2, f, 1, "same", training))
    main = conv_bn(main, f3, 1, 1, "valid", training)
    shortcut = conv_bn(x, f3, 1, s, "valid", training)
    return relu(main + shortcut)


# The course's ResNet50, as data: (conv-block filters, stride, identity blocks after it) per stage.
STAGES = [((64, 64, 256), 1, 2), ((128, 128, 512), 2, 3), ((256, 256, 1024), 2, 5), ((512, 512, 2048), 2, 2)]


# --- The same architecture in Keras, to build expected graphs and to stand in for a learner's blocks ---


def keras_identity_block(X, f, filters, initializer=None):
    from keras import layers

    from resnet_course.initializers import ShapeKeyed

    init = initializer or ShapeKeyed
    f1, f2, f3 = filters
    main = layers.Conv2D(f1, 1, padding="valid", kernel_initializer=init(seed=0))(X)
    main = layers.Activation("relu")(layers.BatchNormalization(axis=3)(main))
    main = layers.Conv2D(f2, f, padding="same", kernel_initializer=init(seed=0))(main)
    main = layers.Activation("relu")(layers.BatchNormalization(axis=3)(main))
    main = layers.Conv2D(f3, 1, padding="valid", kernel_initializer=init(seed=0))(main)
    main = layers.BatchNormalization(axis=3)(main)
    return layers.Activation("relu")(layers.Add()([main, X]))


def keras_convolutional_block(X, f, filters, s=2, initializer=None):
    from keras import layers

    from resnet_course.initializers import ShapeKeyed

    init = initializer or ShapeKeyed
    f1, f2, f3 = filters
    main = layers.Conv2D(f1, 1, strides=s, padding="valid", kernel_initializer=init(seed=0))(X)
    main = layers.Activation("relu")(layers.BatchNormalization(axis=3)(main))
    main = layers.Conv2D(f2, f, padding="same", kernel_initializer=init(seed=0))(main)
    main = layers.Activation("relu")(layers.BatchNormalization(axis=3)(main))
    main = layers.Conv2D(f3, 1, padding="valid", kernel_initializer=init(seed=0))(main)
    main = layers.BatchNormalization(axis=3)(main)
    shortcut = layers.Conv2D(f3, 1, strides=s, padding="valid", kernel_initializer=init(seed=0))(X)
    shortcut = layers.BatchNormalization(axis=3)(shortcut)
    return layers.Activation("relu")(layers.Add()([main, shortcut]))


def keras_resnet50(input_shape=(64, 64, 3), classes=6, identity_block=None, convolutional_block=None):
    """The reference ResNet50 (with other blocks in place of the reference ones when given)."""
    import keras
    from keras import layers

    inputs = keras.Input(input_shape)
    X = layers.ZeroPadding2D((3, 3))(inputs)
    X = layers.Conv2D(64, 7, strides=2)(X)
    X = layers.Activation("relu")(layers.BatchNormalization(axis=3)(X))
    X = layers.MaxPooling2D(3, strides=2)(X)
    for filters, stride, n_identity in STAGES:
        X = (convolutional_block or keras_convolutional_block)(X, 3, filters, s=stride)
        for _ in range(n_identity):
            X = (identity_block or keras_identity_block)(X, 3, filters)
    X = layers.Flatten()(layers.AveragePooling2D(2)(X))
    outputs = layers.Dense(classes, activation="softmax")(X)
    return keras.Model(inputs, outputs)


KERAS_BLOCKS = {"identity": keras_identity_block, "convolutional": keras_convolutional_block}
