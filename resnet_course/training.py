"""The course's training recipe, evaluation, saving and prediction, written once for every notebook.

Why this recipe (measured, see the notebook): with Keras's default BatchNormalization momentum (0.99) the
moving averages lag far behind the weights after a few hundred steps, so a model that trains well scores
near chance in inference mode. Momentum 0.9, AdamW with a warmed-up, cosine-decaying learning rate,
clipped gradients, a start from zero (`start_from_zero`) and label smoothing make the result stable from
run to run instead of lucky; random flips, turns, zooms and colour changes of the training images stop
the network from memorising its examples. Validation uses the data set's own validation images, or a
tenth of the training images held out where it has none (the test set is used once, at the end), and
training ends with the weights of the epoch whose validation loss was lowest, its BatchNormalization
statistics then measured once more on the plain training images (`measure_batchnorm`). On a processor with
native bfloat16 arithmetic the layers compute in 16 bits while the weights stay float32
(`training_precision`): the same accuracy, each epoch about a fifth shorter.
"""

from __future__ import annotations

import os
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import backend
from .data import Signs, batches, to_inputs, with_validation


def grading() -> bool:
    """True while nbgrader executes the notebook (autograde or validate): then nothing trains for real."""
    return bool(os.environ.get("NBGRADER_EXECUTION"))


@dataclass
class Recipe:
    # 20 epochs of 31 steps: the rendered hands (varied in pose, tilt and finger spread) take that many to
    # learn; 7 left ResNet50 at 0.6-0.7 training accuracy, 15 at 0.89 (the notebook's table)
    epochs: int = 20
    batch_size: int = 32
    learning_rate: float = 1e-3
    # AdamW takes weight_decay * learning_rate off each weight's size every step: 1e-4 took off almost nothing
    # (at most 1e-7 a step). 0.05 read real photos as well or better on each of three seeds (bench/real_transfer.py)
    weight_decay: float = 0.05
    label_smoothing: float = 0.1
    bn_momentum: float = 0.9
    augment: bool = True  # random flips, turns, zooms, shifts and colour changes (data.augment)
    val_fraction: float = 0.1  # of the training images, held out when the source has no validation split
    keep_best: bool = True  # end with the weights of the epoch with the lowest validation loss
    warmup: float = 0.1  # of the steps, in which the learning rate climbs from 0 (large first steps undo BN)
    clipnorm: float = 1.0  # gradients longer than this are shortened: no single batch throws the weights far
    zero_start: bool = True  # a new model starts its classifier and residual branches at zero (`start_from_zero`)
    # after training, BatchNormalization's averages are measured again on the training images without
    # augmentation (`measure_batchnorm`): eight models of two generator versions read as many real photos or more
    measure_batchnorm: bool = True
    # "auto": layers compute in bfloat16 (weights stay float32) on a processor that does bfloat16 arithmetic
    # natively, where a ResNet50 epoch is about a fifth shorter; float32 elsewhere (`training_precision`)
    precision: str = "auto"
    seed: int = 0


