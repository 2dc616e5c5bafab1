"""The experiments of the "Why residual networks?" notebook, written once and tested.

The notebook's exercises (plain and residual blocks, make_net, layer_gradient_norms, zero_last_layer) are
passed in as functions, so the same experiments run on the learner's code and, in the tests, on reference
code. Everything here is backend-agnostic: the backend-specific gradient lines live in resnet_course/backend.py.

Why these settings (measured on a 2-core CPU, see bench/why_residual.py): dense networks on 8x8 grayscale
versions of the hand signs train in seconds. With 64 units per layer and Adam (learning rate 1e-3) a deep
residual network fits the training set within 12 epochs; with SGD or narrower layers it stayed behind the
shallow ones. Depths of 1, 3, 8 and 24 blocks (4 to 50 Dense layers) span plain networks that train well and
ones that do not train at all; 24 blocks is about the shallowest depth at which the first-layer gradients of
the plain and the residual network differ more than 100-fold at initialisation. Preparing (tracing) the
training step of a deep network costs more than its 12 epochs, so: batches of 60 divide the 1080 images (one
traced step per network, no second one for a smaller last batch), and the metric's and the optimizer's
variables exist before `fit` (a variable created while TensorFlow traces makes it trace everything twice).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from resnet_course.data import NUM_CLASSES, Signs, one_hot
from resnet_course.training import grading

INPUT_SIZE = 8  # images are reduced to INPUT_SIZE x INPUT_SIZE grayscale: INPUT_SIZE**2 inputs
UNITS = 64
DEPTHS = (1, 3, 8, 24)  # blocks; a network has 2 * depth + 2 Dense layers
EPOCHS = 12
BATCH_SIZE = 60  # divides 1080: one compiled training step per network
LEARNING_RATE = 1e-3
BN_MOMENTUM = 0.9  # moving statistics that keep up with 216 steps (see training.py)
GRADIENT_BATCH = 120  # images per gradient measurement (20 per class)
SEED = 0


def weight_layers(depth: int) -> int:
    """Dense layers in make_net(depth, ...): the stem, two per block, the head."""
    return 2 * depth + 2


# --- data -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Features:
    """Flattened, standardised small grayscale images and their labels."""

    x: np.ndarray  # float32 (m, INPUT_SIZE**2)
    labels: np.ndarray  # int64 (m,)
    size: int

    @property
    def y(self) -> np.ndarray:
        return one_hot(self.labels)

    def __len__(self) -> int:
        return len(self.x)

    def balanced_batch(self, n: int = GRADIENT_BATCH, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
        """n images, as many of each label as possible, chosen by a NumPy generator (the same on every backend)."""
        rng = np.random.default_rng(seed)
        per_class = max(1, n // NUM_CLASSES)
        idx = np.concatenate([rng.permutation(np.flatnonzero(self.labels == c))[:per_class] for c in range(NUM_CLASSES)])
        idx = np.sort(idx[:n])
        return self.x[idx], one_hot(self.labels[idx])


def small_images(x: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """uint8 (m, 64, 64, 3) -> float32 (m, size, size) grayscale in [0, 1], each pixel the mean of a square."""
    m, h, w, _ = x.shape
    if h % size or w % size:
        raise ValueError(f"size must divide the image size {h}x{w}; got {size}")
    gray = np.asarray(x, np.float32).mean(axis=-1) / 255.0
    return gray.reshape(m, size, h // size, size, w // size).mean(axis=(2, 4))


def signs_features(signs: Signs, size: int = INPUT_SIZE) -> Features:
    """The training images as the experiments' inputs: size x size grayscale, each pixel standardised."""
    x = small_images(signs.x_train, size).reshape(len(signs.x_train), -1)
    x = (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-6)
    return Features(x.astype(np.float32), np.asarray(signs.y_train, np.int64), size)


# --- the plan: full size, or a smoke run while nbgrader grades ----------------------------------------------------


@dataclass(frozen=True)
class Plan:
    depths: tuple = DEPTHS
    epochs: int = EPOCHS
    samples: int | None = None  # None: all training images
    eager: bool = False

    def apply(self, features: Features) -> Features:
        if self.samples is None or self.samples >= len(features):
            return features
        idx = np.sort(np.random.default_rng(SEED).permutation(len(features))[: self.samples])
        return Features(features.x[idx], features.labels[idx], features.size)


def plan() -> Plan:
    """The experiments' size: under nbgrader a smoke run (two shallow depths, one epoch, 120 images)."""
    if grading():
        return Plan(depths=(1, 2), epochs=1, samples=120, eager=True)
    return Plan()


