"""Visible checks for the ResNet exercises: run the learner's function and say precisely what is wrong.

Each check builds the learner's block on a symbolic input with the shape-keyed initializer, reads the graph
(see graph.py) to name structural mistakes, then compares outputs in inference and training mode with
stored expected arrays (computed by the instructors' independent NumPy reference, re-derived by a test).
A check prints one line when everything is right and raises `CheckFailed` with a diagnosis otherwise.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from resnet_course import checking, failures, graph, initializers
from resnet_course.checking import CheckFailed
from resnet_course.initializers import batchnorm_values, input_values, kernel_values

RTOL, ATOL = 1e-4, 1e-4


@dataclass(frozen=True)
class BlockCase:
    """One way of calling a block: input shape (batch, h, w, c), f, filters and stride."""

    kind: str  # "identity" or "convolutional"
    input_shape: tuple
    f: int
    filters: tuple
    s: int = 1

    @property
    def name(self) -> str:
        return f"{self.kind}_{'x'.join(map(str, self.input_shape))}_f{self.f}_{'-'.join(map(str, self.filters))}_s{self.s}"

    def call(self, fn, X):
        if self.kind == "identity":
            return fn(X, self.f, list(self.filters), initializer=initializers.ShapeKeyed)
        return fn(X, self.f, list(self.filters), s=self.s, initializer=initializers.ShapeKeyed)


# The cases the visible checks run; their expected outputs are stored in expected.npz (beside this file).
VISIBLE_CASES = {
    "identity": BlockCase("identity", (3, 4, 4, 6), 3, (4, 5, 6)),
    "convolutional": BlockCase("convolutional", (3, 5, 5, 4), 3, (3, 5, 6), s=2),
}
EXPECTED_FILE = Path(__file__).with_name("expected.npz")


def stored_expected() -> dict[str, np.ndarray]:
    return checking.stored_arrays(EXPECTED_FILE)


# --- building -------------------------------------------------------------------------------------------


_fn_name, _reused = checking.fn_name, checking.reused


_BUILT: dict = {}
_OUTPUTS: dict = {}
_LAYOUTS: dict = {}


def build_block(fn, case: BlockCase):
    """keras.Model(input -> learner's block) and its canonical graph, or CheckFailed saying why not."""
    return _reused(_BUILT, (fn, getattr(fn, "__code__", None), case), lambda: _build_block(fn, case))


def _build_block(fn, case: BlockCase):
    import keras

    X = keras.Input(case.input_shape[1:], batch_size=None)
    name = _fn_name(fn)
    failed_add: list = []
    try:
        with contextlib.redirect_stdout(io.StringIO()), _recording_failed_add(failed_add):
            out = case.call(fn, X)
    except NotImplementedError:
        raise CheckFailed(f"{name} is not implemented yet: replace `raise NotImplementedError()` with your code.")
    except Exception as e:  # the learner's error, explained
        problems = _diagnose_failed_add(failed_add, case) if failed_add else []
        if problems:
            raise CheckFailed(_format(fn, case, problems)) from e
        raise _explain_build_error(e, case, fn) from e
    checking.check_returned_tensor(name, out, X, unchanged="build the main path and return its result.")
    model = keras.Model(X, out)
    return model, graph.trace(out)


@contextlib.contextmanager
def _recording_failed_add(record: list):
    """Keep the inputs of an `Add` that fails (shapes differ), so the two paths can be diagnosed."""
    from keras import layers

    original = layers.Add.__call__

    def call(self, inputs, *args, **kwargs):
        try:
            return original(self, inputs, *args, **kwargs)
        except Exception:
            record[:] = list(inputs)
            raise

    layers.Add.__call__ = call
    try:
        yield
    finally:
        del layers.Add.__call__  # back to the inherited Layer.__call__


def _diagnose_failed_add(inputs, case: BlockCase) -> list[str]:
    """Name the mistake behind an addition of two differently shaped paths, from the paths themselves."""
    if len(inputs) != 2 or not all(hasattr(t, "_keras_history") for t in inputs):
        return []
    starts = [graph.trace(t) for t in inputs]
    paths = [graph.chain(node) for node in starts]
    convs = [[n for n in path if n.op == "conv"] for path in paths]
    main_i = int(np.argmax([len(c) for c in convs]))
    problems = _diagnose_convs(convs[main_i], case) if len(convs[main_i]) == 3 else []
    return problems + _diagnose_shortcut(paths[1 - main_i], starts[1 - main_i], case)


def _explain_build_error(e: Exception, case: BlockCase, fn) -> CheckFailed:
    """The learner's block raised: say why if the error shows it, and keep the error's own first line."""
    name, called = _fn_name(fn), _call_text(fn, case)
    text = checking.error_line(e)
    low = str(e).lower()
    if "incompatible shapes" in low or "broadcast" in low or "shape" in low and "add" in low:
        if case.kind == "identity":
            hint = ("In the identity block the shortcut is X itself, so the main path must give back X's shape: "
                    "no strides anywhere, padding='same' on the f x f conv, and F3 filters (= X's channels) on the "
                    "last conv.")
        else:
            hint = ("Both paths must end with the same shape: put strides=s on the main path's first 1x1 conv AND "
                    "on the shortcut's 1x1 conv, give both last convs F3 filters, and use padding='same' on the "
                    "f x f conv.")
        # The hint is the diagnosis: a notebook shows it first and Keras's error after it, in one line.
        return CheckFailed(f"Adding the shortcut to the main path failed: {text}\n{hint}",
                           shown=[hint, f"  (adding the shortcut to the main path failed, calling {called})"])
    message = f"{name} raised {type(e).__name__}: {text}"
    return CheckFailed(message, shown=[message, f"  (checked by calling {called})"])


def set_batchnorm_params(model) -> None:
    """Give every BatchNormalization the shape-keyed gamma, beta, moving mean and variance."""
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization) and len(layer.weights) == 4:
            n = layer.weights[0].shape[0]
            v = batchnorm_values(n)
            layer.set_weights([v["gamma"], v["beta"], v["moving_mean"], v["moving_variance"]])