def cpu_has_bfloat16() -> bool:
    """Whether this processor multiplies bfloat16 numbers natively (x86 AVX512-BF16 or AMX; Linux only)."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def training_precision(requested: str = "auto") -> str:
    """The dtype policy to train in: `requested`, or for "auto" mixed bfloat16 where it is measured faster at
    the same accuracy (TensorFlow on a CPU with native bfloat16: a ResNet50 epoch 16 s instead of 20 s on a
    2-core AMD EPYC), float32 everywhere else (on GPUs a 64x64 ResNet50 step is no faster in bfloat16, other
    CPUs would emulate it, and on PyTorch it is faster but its accuracy is not measured)."""
    if requested != "auto":
        return requested
    import keras

    if grading() or keras.backend.backend() != "tensorflow":
        return "float32"
    if backend.describe()["accelerators"] or not cpu_has_bfloat16():
        return "float32"
    return "mixed_bfloat16"


@contextmanager
def computing_in(model, policy: str):
    """Inside the block every layer of `model` computes in `policy` (its weights keep their dtype) except
    the classifier, whose softmax stays float32; afterwards each layer has its own policy back, so the model
    evaluates, saves and predicts in float32, as one trained in float32 would."""
    layers = [layer for layer in _all_layers(model) if layer is not model.layers[-1]]
    before = [layer.dtype_policy for layer in layers]
    try:
        for layer in layers:
            layer.dtype_policy = policy
        yield
    finally:
        for layer, old in zip(layers, before):
            layer.dtype_policy = old
        # Compiled steps were traced in `policy`: drop them (as compile() does) so later calls trace afresh.
        model.train_function = model.test_function = model.predict_function = None


def set_batchnorm_momentum(model, momentum: float) -> int:
    """Set every BatchNormalization's momentum (read at call time, so this works after building)."""
    import keras

    layers = [layer for layer in _all_layers(model) if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in layers:
        layer.momentum = momentum
    return len(layers)


def measure_batchnorm(model, x: np.ndarray, batch_size: int = 64, seed: int = 0) -> int:
    """Set every BatchNormalization's moving mean and variance to their averages over the images `x`, taken
    in shuffled batches (the weights are not changed); returns how many layers were measured.

    During training these averages follow the last few dozen batches of augmented images, seen by weights
    that were still moving. In inference mode the network sees plain images, so measuring the averages on
    plain images with the final weights fits them to what it will be shown ("precise BatchNorm", Wu and
    Johnson, 2021). On the rendered hands it read real photos better on seven of eight models and the
    same on the eighth (about one photo in a hundred; measured with the averages taken over augmented
    images instead, no gain): see the README.
    """
    import keras

    layers = [layer for layer in _all_layers(model) if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.moving_mean.assign(np.zeros(layer.moving_mean.shape, layer.moving_mean.dtype))
        layer.moving_variance.assign(np.ones(layer.moving_variance.shape, layer.moving_variance.dtype))
    # Shuffled: a folder of photos is read class by class, and one class's batches would vary too little.
    order = np.random.default_rng(seed).permutation(len(x))
    try:
        for k, start in enumerate(range(0, len(x), batch_size)):
            for layer in layers:  # momentum k/(k+1): each average becomes the mean over batches 0..k
                layer.momentum = k / (k + 1)
            model(to_inputs(x[order[start : start + batch_size]]), training=True)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    return len(layers)


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)


def start_from_zero(model) -> int:
    """Zero the last layer (the classifier) and the scale (gamma) of the BatchNormalization that ends each
    residual branch; returns how many branches were zeroed.

    A freshly built ResNet50 makes confident, random guesses (a loss near 2.8 where guessing evenly gives
    ln 6 = 1.79): the first epochs go into unlearning them. Zeroed, the network starts by guessing evenly,
    and each residual block starts as the identity (its Add passes the shortcut through), so the signal
    crosses all 50 layers from the first step; the branches grow as they learn (Goyal et al., 2017).
    The branch is the deeper of an Add's two inputs, so this finds them in any functional model.
    """
    import keras

    head = model.layers[-1]
    if isinstance(head, keras.layers.Dense):
        for weight in head.weights:
            weight.assign(np.zeros(weight.shape, weight.dtype))
    depth, zeroed = {}, 0
    for layer in model.layers:  # a functional model lists its layers in the order they are called
        parents = [node.operation for inbound in layer._inbound_nodes for node in inbound.parent_nodes]
        depth[id(layer)] = 1 + max((depth.get(id(p), 0) for p in parents), default=0)
        if isinstance(layer, keras.layers.Add) and parents:
            branch = max(parents, key=lambda p: depth.get(id(p), 0))
            if isinstance(branch, keras.layers.BatchNormalization) and branch.scale:
                branch.gamma.assign(np.zeros(branch.gamma.shape, branch.gamma.dtype))
                zeroed += 1
    return zeroed


def learning_rate_schedule(recipe: Recipe, steps: int):
    """The learning rate at each step: up from 0 over the warm-up steps, then down along a cosine to 0."""
    import keras

    warmup = int(recipe.warmup * steps)
    if not warmup:
        return keras.optimizers.schedules.CosineDecay(recipe.learning_rate, decay_steps=max(1, steps))
    return keras.optimizers.schedules.CosineDecay(0.0, decay_steps=max(1, steps - warmup),
                                                  warmup_target=recipe.learning_rate, warmup_steps=warmup)


def compile_for_training(model, recipe: Recipe, steps: int, run_eagerly: bool = False):
    import keras

    schedule = learning_rate_schedule(recipe, steps)
    # Every variable exists before fit, as in why_residual's experiments: the metric's (a metric object makes
    # them; the string "accuracy" would make them inside the first traced step) and the optimizer's. A variable
    # made while TensorFlow traces the training step makes it trace the whole step again: for ResNet50 on a
    # 2-core CPU, about 20 s more before the first epoch.
    model.compile(
        optimizer=keras.optimizers.AdamW(schedule, weight_decay=recipe.weight_decay, clipnorm=recipe.clipnorm),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
        run_eagerly=run_eagerly,
    )
    model.optimizer.build(model.trainable_variables)
    return model


def train(model, signs: Signs, recipe: Recipe | None = None, verbose: int | str = "auto", callbacks=()):
    """Fit `model` on the training images with the recipe, validating after each epoch; returns the History.

    The validation images are the source's own (the shipped set's val_signs.h5, a photo folder's val_signs/)
    or, where it has none (the original SIGNS files), a held-out tenth of the training images
    (`data.with_validation`); the test set is not looked at. After the last epoch (and the best epoch's
    weights restored) BatchNormalization's averages are measured on the plain training images
    (`measure_batchnorm`). Under nbgrader only one epoch on 64 images runs, eagerly (compiling the training
    step would take longer than the step itself), and nothing is measured: enough for the cells that follow.
    """
    import keras

    recipe = recipe or Recipe()
    signs = with_validation(signs, recipe.val_fraction, recipe.seed)
    x, y = signs.x_train, signs.y_train
    epochs = recipe.epochs
    if grading():
        x, y, epochs, verbose = x[:64], y[:64], 1, 0
    keras.utils.set_random_seed(recipe.seed)
    set_batchnorm_momentum(model, recipe.bn_momentum)
    if recipe.zero_start and not model.compiled:  # a model trained before goes on from where it is
        start_from_zero(model)
    train_data = batches(x, y, recipe.batch_size, shuffle=True, seed=recipe.seed, augmented=recipe.augment)
    compile_for_training(model, recipe, steps=epochs * len(train_data), run_eagerly=grading())
    val_data = batches(signs.x_val, signs.y_val, batch_size=128)
    callbacks = list(callbacks)
    if recipe.keep_best and not grading():
        callbacks.append(keras.callbacks.EarlyStopping("val_loss", patience=epochs, restore_best_weights=True))
    precision = training_precision(recipe.precision)
    if verbose:
        how = f"; computing in {precision} (16-bit arithmetic, float32 weights)." if precision != "float32" else "."
        print(f"Training on {len(x)} images for {epochs} epoch{'s' * (epochs != 1)}, "
              f"validating on {len(signs.x_val)} after each{how}", flush=True)
        callbacks.insert(0, announce_first_step())
    with computing_in(model, precision) if precision != "float32" else nullcontext():
        history = model.fit(train_data, validation_data=val_data, epochs=epochs, verbose=verbose, callbacks=callbacks)
    if recipe.measure_batchnorm and not grading():
        import time

        start = time.monotonic()
        if verbose:  # a pass of 10-20 s on a 2-core CPU with no progress bar of its own
            print(f"Measuring BatchNormalization's averages on the {len(x)} training images, without augmentation ... ",
                  end="", flush=True)
        measure_batchnorm(model, x, seed=recipe.seed)
        if verbose:
            print(f"done in {time.monotonic() - start:.0f} s.", flush=True)
    return history


def announce_first_step():
    """A callback that says what happens before the first epoch's progress bar appears: the training step
    is compiled on the first batch (about half a minute for ResNet50 on a 2-core CPU, longer on a first GPU run)."""
    import time

    import keras

    class _FirstStep(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.start = time.monotonic()
            print("Compiling the training step (the first batch waits for it) ...", flush=True)

        def on_train_batch_end(self, batch, logs=None):
            if self.start is not None:
                print(f"compiled in {time.monotonic() - self.start:.0f} s; training:", flush=True)
                self.start = None

    return _FirstStep()


def predict_probabilities(model, x: np.ndarray, mirrored: bool = True, batch_size: int = 128) -> np.ndarray:
    """The model's probability per label for each image in `x`; with `mirrored`, the mean of its answers for
    the image and for its mirror image.

    A sign means the same in a mirror, and the model was trained on mirrored images too, so its two
    answers are two looks at the same hand: averaged, they read about one real photo in a hundred more
    right (`bench/real_transfer.py`: 7 of 8 models gained, one lost two), for twice the prediction time.
    """
    inputs = to_inputs(x)
    probabilities = np.asarray(model.predict(inputs, batch_size=batch_size, verbose=0))
    if mirrored:
        mirror = np.asarray(model.predict(inputs[:, :, ::-1], batch_size=batch_size, verbose=0))
        probabilities = (probabilities + mirror) / 2
    return probabilities


def predict_labels(model, x: np.ndarray, mirrored: bool = True) -> np.ndarray:
    """The label the model gives each image (`predict_probabilities`' most probable one)."""
    return predict_probabilities(model, x, mirrored).argmax(axis=1)


def accuracy(model, x: np.ndarray, y: np.ndarray, mirrored: bool = True) -> float:
    return float((predict_labels(model, x, mirrored) == np.asarray(y)).mean())


def cache_dir() -> Path:
    """Where trained models are kept: $RESNET_COURSE_CACHE, else ~/.cache/resnet-course (never next to a
    notebook, so a learner who zips the assignment folder does not upload a 280 MB model)."""
    folder = Path(os.environ.get("RESNET_COURSE_CACHE") or Path.home() / ".cache" / "resnet-course")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def save_model(model, name: str = "resnet50_signs.keras") -> Path | None:
    """Save `model` in Keras's native format in `cache_dir()` and return the path; under nbgrader nothing
    is written (validation and grading never save) and None is returned."""
    if grading():
        return None
    path = cache_dir() / name
    model.save(path)
    return path


def predict_photo(model, photo, find_hand: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(the 64x64 image the model sees, its probability per label) for a photo path, bytes, PIL image or array;
    the probabilities are the mean of the model's answers for the image and its mirror image, as for the test set.

    A large photo is searched for the hand and framed like the training images (`photo.prepare_photo`);
    find_hand=False crops the centre square instead. Photos of 128 pixels or less are taken as they are.
    """
    from .photo import prepare_photo

    image = prepare_photo(photo, find=find_hand)
    return image, predict_probabilities(model, image[None])[0]