# --- claim 1: gradients at initialisation ------------------------------------------------------------------------


def build(make_net, depth: int, residual: bool, input_dim: int, seed: int = SEED):
    """make_net(depth, residual) with every random initial weight fixed by `seed`."""
    import keras

    keras.utils.set_random_seed(seed)
    return make_net(depth, residual, input_dim=input_dim, units=UNITS, classes=NUM_CLASSES)


def gradient_norms_at_init(make_net, layer_gradient_norms, features: Features, depths=None, seed: int = SEED) -> dict:
    """{(depth, residual): per-Dense-layer gradient norms} of freshly initialised networks, on one batch."""
    depths = plan().depths if depths is None else depths
    x, y = features.balanced_batch(seed=seed)
    norms = {}
    for depth in depths:
        for residual in (False, True):
            model = build(make_net, depth, residual, features.x.shape[1], seed)
            norms[(depth, residual)] = np.asarray(layer_gradient_norms(model, x, y), dtype=np.float64)
    return norms


def early_layer_ratio(norms: dict, depth: int) -> float:
    """How many times larger (or smaller) the plain net's first-layer gradient is than the residual net's."""
    return float(norms[(depth, False)][0] / norms[(depth, True)][0])


# --- claim 2: training error against depth -----------------------------------------------------------------------


@dataclass
class Run:
    depth: int
    residual: bool
    train_error: list = field(default_factory=list)  # per epoch: 1 - accuracy on the batches of that epoch
    norms_trained: np.ndarray | None = None  # per Dense layer, after training
    seconds: float = 0.0

    @property
    def final_error(self) -> float:
        return float(self.train_error[-1])

    @property
    def label(self) -> str:
        return f"{'residual' if self.residual else 'plain'}, {self.depth} blocks ({weight_layers(self.depth)} layers)"


def train_one(make_net, layer_gradient_norms, depth: int, residual: bool, features: Features, epochs: int,
              seed: int = SEED, eager: bool = False, verbose: int = 0) -> tuple[object, Run]:
    """Build, train with Adam, measure every layer's gradient (if `layer_gradient_norms` is given): (model, Run).

    The network starts from the same weights as in gradient_norms_at_init (same seed).
    """
    import keras

    from resnet_course.training import set_batchnorm_momentum

    start = time.perf_counter()
    model = build(make_net, depth, residual, features.x.shape[1], seed)
    run = Run(depth, residual)
    set_batchnorm_momentum(model, BN_MOMENTUM)
    keras.utils.set_random_seed(seed)  # the same shuffling for every network
    # Every variable exists before fit: the metric's (a metric object creates them, the string "accuracy" would
    # create them inside the first traced step) and the optimizer's. A variable created while TensorFlow traces
    # the training step makes it trace the whole step a second time, which doubles the cost of preparing it.
    model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), loss="categorical_crossentropy",
                  metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")], run_eagerly=eager)
    model.optimizer.build(model.trainable_variables)
    history = model.fit(features.x, features.y, batch_size=BATCH_SIZE, epochs=epochs, shuffle=True, verbose=verbose)
    run.train_error = [1.0 - float(a) for a in history.history["accuracy"]]
    if layer_gradient_norms is not None:
        x_grad, y_grad = features.balanced_batch(seed=seed)
        run.norms_trained = np.asarray(layer_gradient_norms(model, x_grad, y_grad), np.float64)
    run.seconds = time.perf_counter() - start
    return model, run


def train_depths(make_net, layer_gradient_norms, features: Features, run_plan: Plan | None = None, seed: int = SEED,
                 keep=None, verbose: bool = True) -> tuple[list, dict]:
    """Train plain and residual networks of every depth of the plan: (runs, {(depth, residual): trained model})
    for the (depth, residual) pairs in `keep` (default: the shallowest residual network).

    Prints one line per network as it finishes, so a long run shows progress.
    """
    run_plan = run_plan or plan()
    features = run_plan.apply(features)
    keep = {(run_plan.depths[0], True)} if keep is None else set(keep)
    runs, kept = [], {}
    for depth in run_plan.depths:
        for residual in (False, True):
            model, run = train_one(make_net, layer_gradient_norms, depth, residual, features, run_plan.epochs, seed,
                                   eager=run_plan.eager)
            runs.append(run)
            if (depth, residual) in keep:
                kept[(depth, residual)] = model
            if verbose:
                print(f"{run.label:>36}: training error {run.final_error:.3f} after {len(run.train_error)} epochs "
                      f"({run.seconds:.0f} s)", flush=True)
    return runs, kept


def find(runs: list, depth: int, residual: bool) -> Run:
    return next(r for r in runs if r.depth == depth and r.residual == residual)