def block_outputs(fn, case: BlockCase, model=None) -> dict[str, np.ndarray]:
    """The block on the case's deterministic input, in inference and in training mode (`model`: already built)."""
    import keras

    if model is None:
        model, _ = build_block(fn, case)

    def run():
        set_batchnorm_params(model)
        x = input_values(case.input_shape).astype("float32")
        # Inference first: a training-mode call updates the moving statistics.
        inference = keras.ops.convert_to_numpy(model(x, training=False))
        training = keras.ops.convert_to_numpy(model(x, training=True))
        return {"inference": inference, "training": training}

    return dict(_reused(_OUTPUTS, (model, case), run))


# --- structure --------------------------------------------------------------------------------------------


def expected_output_shape(case: BlockCase) -> tuple:
    _, h, w, c = case.input_shape
    if case.kind == "identity":
        return (None, h, w, c)
    return (None, -(-h // case.s), -(-w // case.s), case.filters[2])


def diagnose_block(root: graph.Node, case: BlockCase) -> list[str]:
    """Structural mistakes in a block's graph, most fundamental first; [] when the structure is right."""
    f = case.f
    adds = [n for n in graph.nodes(root) if n.op == "add"]
    if not adds:
        return ["The shortcut is missing: the output equals the main path alone. Add the shortcut to the main "
                "path (after its last BatchNormalization), then apply the final ReLU."]
    if len(adds) > 1:
        return [f"Found {len(adds)} additions; a residual block adds the shortcut exactly once."]
    add = adds[0]
    problems = []
    if root is add:
        if any(n.op == "relu" for n in add.inputs):
            problems.append("The shortcut is added after the final ReLU: add the shortcut to the main path first, "
                            "then apply ReLU to the sum.")
        else:
            problems.append("There is no ReLU after the addition: the block ends with ReLU(main path + shortcut).")
    elif not (root.op == "relu" and root.inputs and root.inputs[0] is add):
        after = " -> ".join(n.op for n in graph.chain(root, stop=add))
        problems.append(f"After the addition there should be exactly one ReLU; found: {after or root.op}.")
    if len(add.inputs) != 2:
        return problems + [f"The addition should have two inputs (main path, shortcut); it has {len(add.inputs)}."]

    paths = [graph.chain(n) for n in add.inputs]
    n_convs = [sum(p.op == "conv" for p in path) for path in paths]
    main_i = int(np.argmax(n_convs))
    main, shortcut = paths[main_i], paths[1 - main_i]
    if any(n.op == "add" for n in main):  # chain() stops at merges: a second input path inside the main path
        return problems + ["The main path merges with another path; it should be a single chain of layers."]

    ops = [n.op for n in main]
    if ops and ops[-1] == "relu":
        problems.append("ReLU applied before the addition: the main path must end with BatchNormalization; apply "
                        "ReLU only after adding the shortcut.")
    convs = [n for n in main if n.op == "conv"]
    if len(convs) != 3:
        problems.append(f"The main path should have 3 Conv2D layers (1x1, {f}x{f}, 1x1); found {len(convs)}.")
    else:
        problems += _diagnose_convs(convs, case)
    problems += _diagnose_bns(main, "main path", expected=3)
    relus = [n for n in main if n.op == "relu"]
    expected_ops = ["conv", "bn", "relu"] * 2 + ["conv", "bn"]
    if not problems and ops != expected_ops:
        problems.append("The main path should be Conv2D -> BatchNorm -> ReLU -> Conv2D -> BatchNorm -> ReLU -> "
                        f"Conv2D -> BatchNorm; found {' -> '.join(ops)}.")
    elif len(relus) not in (2, 3) and not problems:
        problems.append(f"The main path should have 2 ReLUs; found {len(relus)}.")

    problems += _diagnose_shortcut(shortcut, add.inputs[1 - main_i], case)
    problems += _diagnose_training_flag(root)
    return problems


def _diagnose_convs(convs, case: BlockCase) -> list[str]:
    f, (F1, F2, F3), s = case.f, case.filters, case.s
    problems = []
    kernels = [c.attrs["kernel"] for c in convs]
    if kernels != [(1, 1), (f, f), (1, 1)]:
        problems.append(f"Kernel sizes on the main path should be 1x1, {f}x{f}, 1x1 (f={f}); found "
                        + ", ".join(f"{a}x{b}" for a, b in kernels) + ".")
    strides = [c.attrs["strides"][0] for c in convs]
    if strides != [s, 1, 1]:
        if s > 1 and strides == [1, s, 1]:
            problems.append(f"The stride must be on the first 1x1 conv, not on the {f}x{f} conv (strides=(s, s) with "
                            f"s={s} on the first Conv2D; strides 1 on the others).")
        elif s > 1 and strides == [1, 1, 1]:
            problems.append(f"The main path never downsamples: the first 1x1 conv needs strides=(s, s) (s={s}).")
        else:
            problems.append(f"Strides on the main path should be {s}, 1, 1; found {', '.join(map(str, strides))}.")
    paddings = [c.attrs["padding"] for c in convs]
    if paddings[1] != "same":
        problems.append(f"The {f}x{f} conv must use padding='same' so that it keeps the spatial size.")
    if paddings[0] != "valid" or paddings[2] != "valid":
        problems.append("The 1x1 convs use padding='valid' (same result for 1x1, but follow the architecture).")
    filters = [c.attrs["filters"] for c in convs]
    if filters != [F1, F2, F3]:
        if filters == [F1, F3, F2]:
            problems.append(f"F2 and F3 are swapped: the {f}x{f} conv has F2={F2} filters and the last 1x1 conv "
                            f"F3={F3}; found {filters[1]} and {filters[2]}.")
        else:
            problems.append(f"Filters on the main path should be F1, F2, F3 = {F1}, {F2}, {F3}; found "
                            + ", ".join(map(str, filters)) + ".")
    return problems


def _diagnose_bns(path, where: str, expected: int) -> list[str]:
    bns = [n for n in path if n.op == "bn"]
    problems = []
    if len(bns) != expected:
        problems.append(f"The {where} should have {expected} BatchNormalization layer(s); found {len(bns)}.")
    wrong_axes = sorted({n.attrs["axis"] for n in bns if n.attrs["axis"] != 3}, key=str)
    if wrong_axes:
        problems.append(f"BatchNormalization over the wrong axis ({', '.join(map(str, wrong_axes))}) on the {where}: "
                        "normalise over the channels axis, axis=3 (or -1).")
    return problems


def _diagnose_shortcut(shortcut, start, case: BlockCase) -> list[str]:
    if case.kind == "identity":
        if start.op != "input":
            ops = " -> ".join(n.op for n in shortcut)
            return [f"In the identity block the shortcut is the input X itself, unchanged; found {ops} on it. "
                    "Save X_shortcut = X before the main path."]
        return []
    ops = [n.op for n in shortcut]
    convs = [n for n in shortcut if n.op == "conv"]
    if not convs:
        return ["The shortcut needs a 1x1 Conv2D with F3 filters and strides=(s, s), followed by BatchNormalization, "
                "so that its shape matches the main path."]
    problems = []
    conv = convs[0]
    if conv.attrs["strides"][0] != case.s:
        problems.append(f"The shortcut's 1x1 conv needs strides=(s, s) with s={case.s}; found "
                        f"{conv.attrs['strides']}.")
    if conv.attrs["kernel"] != (1, 1):
        problems.append(f"The shortcut's conv should be 1x1; found {conv.attrs['kernel']}.")
    if conv.attrs["filters"] != case.filters[2]:
        problems.append(f"The shortcut's conv needs F3={case.filters[2]} filters; found {conv.attrs['filters']}.")
    if "bn" not in ops:
        problems.append("The shortcut has no BatchNormalization: follow its 1x1 conv with "
                        "BatchNormalization(axis=3).")
    else:
        problems += _diagnose_bns(shortcut, "shortcut", expected=1)
    if "relu" in ops:
        problems.append("The shortcut has a ReLU; it should be Conv2D -> BatchNorm only (ReLU comes after the sum).")
    if not problems and ops != ["conv", "bn"]:
        problems.append(f"The shortcut should be Conv2D -> BatchNorm; found {' -> '.join(ops)}.")
    return problems


def _diagnose_training_flag(root) -> list[str]:
    fixed = {n.attrs["training"] for n in graph.nodes(root) if "training" in n.attrs}
    if fixed:
        mode = " and ".join(f"training={v}" for v in sorted(fixed))
        return [f"A layer is called with {mode} hard-coded: don't pass `training` inside the block. Keras picks "
                "the mode itself (fit trains, predict/evaluate infer)."]
    return []


def _diagnose_initializer(root) -> list[str]:
    import keras

    for k, node in enumerate(n for n in graph.nodes(root) if n.op == "conv"):
        kernel = keras.ops.convert_to_numpy(node.layer.kernel)
        if not np.allclose(kernel, kernel_values(kernel.shape), rtol=1e-5, atol=1e-6):
            return [f"Conv2D number {k + 1} does not use the `initializer` argument: pass "
                    "kernel_initializer=initializer(seed=0) to every Conv2D in the block."]
    return []


# --- the checks the notebook calls --------------------------------------------------------------------------


def check_block_structure(fn, case: BlockCase):
    """Raise CheckFailed naming the structural mistakes; returns (model, graph) when there are none."""
    model, root = build_block(fn, case)
    problems = diagnose_block(root, case)
    expected_shape = expected_output_shape(case)
    actual_shape = tuple(model.outputs[0].shape)
    if not problems and actual_shape != expected_shape:
        problems.append(f"Output shape should be {expected_shape}; found {actual_shape}.")
    problems = problems or _diagnose_initializer(root)
    if problems:
        raise CheckFailed(_format(fn, case, problems))
    return model, root


def check_block_values(fn, case: BlockCase, mode: str, expected: dict[str, np.ndarray]) -> None:
    """Compare one mode's output with `expected` ({'inference': ..., 'training': ...})."""
    model, _ = check_block_structure(fn, case)
    compare_block_values(_fn_name(fn), case, mode, block_outputs(fn, case, model)[mode], expected)


def compare_block_values(name: str, case: BlockCase, mode: str, output: np.ndarray,
                         expected: dict[str, np.ndarray]) -> None:
    """Raise CheckFailed, saying what the difference suggests, unless `output` matches expected[mode]."""
    problem = checking.value_problem(
        output, expected, mode, RTOL, ATOL,
        other_mode="BatchNormalization is not following the mode Keras asks for. Don't pass `training` to its "
                   "layers, and use Keras's own BatchNormalization.",
        values="Check BatchNormalization's settings (keep the default epsilon) and that nothing else changes the values.")
    if problem:
        raise CheckFailed(_format(name, case, [problem]))


def _call_text(fn, case: BlockCase) -> str:
    return f"{fn if isinstance(fn, str) else _fn_name(fn)}(X of shape {case.input_shape}, f={case.f}, filters={list(case.filters)}" + (
        f", s={case.s})" if case.kind == "convolutional" else ")")


def _format(fn, case: BlockCase, problems: list[str]) -> str:
    return f"{_call_text(fn, case)}:\n" + "\n".join(f"  - {p}" for p in problems)


def _visible(kind: str, part: str, fn) -> None:
    case = VISIBLE_CASES[kind]
    if part == "structure":
        check_block_structure(fn, case)
    else:
        stored = stored_expected()
        check_block_values(fn, case, part, {m: stored[f"{kind}_{m}"] for m in ("inference", "training")})
    print(f"{_fn_name(fn)}: {part} check passed.")


@failures.learner_facing
def check_identity_block(identity_block, part: str = "all") -> None:
    """Visible check. part: 'structure', 'inference', 'training' or 'all'."""
    for p in (("structure", "inference", "training") if part == "all" else (part,)):
        _visible("identity", p, identity_block)


@failures.learner_facing
def check_convolutional_block(convolutional_block, part: str = "all") -> None:
    """Visible check. part: 'structure', 'inference', 'training' or 'all'."""
    for p in (("structure", "inference", "training") if part == "all" else (part,)):
        _visible("convolutional", p, convolutional_block)


# --- ResNet50 ------------------------------------------------------------------------------------------------

# (kind, filters, stride) per block, stage by stage: the layout the exercise asks for.
RESNET50_LAYOUT = [
    [("convolutional", (64, 64, 256), 1)] + [("identity", (64, 64, 256), 1)] * 2,
    [("convolutional", (128, 128, 512), 2)] + [("identity", (128, 128, 512), 1)] * 3,
    [("convolutional", (256, 256, 1024), 2)] + [("identity", (256, 256, 1024), 1)] * 5,
    [("convolutional", (512, 512, 2048), 2)] + [("identity", (512, 512, 2048), 1)] * 2,
]
RESNET50_PARAMS = {"total": 23_600_006, "trainable": 23_546_886}


def record_layout(ResNet50, classes: int = 6):
    """Call ResNet50 with stand-in blocks that log their arguments; returns (calls, model or None, error).

    The stand-ins are a single strided 1x1 conv with F3 filters: right shapes, nothing like a real block,
    so the layout can be judged even while the learner's own blocks are still wrong. A model that fails
    to build still yields the calls made before the failure, which usually explain it.
    """
    def record():
        calls = []
        identity, convolutional = stand_in_blocks(calls)
        model, error = checking.with_stand_ins(ResNet50, {"identity_block": identity, "convolutional_block": convolutional},
                                               lambda: _call_resnet50(ResNet50, classes, calls.clear))
        return calls, model, error

    return _reused(_LAYOUTS, (ResNet50, getattr(ResNet50, "__code__", None), classes), record)


def stand_in_blocks(calls: list) -> tuple:
    """(identity_block, convolutional_block) stand-ins that append (kind, f, filters, s, input shape) to
    `calls` and return a single strided 1x1 conv with F3 filters."""
    import keras

    def stand_in(kind):
        def block(X, f, filters, s=1, initializer=None, **kwargs):
            calls.append((kind, f, tuple(int(v) for v in filters), int(s), tuple(X.shape)))
            return keras.layers.Conv2D(int(filters[2]), 1, strides=int(s), name=f"stand_in_{kind}_{len(calls)}")(X)

        block.__name__ = f"{kind}_block"
        return block

    return stand_in("identity"), stand_in("convolutional")


def _call_resnet50(ResNet50, classes: int = 6, restart=None):
    """ResNet50(input_shape=(64, 64, 3), classes=classes), only inspected, never run (its weights need no
    values); `restart` is called before each try (checking.inspected_only may build it twice)."""

    def build():
        if restart:
            restart()
        return ResNet50(input_shape=(64, 64, 3), classes=classes)

    try:
        with contextlib.redirect_stdout(io.StringIO()):
            model = checking.inspected_only(build)
    except NotImplementedError:
        raise CheckFailed("ResNet50 is not implemented yet: replace `raise NotImplementedError()` with your code.")
    except Exception as e:
        message = f"ResNet50 raised {type(e).__name__}: {failures.first_line(e)}"
        raise CheckFailed(message, shown=[message, f"  (checked by calling ResNet50(input_shape=(64, 64, 3), "
                                                   f"classes={classes}))"]) from e
    import keras

    if not isinstance(model, keras.Model):
        raise CheckFailed(f"ResNet50 must return a keras.Model; it returned {type(model).__name__}.")
    return model


def diagnose_layout(calls) -> list[str]:
    """Compare the sequence of block calls with the four stages of ResNet50."""
    expected = [b for stage in RESNET50_LAYOUT for b in stage]
    got = [(kind, filters, s) for kind, _, filters, s, _ in calls]
    problems = []
    bad_f = sorted({f for _, f, *_ in calls if f != 3})
    if bad_f:
        problems.append(f"Every block uses f=3; found f={bad_f}.")
    if got == expected:
        return problems
    # Split the calls into stages: a stage starts with a convolutional block.
    stages, current = [], []
    for call in got:
        if call[0] == "convolutional" and current:
            stages.append(current)
            current = []
        current.append(call)
    if current:
        stages.append(current)
    if len(stages) != 4:
        problems.append(f"ResNet50 has 4 stages after the stem, each starting with a convolutional block; found "
                        f"{len(stages)} convolutional block(s) starting stages.")
        return problems
    for k, (exp, act) in enumerate(zip(RESNET50_LAYOUT, stages), start=2):
        n_id_exp, n_id = len(exp) - 1, sum(c[0] == "identity" for c in act)
        if act[0][0] != "convolutional":
            problems.append(f"Stage {k} must start with a convolutional block.")
        if n_id != n_id_exp:
            problems.append(f"Stage {k} should have 1 convolutional block + {n_id_exp} identity blocks; found {n_id} "
                            "identity blocks.")
        filters = {c[1] for c in act}
        if filters != {exp[0][1]}:
            problems.append(f"Stage {k} uses filters {list(exp[0][1])}; found {sorted(filters)}.")
        if act[0][2] != exp[0][2]:
            if k == 2:
                problems.append("Stage 2's convolutional block uses s=1: the max-pool has already halved the size.")
            else:
                problems.append(f"Stage {k}'s convolutional block uses s={exp[0][2]}; found s={act[0][2]}.")
    return problems or [f"The block calls differ from the expected layout: {got}"]


def diagnose_stem_and_head(model) -> list[str]:
    root = graph.trace(model.outputs[0])
    all_nodes = graph.nodes(root)
    problems = []
    # Stem: everything between the input and the first block stand-in.
    first_block = next((n for n in all_nodes if getattr(n.layer, "name", "").startswith("stand_in_")), None)
    if first_block is not None:
        stem = graph.chain(first_block.inputs[0]) if first_block.inputs else []
        want = [("zeropad", {"padding": ((3, 3), (3, 3))}),
                ("conv", {"filters": 64, "kernel": (7, 7), "strides": (2, 2)}),
                ("bn", {"axis": 3}), ("relu", {}), ("maxpool", {"pool": (3, 3), "strides": (2, 2)})]
        got = [n.op for n in stem]
        if got != [op for op, _ in want]:
            problems.append("The stem should be ZeroPadding2D((3, 3)) -> Conv2D(64, (7, 7), strides=(2, 2)) -> "
                            f"BatchNormalization(axis=3) -> ReLU -> MaxPooling2D((3, 3), strides=(2, 2)); found {' -> '.join(got)}.")
        else:
            for node, (op, attrs) in zip(stem, want):
                wrong = {k: node.attrs.get(k) for k, v in attrs.items() if node.attrs.get(k) != v}
                if wrong:
                    problems.append(f"In the stem, {op} has {wrong}; expected {attrs}.")
    # Head: everything after the last block stand-in.
    last_block = [n for n in all_nodes if getattr(n.layer, "name", "").startswith("stand_in_")]
    head = graph.chain(root, stop=last_block[-1]) if last_block else graph.chain(root)
    ops = [n.op for n in head]
    if "global_avgpool" in ops:
        problems.append("Use AveragePooling2D(pool_size=(2, 2)) before Flatten, not global average pooling.")
    elif ops != ["avgpool", "flatten", "dense", "softmax"]:
        pretty = " -> ".join(ops)
        if ops[-1:] != ["softmax"]:
            problems.append(f"The output layer needs a softmax: Dense(classes, activation='softmax'); the head is {pretty}.")
        else:
            problems.append(f"The head should be AveragePooling2D((2, 2)) -> Flatten -> Dense(classes, softmax); found {pretty}.")
    else:
        pool, dense = head[0], head[2]
        if pool.attrs["pool"] != (2, 2):
            problems.append(f"AveragePooling2D should use pool_size=(2, 2); found {pool.attrs['pool']}.")
        if dense.attrs["units"] != 6:
            problems.append(f"The Dense layer needs `classes` units (6 here); found {dense.attrs['units']}.")
    if tuple(model.outputs[0].shape) != (None, 6):
        problems.append(f"The model's output shape should be (None, 6); found {tuple(model.outputs[0].shape)}.")
    return problems


def _resnet50_failure(problems: list[str]) -> CheckFailed:
    return CheckFailed("ResNet50():\n" + "\n".join(f"  - {p}" for p in problems))


@failures.learner_facing
def check_resnet50_layout(ResNet50) -> None:
    """Visible check of the stem, the four stages' block calls and the head, with stand-in blocks."""
    assert_resnet50_layout(ResNet50)
    print("ResNet50: layout check passed (stem, 4 stages of 3/4/6/3 blocks, head).")


def assert_resnet50_layout(ResNet50) -> None:
    calls, model, error = record_layout(ResNet50)
    if not calls:
        raise error or CheckFailed("ResNet50 never calls identity_block or convolutional_block: build the stages "
                                   "from them.")
    problems = diagnose_layout(calls)
    if model is None:
        raise _resnet50_failure(problems + [str(error)]) from error  # keeps the learner's error for the notebook
    problems += diagnose_stem_and_head(model)
    if problems:
        raise _resnet50_failure(problems)


@failures.learner_facing
def check_resnet50_model(ResNet50, identity_block=None, convolutional_block=None) -> None:
    """Visible check of the whole model with the learner's own blocks: layer counts and parameters."""

    namespace = ResNet50.__globals__
    identity_block = identity_block or namespace.get("identity_block")
    convolutional_block = convolutional_block or namespace.get("convolutional_block")
    for fn, kind in ((identity_block, "identity"), (convolutional_block, "convolutional")):
        try:
            check_block_structure(fn, VISIBLE_CASES[kind])
        except CheckFailed:
            # A block's mistake costs its own points, not these; but a ResNet50 that cannot be built even
            # from stand-in blocks (not written yet, say) fails here as it fails the layout check.
            _, built, error = record_layout(ResNet50)
            if built is None:
                raise error
            print(f"(Skipped the whole-model check: {kind}_block does not pass its own checks yet.)")
            return
    model = _call_resnet50(ResNet50)
    total = model.count_params()
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    counts = {}
    for layer in model.layers:
        counts[type(layer).__name__] = counts.get(type(layer).__name__, 0) + 1
    problems = []
    if total != RESNET50_PARAMS["total"] or trainable != RESNET50_PARAMS["trainable"]:
        problems.append(f"ResNet50 should have {RESNET50_PARAMS['total']:,} parameters ({RESNET50_PARAMS['trainable']:,} "
                        f"trainable); yours has {total:,} ({trainable:,} trainable).")
    if counts.get("Conv2D", 0) != 53 or counts.get("BatchNormalization", 0) != 53:
        problems.append(f"Expected 53 Conv2D and 53 BatchNormalization layers; found {counts.get('Conv2D', 0)} and "
                        f"{counts.get('BatchNormalization', 0)}.")
    if problems:
        raise _resnet50_failure(problems)
    print(f"ResNet50: model check passed ({total:,} parameters).")
