"""The few backend-specific lines of the course live here, once: which device runs Keras, and gradients."""

from __future__ import annotations

import os

# Keep TensorFlow's C++ start-up logs off stderr (nbgrader zeroes a test cell that writes to stderr).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def describe() -> dict:
    """Backend name, Keras version and the accelerators the backend can use (empty list = CPU only)."""
    import keras

    name = keras.backend.backend()
    gpus: list[str] = []
    if name == "tensorflow":
        import tensorflow as tf

        gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    elif name == "jax":
        import jax

        gpus = [str(d) for d in jax.devices() if d.platform != "cpu"]
    elif name == "torch":
        import torch

        if torch.cuda.is_available():
            gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            gpus = ["Apple MPS"]
    return {"backend": name, "keras": keras.__version__, "accelerators": gpus}


def report() -> str:
    """One line for a notebook to print before training."""
    info = describe()
    where = ", ".join(info["accelerators"]) if info["accelerators"] else "CPU only (no GPU found)"
    return f"Keras {info['keras']} on the {info['backend']} backend; device: {where}"


def gradients(model, loss_fn, x, y, training: bool = True) -> list:
    """d loss / d weight for every trainable weight of `model`, as NumPy arrays, on any backend."""
    import keras
    import numpy as np

    name = keras.backend.backend()
    weights = model.trainable_weights
    if name == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=training))
        grads = tape.gradient(loss, weights)
    elif name == "torch":
        import torch

        model.zero_grad()
        loss = loss_fn(y, model(x, training=training))
        grads = torch.autograd.grad(loss, [w.value for w in weights])
    elif name == "jax":
        import jax

        trainable = [w.value for w in weights]
        non_trainable = [w.value for w in model.non_trainable_weights]

        def compute(trainable):
            out, _ = model.stateless_call(trainable, non_trainable, x, training=training)
            return loss_fn(y, out)

        grads = jax.grad(compute)(trainable)
    else:  # pragma: no cover - keras only ships these three plus numpy, which cannot differentiate
        raise NotImplementedError(f"gradients are not available on the {name!r} backend")
    return [np.asarray(keras.ops.convert_to_numpy(g)) for g in grads]
