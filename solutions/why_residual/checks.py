"""Visible checks for the "Why residual networks?" notebook: run the learner's function, say what is wrong.

Each check builds the learner's code on small inputs, gives every Dense and BatchNormalization layer
deterministic values that depend only on its shape and position (initializers.dense_weights and
batchnorm_weights), reads the graph (graph.py) to name structural mistakes, and compares numbers with
arrays stored in expected.npz (beside this file), which the instructors compute with an independent NumPy reference
(and a test re-derives). A check prints one line when everything is right and raises CheckFailed otherwise.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from resnet_course import checking, failures, graph
from resnet_course.checking import CheckFailed
from resnet_course.initializers import batchnorm_weights, dense_weights, input_values

RTOL, ATOL = 1e-4, 1e-5
EXPECTED_FILE = Path(__file__).with_name("expected.npz")

__all__ = ["CheckFailed", "check_plain_block", "check_residual_block", "check_make_net",
           "check_layer_gradient_norms", "check_zero_last_layer"]


@dataclass(frozen=True)
class BlockCase:
    """A block called on a (batch, width) input with `units` units."""

    kind: str  # "plain" or "residual"
    batch: int
    width: int
    units: int

    @property
    def name(self) -> str:
        return f"{self.kind}_{self.batch}x{self.width}_u{self.units}"

    def describe(self, fn) -> str:
        return f"{_fn_name(fn)}(X of shape ({self.batch}, {self.width}), units={self.units})"


@dataclass(frozen=True)
class NetCase:
    depth: int
    residual: bool
    input_dim: int = 64
    units: int = 64
    classes: int = 6
    defaults: bool = False  # call make_net(depth, residual) alone: input_dim, units, classes keep their defaults

    def kwargs(self) -> dict:
        return {} if self.defaults else dict(input_dim=self.input_dim, units=self.units, classes=self.classes)

    def describe(self) -> str:
        if self.defaults:
            return f"make_net(depth={self.depth}, residual={self.residual})"
        return (f"make_net(depth={self.depth}, residual={self.residual}, input_dim={self.input_dim}, "
                f"units={self.units}, classes={self.classes})")


@dataclass(frozen=True)
class GradientCase:
    """A small network of Dense layers (the ops of the unit's grading/reference.py) and a labelled batch."""

    name: str
    input_dim: int
    batch: int
    ops: tuple

    @property
    def classes(self) -> int:
        return self.ops[-1][1]

    def inputs(self) -> tuple[np.ndarray, np.ndarray]:
        x = input_values((self.batch, self.input_dim)).astype("float32")
        y = np.eye(self.classes, dtype="float32")[np.arange(self.batch) % self.classes]
        return x, y


# The cases the visible checks run; their expected values are stored in expected.npz (beside this file).
VISIBLE_BLOCKS = {"plain": BlockCase("plain", 5, 7, 4), "residual": BlockCase("residual", 5, 6, 6)}
VISIBLE_NETS = [NetCase(3, True, input_dim=10, units=8, classes=6), NetCase(2, False, input_dim=12, units=5, classes=4)]
# Deliberately not the exercise's network: every Dense layer has its own width, so the order shows.
VISIBLE_GRADIENT = GradientCase("mlp", 6, 8, (("dense", 7, None), ("bn",), ("relu",), ("dense", 5, None), ("bn",),
                                              ("relu",), ("dense", 4, "softmax")))


def stored_expected() -> dict[str, np.ndarray]:
    return checking.stored_arrays(EXPECTED_FILE)


_fn_name, _first_line = checking.fn_name, checking.error_line


# --- deterministic weights ------------------------------------------------------------------------------------


def dense_layers(model) -> list:
    import keras

    return [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]


def batchnorm_layers(model) -> list:
    import keras

    return [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]


def set_deterministic_weights(model) -> None:
    """The k-th Dense and BatchNormalization layer from the input get the shape-and-position-keyed values."""
    for k, layer in enumerate(dense_layers(model)):
        n_in, n_out = layer.kernel.shape
        kernel, bias = dense_weights(int(n_in), int(n_out), k)
        layer.kernel.assign(kernel.astype("float32"))
        if layer.use_bias:
            layer.bias.assign(bias.astype("float32"))
    for k, layer in enumerate(batchnorm_layers(model)):
        values = batchnorm_weights(int(layer.moving_mean.shape[0]), k)
        for name in ("gamma", "beta", "moving_mean", "moving_variance"):
            variable = getattr(layer, name, None)
            if variable is not None:
                variable.assign(values[name].astype("float32"))


def _outputs(model, x) -> dict[str, np.ndarray]:
    import keras

    set_deterministic_weights(model)
    # Inference first: a training-mode call updates the moving statistics.
    inference = keras.ops.convert_to_numpy(model(x, training=False))
    training = keras.ops.convert_to_numpy(model(x, training=True))
    set_deterministic_weights(model)
    return {"inference": inference, "training": training}


# --- blocks -----------------------------------------------------------------------------------------------------


def build_block(fn, case: BlockCase):
    """keras.Model(input -> the learner's block) and its canonical graph, or CheckFailed saying why not."""
    import keras

    X = keras.Input((case.width,))
    name = _fn_name(fn)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            out = fn(X, case.units)
    except NotImplementedError:
        raise CheckFailed(f"{name} is not implemented yet: replace `raise NotImplementedError()` with your code.")
    except Exception as e:
        text = _first_line(e)
        shapes = "shape" in text.lower() or "broadcast" in text.lower()
        # The second line is the diagnosis: a notebook shows it first, the call, then the error in one line.
        if case.kind == "plain" and shapes:
            hint = ("A plain block has no skip connection: remove the addition of X (that is the residual block). "
                    f"Here X has {case.width} features and the block {case.units} units, so X cannot be added.")
            raise CheckFailed(f"{case.describe(fn)} failed: {text}\n{hint}",
                              shown=[hint, f"  (checked by calling {case.describe(fn)})"]) from e
        if case.kind == "residual" and shapes:
            hint = "The main path must end with `units` features, the same as X, so that X can be added to it."
            raise CheckFailed(f"{case.describe(fn)} failed while adding the skip connection: {text}\n{hint}",
                              shown=[hint, f"  (adding the skip connection failed, calling {case.describe(fn)})"]) from e
        raise CheckFailed(f"{case.describe(fn)} raised {type(e).__name__}: {text}") from e
    checking.check_returned_tensor(name, out, X, unchanged="build the block's layers and return their result.")
    return keras.Model(X, out), graph.trace(out)


MAIN_PATH = ["dense", "bn", "relu", "dense", "bn"]


def _describe_ops(path) -> str:
    return " -> ".join(_op_text(n) for n in path) or "nothing"


def _op_text(node) -> str:
    return {"dense": "Dense", "bn": "BatchNorm", "relu": "ReLU", "add": "add"}.get(node.op, node.op)


def _diagnose_layers(path, case: BlockCase, where: str) -> list[str]:
    """Units, bias and BatchNormalization settings of the layers on a path."""
    problems = []
    units = [n.attrs["units"] for n in path if n.op == "dense"]
    if any(u != case.units for u in units):
        problems.append(f"Every Dense layer of the block needs `units` = {case.units} units; found {units} on the "
                        f"{where}. Use the `units` argument, not a fixed number.")
    if any(n.op == "dense" and not n.attrs["bias"] for n in path):
        problems.append("Keep the Dense layers' bias (the default use_bias=True): the identity exercise zeroes it.")
    if any(n.op == "bn" and n.attrs["axis"] not in (1, -1) for n in path):
        problems.append("BatchNormalization must normalise the features, axis=-1 (the default).")
    if any(n.op in ("dense", "bn") and "training" in n.attrs for n in path):
        problems.append("Don't pass `training` to a layer inside the block: Keras picks the mode itself.")
    return problems


def diagnose_plain_block(root: graph.Node, case: BlockCase) -> list[str]:
    all_nodes = graph.nodes(root)
    if any(n.op == "add" for n in all_nodes):
        return ["A plain block has no skip connection: remove the addition of X (that is the residual block)."]
    path = graph.chain(root)
    ops = [n.op for n in path]
    expected = MAIN_PATH + ["relu"]
    problems = _diagnose_layers(path, case, "block")
    if ops != expected:
        if ops == MAIN_PATH:
            problems.insert(0, "The block must end with a ReLU after the second BatchNormalization.")
        elif ops.count("bn") < 2:
            problems.insert(0, f"Each Dense layer is followed by BatchNormalization; found {_describe_ops(path)}.")
        else:
            problems.insert(0, f"The plain block should be Dense -> BatchNorm -> ReLU -> Dense -> BatchNorm -> ReLU; "
                               f"found {_describe_ops(path)}.")
    return problems


def diagnose_residual_block(root: graph.Node, case: BlockCase) -> list[str]:
    adds = [n for n in graph.nodes(root) if n.op == "add"]
    if not adds:
        path = graph.chain(root)
        return ["The skip connection is missing: the block's output is the main path alone. Add X (the block's "
                f"input) to the main path after its second BatchNormalization, then apply ReLU. Found {_describe_ops(path)}."]
    if len(adds) > 1:
        return [f"Found {len(adds)} additions; a residual block adds its input exactly once."]
    add = adds[0]
    problems = []
    if len(add.inputs) != 2:
        return [f"The addition should have two inputs (main path, X); it has {len(add.inputs)}."]
    paths = [graph.chain(n) for n in add.inputs]
    main_i = int(np.argmax([len(p) for p in paths]))
    main, shortcut = paths[main_i], paths[1 - main_i]
    shortcut_start = add.inputs[1 - main_i]
    if shortcut_start.op != "input":
        problems.append("The skip connection must carry X itself, unchanged; found "
                        f"{_describe_ops(shortcut)} on it. Keep `shortcut = X` before the main path.")
    if root is add:
        if main and main[-1].op == "relu":
            problems.append("The ReLU is applied before the addition: the main path must end with BatchNormalization; "
                            "add X first, then apply ReLU to the sum.")
        else:
            problems.append("There is no ReLU after the addition: the block ends with ReLU(main path + X).")
    elif not (root.op == "relu" and root.inputs and root.inputs[0] is add):
        after = " -> ".join(_op_text(n) for n in graph.chain(root, stop=add))
        problems.append(f"After the addition there should be exactly one ReLU; found {after}.")
    elif main and main[-1].op == "relu":
        problems.append("The ReLU is applied before the addition as well as after it: the main path must end with "
                        "BatchNormalization (Dense -> BatchNorm -> ReLU -> Dense -> BatchNorm), then add X, then ReLU.")
    ops = [n.op for n in main]
    if not problems and ops != MAIN_PATH:
        problems.append("The main path should be Dense -> BatchNorm -> ReLU -> Dense -> BatchNorm; found "
                        f"{_describe_ops(main)}.")
    return problems + _diagnose_layers(main, case, "main path")


def _format(fn, case: BlockCase, problems: list[str]) -> str:
    return f"{case.describe(fn)}:\n" + "\n".join(f"  - {p}" for p in problems)


DIAGNOSE = {"plain": diagnose_plain_block, "residual": diagnose_residual_block}


def check_block_structure(fn, case: BlockCase):
    """Raise CheckFailed naming the structural mistakes; returns (model, graph) when there are none."""
    model, root = build_block(fn, case)
    problems = DIAGNOSE[case.kind](root, case)
    shape = tuple(model.outputs[0].shape)
    if not problems and shape != (None, case.units):
        problems.append(f"The output shape should be (None, {case.units}); found {shape}.")
    if not problems and len(dense_layers(model)) != 2:
        problems.append("The block needs two separate Dense layers (don't call one Dense layer twice).")
    if problems:
        raise CheckFailed(_format(fn, case, problems))
    return model, root


def block_outputs(fn, case: BlockCase, model=None) -> dict[str, np.ndarray]:
    if model is None:
        model, _ = build_block(fn, case)
    return _outputs(model, input_values((case.batch, case.width)).astype("float32"))


def check_block_values(fn, case: BlockCase, expected: dict[str, np.ndarray]) -> None:
    model, _ = check_block_structure(fn, case)
    compare_block_values(_fn_name(fn), case, block_outputs(fn, case, model), expected)


def compare_block_values(name: str, case: BlockCase, out: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    """Raise CheckFailed, saying what the difference suggests, unless both modes' outputs match `expected`."""
    for mode in ("inference", "training"):
        problem = checking.value_problem(
            out[mode], expected, mode, RTOL, ATOL,
            other_mode="don't pass `training` to BatchNormalization, Keras chooses the mode.",
            values="Use Keras's Dense and BatchNormalization with their default settings.")
        if problem:
            raise CheckFailed(_format(name, case, [problem]))


def _visible_block(kind: str, fn, part: str) -> None:
    case = VISIBLE_BLOCKS[kind]
    parts = ("structure", "values") if part == "all" else (part,)
    for p in parts:
        if p == "structure":
            check_block_structure(fn, case)
        else:
            stored = stored_expected()
            check_block_values(fn, case, {m: stored[f"{kind}_{m}"] for m in ("inference", "training")})
        print(f"{_fn_name(fn)}: {p} check passed.")


@failures.learner_facing
def check_plain_block(plain_block, part: str = "all") -> None:
    """Visible check. part: 'structure', 'values' or 'all'."""
    _visible_block("plain", plain_block, part)


@failures.learner_facing
def check_residual_block(residual_block, part: str = "all") -> None:
    """Visible check. part: 'structure', 'values' or 'all'."""
    _visible_block("residual", residual_block, part)


# --- make_net ------------------------------------------------------------------------------------------------------

BLOCK_NAMES = ("plain_block", "residual_block")


def call_make_net(make_net, case: NetCase):
    import keras

    try:
        with contextlib.redirect_stdout(io.StringIO()):
            model = make_net(case.depth, case.residual, **case.kwargs())
    except NotImplementedError:
        raise CheckFailed("make_net is not implemented yet: replace `raise NotImplementedError()` with your code.")
    except CheckFailed:
        raise
    except Exception as e:
        raise CheckFailed(f"{case.describe()} raised {type(e).__name__}: {_first_line(e)}") from e
    if not isinstance(model, keras.Model):
        raise CheckFailed(f"make_net must return a keras.Model; it returned {type(model).__name__}.")
    return model


def record_blocks(make_net, case: NetCase):
    """Call make_net with stand-in blocks that log (kind, units, input width): (calls, model or None, error).

    A stand-in is a single Dense layer with `units` units: right shapes, nothing like a real block, so that
    make_net can be judged even while the learner's blocks are still wrong.
    """
    calls = []
    plain, residual = stand_in_blocks(calls)
    model, error = checking.with_stand_ins(make_net, {"plain_block": plain, "residual_block": residual},
                                           lambda: call_make_net(make_net, case))
    return calls, model, error


def stand_in_blocks(calls: list) -> tuple:
    """(plain_block, residual_block) stand-ins that append (kind, units, input width) to `calls` and return a
    single Dense layer."""
    import keras

    def stand_in(kind):
        def block(X, units, *args, **kwargs):
            calls.append((kind, int(units), int(X.shape[-1])))
            return keras.layers.Dense(int(units), name=f"stand_in_{kind}_{len(calls)}")(X)

        block.__name__ = f"{kind}_block"
        return block

    return stand_in("plain"), stand_in("residual")


def diagnose_calls(calls, case: NetCase) -> list[str]:
    problems = []
    kind = "residual" if case.residual else "plain"
    n = len(calls)
    if n != case.depth:
        if case.depth and n == 2 * case.depth:
            hint = "depth counts blocks, and each block already holds two Dense layers: call the block depth times."
        elif case.depth and n == case.depth // 2:
            hint = "depth is the number of blocks, not of layers: call the block depth times."
        elif abs(n - case.depth) == 1:
            hint = "off by one: build exactly `depth` blocks (for _ in range(depth))."
        else:
            hint = "build exactly `depth` blocks: the depth argument decides how deep the network is."
        problems.append(f"{case.describe()} called {n} block(s) instead of {case.depth}: {hint}")
    kinds = {k for k, _, _ in calls}
    if kinds and kinds != {kind}:
        if kinds == {"plain", "residual"}:
            problems.append(f"make_net mixes plain and residual blocks; with residual={case.residual} every block "
                            f"must be {kind}_block.")
        else:
            problems.append(f"make_net ignores `residual`: with residual={case.residual} every block must be "
                            f"{kind}_block, found {kinds.pop()}_block.")
    units = sorted({u for _, u, _ in calls})
    if units and units != [case.units]:
        problems.append(f"Every block gets units={case.units} (the `units` argument); found units={units}.")
    if calls and calls[0][2] != case.units and not problems:
        problems.append(f"The first block receives {calls[0][2]} features instead of units={case.units}: the stem "
                        "Dense(units) -> BatchNorm -> ReLU comes before the first block.")
    return problems


def diagnose_stem_and_head(model, case: NetCase) -> list[str]:
    root = graph.trace(model.outputs[0])
    all_nodes = graph.nodes(root)
    blocks = [n for n in all_nodes if getattr(n.layer, "name", "").startswith("stand_in_")]
    problems = []
    # The stem: everything between the input and the first block (or the head when depth is 0).
    if blocks:
        stem = graph.chain(blocks[0].inputs[0]) if blocks[0].inputs and blocks[0].inputs[0].op != "input" else []
        head = graph.chain(root, stop=blocks[-1])
    else:
        whole = graph.chain(root)
        stem, head = whole[:3], whole[3:]
    want = [("dense", case.units), ("bn", None), ("relu", None)]
    got = [(n.op, n.attrs.get("units")) for n in stem]
    if got != want:
        found = " -> ".join(_op_text(n) + (f"({n.attrs.get('units')})" if n.op == "dense" else "") for n in stem)
        problems.append(f"The stem should be Dense(units={case.units}) -> BatchNorm -> ReLU; found {found or 'nothing'}.")
    ops = [n.op for n in head]
    if ops != ["dense", "softmax"]:
        if ops[-1:] != ["softmax"]:
            problems.append(f"The output layer needs a softmax: Dense(classes, activation='softmax'); the head is "
                            f"{' -> '.join(_op_text(n) for n in head) or 'nothing'}.")
        else:
            problems.append(f"The head should be one Dense(classes, activation='softmax'); found "
                            f"{' -> '.join(_op_text(n) for n in head)}.")
    elif head[0].attrs["units"] != case.classes:
        problems.append(f"The output layer needs `classes` units ({case.classes} here); found {head[0].attrs['units']}.")
    if tuple(model.inputs[0].shape) != (None, case.input_dim):
        problems.append(f"The input should have shape (None, input_dim) = (None, {case.input_dim}); found "
                        f"{tuple(model.inputs[0].shape)}.")
    return problems


def assert_make_net_layout(make_net, case: NetCase) -> None:
    calls, model, error = record_blocks(make_net, case)
    if not calls and case.depth:
        raise error or CheckFailed("make_net never calls plain_block or residual_block: build the network from "
                                   "your blocks.")
    problems = diagnose_calls(calls, case)
    if model is None:  # from error: keeps the learner's error for the notebook
        raise CheckFailed(f"{case.describe()}:\n" + "\n".join(f"  - {p}" for p in problems + [str(error)])) from error
    problems += diagnose_stem_and_head(model, case)
    if problems:
        raise CheckFailed(f"{case.describe()}:\n" + "\n".join(f"  - {p}" for p in problems))


@failures.learner_facing
def check_make_net(make_net) -> None:
    """Visible check: the stem, `depth` blocks of the kind `residual` asks for, and the head (stand-in blocks)."""
    for case in VISIBLE_NETS:
        assert_make_net_layout(make_net, case)
    print("make_net: check passed (stem, depth blocks of the right kind, softmax head).")


# --- per-layer gradient norms --------------------------------------------------------------------------------------


def build_ops_model(ops, input_dim: int):
    """A Keras model for a chain of ops (see the unit's grading/reference.py); ("residual", [ops]) adds its input
    to the output of its ops (Dense and BatchNormalization layers are created in input-to-output order)."""
    import keras

    inputs = keras.Input((input_dim,))
    return keras.Model(inputs, _apply_ops(ops, inputs))


def _apply_ops(ops, X):
    from keras import layers

    for op in ops:
        if op[0] == "dense":
            X = layers.Dense(op[1], activation=op[2])(X)
        elif op[0] == "bn":
            X = layers.BatchNormalization()(X)
        elif op[0] == "relu":
            X = layers.Activation("relu")(X)
        elif op[0] == "residual":
            X = layers.Add()([_apply_ops(op[1], X), X])
        else:
            raise ValueError(f"build_ops_model does not build {op[0]!r}")
    return X


def call_gradient_norms(fn, model, x, y):
    import keras

    set_deterministic_weights(model)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            out = fn(model, x, y)
    except NotImplementedError:
        raise CheckFailed(f"{_fn_name(fn)} is not implemented yet: replace `raise NotImplementedError()` with your code.")
    except Exception as e:
        raise CheckFailed(f"{_fn_name(fn)}(model, x, y) raised {type(e).__name__}: {_first_line(e)}") from e
    finally:
        set_deterministic_weights(model)
    if out is None:
        raise CheckFailed(f"{_fn_name(fn)} returned None: return one number per Dense layer.")
    try:
        values = [float(keras.ops.convert_to_numpy(v)) for v in (out if np.ndim(out) else [out])]
    except (TypeError, ValueError) as e:
        raise CheckFailed(f"{_fn_name(fn)} must return one number per Dense layer (a list or a 1-D array); "
                          f"it returned {type(out).__name__}: {_first_line(e)}") from e
    return np.array(values)


def gradient_facts(model) -> dict:
    """What diagnose_gradient_norms needs to know of the model."""
    import keras

    return {"dense": len(dense_layers(model)), "weights": len(model.trainable_weights),
            "weight_norms": np.array([np.linalg.norm(keras.ops.convert_to_numpy(layer.kernel))
                                      for layer in dense_layers(model)])}


def diagnose_gradient_norms(found: np.ndarray, expected: dict[str, np.ndarray], facts: dict) -> list[str]:
    """Name the mistake behind wrong per-layer gradient norms; [] when they are right.

    `expected` holds the NumPy reference's 'training' norms (the answer), 'inference' norms and
    'with_bias' norms (kernel and bias together), all per Dense layer from input to output; `facts` is
    gradient_facts(model) (or the same facts worked out from the model's description).
    """
    want = expected["training"]
    n_dense, n_weights = facts["dense"], facts["weights"]
    close = lambda a, b: a.shape == b.shape and np.allclose(a, b, rtol=1e-3, atol=1e-6)  # noqa: E731
    if close(found, want):
        return []
    if found.size == 1 and n_dense > 1:
        return [f"You returned a single number ({found[0]:.4g}); return one norm per Dense layer ({n_dense} here), so "
                "that you can see how the gradient changes from layer to layer."]
    if found.size != n_dense:
        if found.size == n_weights:
            return [f"You returned {found.size} numbers, one per weight tensor (kernels, biases, BatchNormalization's "
                    f"gamma and beta); return one per Dense layer ({n_dense}): the norm of its kernel's gradient."]
        if found.size == 2 * n_dense:
            return [f"You returned {found.size} numbers, a kernel and a bias per Dense layer; return one per Dense "
                    f"layer ({n_dense}): the norm of its kernel's gradient."]
        return [f"You returned {found.size} numbers; the model has {n_dense} Dense layers: return one per Dense layer."]
    if close(found, want[::-1]):
        return ["The norms are in reverse order: list the Dense layers from the input to the output."]
    if close(found, expected["inference"]):
        return ["These are the gradients in inference mode: compute them in training mode (training=True), as "
                "fit does, so that BatchNormalization uses the batch's statistics."]
    if close(found, expected["with_bias"]):
        return ["These norms include the bias: use only each Dense layer's kernel (layer.kernel)."]
    if close(found, want**2):
        return ["These are squared norms: take the square root (np.linalg.norm does)."]
    if close(found, facts["weight_norms"]):
        return ["These are the norms of the weights themselves, not of their gradients: take the norm of what "
                "backend.gradients returns for each Dense kernel."]
    worst = int(np.argmax(np.abs(found - want) / np.maximum(np.abs(want), 1e-12)))
    return [f"The norms differ from the expected values (Dense layer {worst + 1}: expected {want[worst]:.6g}, found "
            f"{found[worst]:.6g}). Use the mean categorical cross-entropy, keras.losses.CategoricalCrossentropy(), "
            "of the model's output against y, and the L2 norm of each Dense kernel's gradient."]


def assert_gradient_norms(fn, case: GradientCase, expected: dict[str, np.ndarray], model=None) -> None:
    model = model or build_ops_model(case.ops, case.input_dim)
    x, y = case.inputs()
    found = call_gradient_norms(fn, model, x, y)
    problems = diagnose_gradient_norms(found, expected, gradient_facts(model))
    if problems:
        raise CheckFailed(f"{_fn_name(fn)}(model, x, y) on {case.name} ({len(dense_layers(model))} Dense layers):\n"
                          + "\n".join(f"  - {p}" for p in problems))


@failures.learner_facing
def check_layer_gradient_norms(layer_gradient_norms) -> None:
    stored = stored_expected()
    expected = {k: stored[f"gradient_{k}"] for k in ("training", "inference", "with_bias")}
    assert_gradient_norms(layer_gradient_norms, VISIBLE_GRADIENT, expected)
    print("layer_gradient_norms: check passed (one norm per Dense layer, input to output).")


# --- the identity: a block whose last layer is zero ------------------------------------------------------------


def one_block(block, width: int):
    """keras.Model(a -> block(a, width)): a single block, to look at on its own."""
    import keras

    inputs = keras.Input((width,))
    return keras.Model(inputs, block(inputs, width))


def stand_in_models(width: int = 6):
    """Small models that are not the exercise's blocks: (residual unit, plain stack), each ending like a block.

    residual: X -> BatchNorm -> Dense -> BatchNorm -> add X -> ReLU
    plain:    X -> BatchNorm -> Dense -> ReLU -> Dense -> BatchNorm -> ReLU
    """
    import keras
    from keras import layers

    X = keras.Input((width,))
    main = layers.Dense(width)(layers.BatchNormalization()(X))
    residual = keras.Model(X, layers.Activation("relu")(layers.Add()([layers.BatchNormalization()(main), X])))
    X = keras.Input((width,))
    H = layers.Activation("relu")(layers.Dense(width)(layers.BatchNormalization()(X)))
    plain = keras.Model(X, layers.Activation("relu")(layers.BatchNormalization()(layers.Dense(width)(H))))
    return residual, plain


def _snapshot(model) -> list[list[np.ndarray]]:
    import keras

    return [[np.array(keras.ops.convert_to_numpy(w)) for w in layer.weights] for layer in model.layers]


def diagnose_zeroed(model, before, after) -> list[str]:
    """What the learner's function changed, compared with: gamma and beta of the last BatchNorm zero, nothing else."""
    bns = batchnorm_layers(model)
    index = {id(layer): k for k, layer in enumerate(model.layers)}
    last = index[id(bns[-1])]
    changed = [k for k in range(len(model.layers)) if any(not np.array_equal(a, b) for a, b in zip(before[k], after[k]))]
    zero = lambda a: not np.any(a)  # noqa: E731
    gamma, beta = after[last][0], after[last][1]
    if not changed:
        return ["Nothing changed: set the last BatchNormalization's gamma and beta to zero (e.g. layer.gamma.assign)."]
    problems = []
    others = [k for k in changed if k != last]
    if last not in changed:
        first_bn = index[id(bns[0])]
        dense_before_last = [k for k in others if model.layers[k] is dense_layers(model)[-1]]
        if dense_before_last:
            problems.append("You zeroed the last Dense layer, but the BatchNormalization after it turns 0 into "
                            "beta - gamma * mean / sqrt(variance + epsilon), which is not 0. The last layer of the main "
                            "path is that BatchNormalization: set its gamma and beta to zero.")
        elif first_bn in others:
            problems.append("You changed the first BatchNormalization; the last layer of the main path is the last "
                            "BatchNormalization (the one closest to the output): set its gamma and beta to zero.")
        else:
            problems.append("The last BatchNormalization is unchanged: set its gamma and beta to zero.")
        return problems
    if not zero(gamma) and not zero(beta):
        problems.append("The last BatchNormalization's gamma and beta are not zero.")
    elif not zero(beta):
        problems.append("The last BatchNormalization's bias (beta) is not zero: the main path then outputs beta, not 0, "
                        "and the block computes ReLU(a + beta) instead of a. Zero beta as well as gamma.")
    elif not zero(gamma):
        problems.append("The last BatchNormalization's scale (gamma) is not zero: the main path still passes on a "
                        "scaled copy of its input. Zero gamma as well as beta.")
    if others:
        names = ", ".join(f"{type(model.layers[k]).__name__} {model.layers[k].name!r}" for k in others)
        problems.append(f"You also changed other layers ({names}): only the last layer must change, everything the "
                        "network already learned stays as it was.")
    return problems


def assert_zero_last_layer(fn, model, kind: str, a: np.ndarray) -> None:
    """After fn(model): only the last BatchNorm's gamma and beta are zero, and the output is a (residual) or 0."""
    import keras

    set_deterministic_weights(model)
    before = _snapshot(model)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            fn(model)
    except NotImplementedError:
        raise CheckFailed(f"{_fn_name(fn)} is not implemented yet: replace `raise NotImplementedError()` with your code.")
    except Exception as e:
        raise CheckFailed(f"{_fn_name(fn)}(block) raised {type(e).__name__}: {_first_line(e)}") from e
    problems = diagnose_zeroed(model, before, _snapshot(model))
    if not problems:
        for mode in (False, True):
            out = keras.ops.convert_to_numpy(model(a, training=mode))
            want = a if kind == "residual" else np.zeros_like(a)
            if not np.allclose(out, want, atol=1e-6):
                problems.append(f"With the last layer zeroed, a {kind} block should output "
                                f"{'its input a' if kind == 'residual' else 'zeros'} (training={mode}); it does not.")
                break
    if problems:
        raise CheckFailed(f"{_fn_name(fn)} on a {kind} block of width {a.shape[1]}:\n"
                          + "\n".join(f"  - {p}" for p in problems))


def relu_outputs(batch: int, width: int) -> np.ndarray:
    """A deterministic a[l]: the output of a ReLU (non-negative, with some exact zeros)."""
    return np.maximum(input_values((batch, width)), 0).astype("float32")


@failures.learner_facing
def check_zero_last_layer(zero_last_layer) -> None:
    residual, plain = stand_in_models(6)
    a = relu_outputs(4, 6)
    assert_zero_last_layer(zero_last_layer, residual, "residual", a)
    assert_zero_last_layer(zero_last_layer, plain, "plain", a)
    print("zero_last_layer: check passed (residual unit -> identity, plain stack -> zeros).")