@dataclass(frozen=True)
class Findings:
    """The three figures the notebook's story rests on, read from one run."""

    depths: tuple
    gradient_ratio: float  # first-layer gradient, plain / residual, deepest nets, at initialisation
    plain_errors: tuple  # final training error per depth
    residual_errors: tuple

    @property
    def gradients_differ(self) -> bool:
        return self.gradient_ratio >= 100 or self.gradient_ratio <= 1 / 100

    @property
    def plain_degrades(self) -> bool:
        return self.plain_errors[-1] > self.plain_errors[0]

    @property
    def residual_does_not_degrade(self) -> bool:
        return self.residual_errors[-1] <= self.residual_errors[0]


def findings(norms_init: dict, runs: list) -> Findings:
    depths = tuple(sorted({r.depth for r in runs}))
    return Findings(depths, early_layer_ratio(norms_init, depths[-1]),
                    tuple(find(runs, d, False).final_error for d in depths),
                    tuple(find(runs, d, True).final_error for d in depths))


def describe(f: Findings) -> str:
    """What this run shows, in sentences computed from its numbers (so they stay true on any run)."""
    deep, shallow = f.depths[-1], f.depths[0]
    ratio = f.gradient_ratio
    direction = "larger" if ratio >= 1 else "smaller"
    factor = ratio if ratio >= 1 else 1 / ratio
    lines = [f"At initialisation the first layer of the {deep}-block plain net gets a gradient {factor:.3g} times "
             f"{direction} than the same layer of the {deep}-block residual net."]
    pe, rs = f.plain_errors, f.residual_errors
    if f.plain_degrades:
        lines.append(f"Degradation: the {deep}-block plain net ends with training error {pe[-1]:.3f}, higher than the "
                     f"{shallow}-block plain net's {pe[0]:.3f}, although it could represent everything the shallow one does.")
    else:
        lines.append(f"No degradation in this run: the {deep}-block plain net's training error {pe[-1]:.3f} is not higher "
                     f"than the {shallow}-block plain net's {pe[0]:.3f}.")
    if f.residual_does_not_degrade:
        lines.append(f"The residual nets do not degrade: {deep} blocks end at {rs[-1]:.3f}, {shallow} block(s) at "
                     f"{rs[0]:.3f}.")
    else:
        lines.append(f"In this run the deepest residual net ends higher ({rs[-1]:.3f}) than the shallowest ({rs[0]:.3f}): "
                     "unlike in the paper, depth did not pay off within this many epochs.")
    return "\n".join(lines)


# --- claim 3: a residual block can be the identity --------------------------------------------------------------


def one_block_model(block, width: int):
    """keras.Model(a -> block(a, width)): a single block, to look at on its own."""
    import keras

    inputs = keras.Input((width,))
    return keras.Model(inputs, block(inputs, width))


def identity_demo(residual_block, plain_block, zero_last_layer, a: np.ndarray) -> dict[str, np.ndarray]:
    """Each block with its last layer zeroed by `zero_last_layer`, applied to a: {'residual': ..., 'plain': ...}."""
    import keras

    a = np.asarray(a, np.float32)
    outputs = {}
    for name, block in (("residual", residual_block), ("plain", plain_block)):
        keras.utils.set_random_seed(SEED)
        model = one_block_model(block, a.shape[1])
        zero_last_layer(model)
        outputs[name] = keras.ops.convert_to_numpy(model(a, training=False))
    return outputs


def add_block_before_head(model, block, zero_last_layer, seed: int = SEED):
    """A new model: `model` with one more block, its last layer zeroed, inserted before the output layer.

    The new model shares every other layer (and its trained weights) with `model`.
    """
    import keras

    keras.utils.set_random_seed(seed)
    head = model.layers[-1]
    features = head.input
    block_model = one_block_model(block, int(features.shape[-1]))
    zero_last_layer(block_model)
    return keras.Model(model.input, head(block_model(features)))


def prediction_change(before, after, features: Features) -> dict[str, float]:
    """How much adding a block changed a model, in inference mode on the training images: the share of labels
    that changed, the largest change of a probability, and the training error before and after."""
    import keras

    p0 = keras.ops.convert_to_numpy(before(features.x, training=False))
    p1 = keras.ops.convert_to_numpy(after(features.x, training=False))
    return {"changed_labels": float((p0.argmax(1) != p1.argmax(1)).mean()),
            "max_probability_change": float(np.abs(p0 - p1).max()),
            "error_before": float((p0.argmax(1) != features.labels).mean()),
            "error_after": float((p1.argmax(1) != features.labels).mean())}
