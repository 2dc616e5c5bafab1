"""Speed and accuracy of the course's ResNet50 with every Keras backend and with native PyTorch.

Each run trains the notebook's own ResNet50 (64x64x3 -> 6 classes, 23,600,006 parameters) with the course's
recipe, read at run time from `resnet_course.training.Recipe` (AdamW, cosine decay over all steps, label
smoothing, BatchNorm momentum, the NumPy augmentation, the validation images and keeping the best
epoch's weights where the recipe does), on the shipped hand signs, and tests it after every epoch:

    keras-jax, keras-torch, keras-tensorflow  the notebook's cells trained by `training.train`, each in a
                                              subprocess of its own (KERAS_BACKEND is read when Keras is imported)
    torch-native                              the same network as an nn.Module, in a plain PyTorch loop

A line is printed per epoch as it ends, then a markdown table: first epoch (compilation included), steady
seconds per epoch, images per second, time to the target test accuracy, final test accuracy, peak GPU
memory. A backend that is not installed is listed as such.

On a GPU machine (on Hopper, JAX and PyTorch: TensorFlow 2.21 has only PTX for compute 9.0 and compiles its
kernels at first use), after `python3 kit.py test --collect-only` or `kit.py lab` has made .venv:

    .venv/bin/pip install -e '.[jax]' "jax[cuda12]"   # JAX with CUDA
    .venv/bin/pip install -e '.[torch]'               # PyPI's Linux torch is a CUDA build (uninstall a +cpu one first)
    .venv/bin/python bench/gpu.py --epochs 7          # every run, float32, the recipe's batch size
    .venv/bin/python bench/gpu.py --runs keras-jax,torch-native --precision bf16 --target 0.95

On a CPU, the smoke run the test makes (about a minute on 2 idle cores):
`.venv/bin/python bench/gpu.py --limit 16 --batch-size 10 --epochs 2`.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import importlib.util
import inspect
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFER_TENSORFLOW = "RESNET_COURSE_DEFER_TENSORFLOW"  # "1": `import resnet_course` does not import TensorFlow

PARAMETERS = 23_600_006  # FACTS.md "The reference architecture": trainable + BN moving mean and variance
RUNS = ("keras-jax", "keras-torch", "keras-tensorflow", "torch-native")
NEEDS = {"keras-jax": ("keras", "jax"), "keras-torch": ("keras", "torch"),
         "keras-tensorflow": ("keras", "tensorflow"), "torch-native": ("torch",)}
FRAMEWORK = {"keras-jax": "jax", "keras-torch": "torch", "keras-tensorflow": "tensorflow", "torch-native": "torch"}
RESULT_TAG = "BENCH-RESULT "  # the worker's last stdout line: this tag and its figures as JSON
# What the bench falls back on for a field the Recipe does not have (the values of the recipe it was written for).
RECIPE_DEFAULTS = {"epochs": 7, "batch_size": 32, "learning_rate": 1e-3, "weight_decay": 1e-4,
                   "label_smoothing": 0.1, "bn_momentum": 0.9, "augment": True, "seed": 0}
COLUMNS = ("run", "status", "device", "precision", "parameters", "first epoch s", "steady s/epoch", "img/s",
           "time to target", "final accuracy", "peak memory")


# ---------------------------------------------------------------------------------------------- recipe, data


def recipe_for(args):
    """The course's Recipe with --epochs and --batch-size applied and the precision left to the bench (only
    to fields the Recipe has)."""
    from resnet_course import training

    recipe = training.Recipe()
    # "float32" leaves each layer's dtype as built: the bench picks the precision itself (--precision).
    overrides = {"epochs": args.epochs, "batch_size": args.batch_size, "precision": "float32"}
    names = {f.name for f in dataclasses.fields(recipe)} if dataclasses.is_dataclass(recipe) else set()
    chosen = {k: v for k, v in overrides.items() if v is not None and k in names}
    return dataclasses.replace(recipe, **chosen) if chosen else recipe


def setting(recipe, name: str, args=None):
    """One recipe field; getattr with a default because the Recipe class changes under this bench."""
    override = getattr(args, name, None) if args is not None else None
    return override if override is not None else getattr(recipe, name, RECIPE_DEFAULTS[name])


def load_data(limit: int | None):
    """The shipped hand signs (or $SIGNS_DATA), cut to the first `limit` images of each split."""
    from resnet_course import data

    signs = data.load_signs()
    if not limit:
        return signs
    splits = {name: getattr(signs, name) for name in ("x_train", "y_train", "x_test", "y_test", "x_val", "y_val")}
    return dataclasses.replace(signs, **{k: v[:limit] for k, v in splits.items() if v is not None})


def training_split(signs, recipe):
    """The images `training.train` fits on and validates with: `data.with_validation`'s split where the
    package has one (the data set's own validation images, or a held-out part of the training images), else
    none (train() validated on the test set)."""
    from resnet_course import data

    split = getattr(data, "with_validation", None)
    fraction = getattr(recipe, "val_fraction", None)
    if split is None or fraction is None:
        return signs
    return split(signs, fraction, setting(recipe, "seed"))


# ---------------------------------------------------------------------------------------------- measuring


class EpochLog:
    """The figures of one run, an epoch at a time, printed as each epoch ends (a stalled run shows where).

    The recipe's own validation pass counts as training time; the bench's test pass after each epoch (to
    time the target test accuracy) does not: it is measuring, and its first call compiles on some backends.
    """

    def __init__(self, epochs: int, train_images: int, target: float):
        self.epochs, self.train_images, self.target = epochs, train_images, target
        self.rows: list[dict] = []
        self.start = time.perf_counter()
        self.measuring_s = 0.0
        self.target_s = None

    def begin(self) -> None:
        self.start, self.measuring_s = time.perf_counter(), 0.0

    def epoch(self, train_s: float, loss: float, train_accuracy: float, val_s: float, val_accuracy: float | None,
              test_s: float, test_accuracy: float) -> None:
        self.measuring_s += test_s
        elapsed = time.perf_counter() - self.start - self.measuring_s
        if self.target_s is None and test_accuracy >= self.target:
            self.target_s = elapsed
        self.rows.append({"train_s": train_s, "loss": loss, "train_accuracy": train_accuracy, "val_s": val_s,
                          "val_accuracy": val_accuracy, "test_s": test_s, "test_accuracy": test_accuracy,
                          "elapsed_s": elapsed})
        validation = "n/a" if val_accuracy is None else f"{val_accuracy:.3f}"
        print(f"epoch {len(self.rows)}/{self.epochs}: train {train_s:.2f} s ({self.train_images / train_s:.1f} img/s), "
              f"loss {loss:.4f}, accuracy {train_accuracy:.3f}; validation {val_s:.2f} s, accuracy {validation}; "
              f"test accuracy {test_accuracy:.3f} ({test_s:.2f} s, not counted); elapsed {elapsed:.1f} s", flush=True)

    def summary(self, final_accuracy: float) -> dict:
        first = self.rows[0]
        # Epoch 1 carries the compilation (and, on JAX and TF, a second one for the smaller last batch), so
        # "steady" is the median training pass of the later epochs; with one epoch there is none.
        later = [r["train_s"] for r in self.rows[1:]]
        steady = statistics.median(later) if later else None
        return {"first_epoch_s": first["train_s"] + first["val_s"], "steady_s": steady,
                "images_per_s": self.train_images / steady if steady else None, "target_s": self.target_s,
                "final_accuracy": final_accuracy, "epochs": self.rows}


def peak_memory_bytes(framework: str) -> int | None:
    """The most GPU memory the framework held in this process; None where it runs on a CPU."""
    if framework == "torch":
        import torch

        return torch.cuda.max_memory_allocated() if torch.cuda.is_available() else None
    if framework == "jax":
        import jax

        device = jax.local_devices()[0]
        stats = device.memory_stats() if device.platform != "cpu" else None
        return (stats or {}).get("peak_bytes_in_use")
    import tensorflow as tf

    if not tf.config.list_logical_devices("GPU"):
        return None
    return tf.config.experimental.get_memory_info("GPU:0")["peak"]


def use_precision(framework: str, precision: str) -> None:
    """float32 means true float32 matmuls and convolutions on every framework (TF and JAX default to TF32 on
    Ampere and newer, torch's cuDNN convolutions too), tf32 allows TF32 everywhere, so that runs compare like
    with like. bf16 (mixed bfloat16, set by the caller) leaves these at the framework's defaults."""
    if precision == "bf16":
        return
    tf32 = precision == "tf32"
    if framework == "torch":
        import torch

        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
    elif framework == "jax":
        import jax

        jax.config.update("jax_default_matmul_precision", "tensorfloat32" if tf32 else "float32")
    else:
        import tensorflow as tf

        tf.config.experimental.enable_tensor_float_32_execution(tf32)


# ---------------------------------------------------------------------------------------------- Keras runs


def notebook_resnet50():
    """`ResNet50` as the solution notebook defines it: its first import cell, then its three exercise cells."""
    from grader.mutants import Suite, notebook_imports

    suite = Suite("resnet50")
    imports, _ = suite.graded_cells()
    namespace: dict = {}
    with notebook_imports(suite.unit):  # its `import checks`, as in the notebook's folder
        exec(compile(imports, f"{suite.source.name}: import cell", "exec"), namespace)
    sources = suite.solution_sources()
    for exercise in suite.exercises:
        exec(compile(sources[exercise], f"{suite.source.name}: {exercise}", "exec"), namespace)
    return namespace["ResNet50"]


def keras_epoch_timer(log: EpochLog, test_accuracy):
    """A Keras callback timing each epoch's training pass and validation pass apart, then testing."""
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            log.begin()

        def on_epoch_begin(self, epoch, logs=None):
            self.started, self.validating = time.perf_counter(), None

        def on_test_begin(self, logs=None):
            # GPU backends run steps asynchronously; reading the step counter waits for the last one.
            keras.ops.convert_to_numpy(self.model.optimizer.iterations)
            self.validating = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            now = time.perf_counter()
            validating = self.validating or now
            accuracy = test_accuracy()
            log.epoch(validating - self.started, logs["loss"], logs["accuracy"], now - validating,
                      logs.get("val_accuracy"), time.perf_counter() - now, accuracy)

    return EpochTimer()


def train_with_callback(model, signs, recipe, callback) -> None:
    """`training.train`, the notebook's own training function, with our callback, so that the bench trains
    exactly what a learner trains. A train() without `callbacks` gets it through the one fit call it makes."""
    from resnet_course import training

    if "callbacks" in inspect.signature(training.train).parameters:
        training.train(model, signs, recipe, verbose=0, callbacks=[callback])
        return
    fit = model.fit

    def fit_with_callback(*args, callbacks=None, **kwargs):
        return fit(*args, callbacks=[*(callbacks or []), callback], **kwargs)

    model.fit = fit_with_callback
    training.train(model, signs, recipe, verbose=0)


def keras_run(args) -> dict:
    import keras

    from resnet_course import backend, training

    framework = keras.backend.backend()
    if args.precision == "bf16":
        keras.config.set_dtype_policy("mixed_bfloat16")
    use_precision(framework, args.precision)
    recipe, signs = recipe_for(args), load_data(args.limit)
    resnet50 = notebook_resnet50()
    model = resnet50(input_shape=(64, 64, 3), classes=6)
    parameters = model.count_params()
    print(f"model: the notebook's ResNet50, {len(model.layers)} layers, {parameters:,} parameters", flush=True)

    def test_accuracy():
        return training.accuracy(model, signs.x_test, signs.y_test)

    log = EpochLog(setting(recipe, "epochs"), len(training_split(signs, recipe).x_train), args.target)
    train_with_callback(model, signs, recipe, keras_epoch_timer(log, test_accuracy))
    final = test_accuracy()  # the weights train() ends with (the best epoch's, where the recipe keeps it)
    print(f"final test accuracy {final:.3f}", flush=True)
    info = backend.describe()
    device = ", ".join(info["accelerators"]) or "CPU"
    return {"device": device, "parameters": parameters, "peak_memory": peak_memory_bytes(framework),
            **log.summary(final)}


# ---------------------------------------------------------------------------------------------- native PyTorch


def torch_resnet50(classes: int = 6, bn_momentum: float = 0.9):
    """The course's ResNet50 as an nn.Module. `bn_momentum` is Keras's (weight of the old average): PyTorch's
    momentum is the weight of the new batch, 1 - that. BN epsilon is Keras's 1e-3, not PyTorch's 1e-5."""
    import torch
    from torch import nn

    def conv_bn(c_in, c_out, kernel, stride=1, padding=0):
        return [nn.Conv2d(c_in, c_out, kernel, stride, padding), nn.BatchNorm2d(c_out, 1e-3, 1 - bn_momentum)]

    class Bottleneck(nn.Module):
        """1x1 (stride s) -> fxf -> 1x1 convolutions, each with BN, plus the shortcut, then ReLU. The
        convolutional block's shortcut is a strided 1x1 conv + BN; the identity block's is the input."""

        def __init__(self, c_in, filters, stride=1, projection=False, f=3):
            super().__init__()
            f1, f2, f3 = filters
            self.main = nn.Sequential(*conv_bn(c_in, f1, 1, stride), nn.ReLU(),
                                      *conv_bn(f1, f2, f, padding=f // 2), nn.ReLU(), *conv_bn(f2, f3, 1))
            self.shortcut = nn.Sequential(*conv_bn(c_in, f3, 1, stride)) if projection else nn.Identity()
            # The notebook's initialisers, not PyTorch's, so that a difference in accuracy comes from the
            # framework and not from the starting point: glorot_uniform in the convolutional block,
            # random_uniform (-0.05 to 0.05, Keras's defaults) in the identity block; zero biases.
            for layer in self.modules():
                if isinstance(layer, nn.Conv2d):
                    if projection:
                        nn.init.xavier_uniform_(layer.weight)
                    else:
                        nn.init.uniform_(layer.weight, -0.05, 0.05)
                    nn.init.zeros_(layer.bias)

        def forward(self, x):
            return torch.relu(self.main(x) + self.shortcut(x))

    def stage(c_in, filters, blocks, stride):
        return [Bottleneck(c_in, filters, stride, projection=True),
                *(Bottleneck(filters[2], filters) for _ in range(blocks - 1))]

    class ResNet50(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(
                *conv_bn(3, 64, 7, stride=2, padding=3), nn.ReLU(), nn.MaxPool2d(3, 2),  # padding=3: ZeroPadding2D(3)
                *stage(64, [64, 64, 256], 3, 1), *stage(256, [128, 128, 512], 4, 2),
                *stage(512, [256, 256, 1024], 6, 2), *stage(1024, [512, 512, 2048], 3, 2),
                nn.AvgPool2d(2), nn.Flatten())
            self.classifier = nn.Linear(2048, classes)  # logits: CrossEntropyLoss applies the softmax
            for layer in (self.features[0], self.classifier):  # glorot_uniform, as in the notebook
                nn.init.xavier_uniform_(layer.weight)
                nn.init.zeros_(layer.bias)

        def forward(self, x):
            return self.classifier(self.features(x))

    return ResNet50()


def parameter_count(model) -> int:
    """Counted as Keras counts: the trainable parameters plus BN's moving mean and variance."""
    from torch import nn

    running = sum(m.running_mean.numel() + m.running_var.numel() for m in model.modules()
                  if isinstance(m, nn.BatchNorm2d))
    return sum(p.numel() for p in model.parameters()) + running


def torch_device():
    import torch

    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def shuffled_batches(x, y, batch_size: int, rng, augmented: bool):
    """One epoch in a fresh random order, augmented with the course's NumPy function (as `data.batches` is)."""
    from resnet_course import data

    order = rng.permutation(len(x))
    for start in range(0, len(x), batch_size):
        idx = order[start : start + batch_size]
        yield (data.augment(x[idx], rng) if augmented else x[idx]), y[idx]


def to_tensor(images, device, channels_last: bool):
    """uint8 NHWC -> float NCHW in [0, 1] (the course's `to_inputs`) on the device."""
    import torch

    from resnet_course import data

    x = torch.from_numpy(data.to_inputs(images)).permute(0, 3, 1, 2)
    # channels_last is PyTorch's advice for convolutions on tensor-core GPUs (and what Keras uses anyway).
    return x.to(device, memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def torch_evaluate(model, x, y, loss_fn, device, autocast, channels_last: bool, batch_size: int = 128):
    """(mean loss, accuracy) in inference mode, in batches of 128 as the Keras runs evaluate."""
    import torch

    model.eval()
    loss, correct = 0.0, 0
    with torch.inference_mode(), autocast():
        for start in range(0, len(x), batch_size):
            labels = torch.from_numpy(y[start : start + batch_size]).to(device)
            logits = model(to_tensor(x[start : start + batch_size], device, channels_last))
            loss += loss_fn(logits.float(), labels).item() * len(labels)
            correct += (logits.argmax(1) == labels).sum().item()
    return loss / len(x), correct / len(x)


def torch_native_run(args) -> dict:
    import numpy as np
    import torch

    recipe, signs = recipe_for(args), load_data(args.limit)
    split = training_split(signs, recipe)  # the same held-out validation images as train() holds out
    validation = (split.x_val, split.y_val) if split.x_val is not None else (signs.x_test, signs.y_test)
    epochs, batch_size = setting(recipe, "epochs", args), setting(recipe, "batch_size", args)
    keep_best = bool(getattr(recipe, "keep_best", False))
    device = torch_device()
    use_precision("torch", args.precision)
    torch.manual_seed(setting(recipe, "seed"))
    torch.backends.cudnn.benchmark = True  # fixed input shapes: let cuDNN pick its fastest kernels once
    channels_last = device.type == "cuda"
    model = torch_resnet50(bn_momentum=setting(recipe, "bn_momentum")).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    parameters = parameter_count(model)
    assert parameters == PARAMETERS, f"the native ResNet50 has {parameters:,} parameters, not {PARAMETERS:,}"
    print(f"model: native nn.Module ResNet50, {parameters:,} parameters", flush=True)

    steps = epochs * -(-len(split.x_train) // batch_size)
    # Keras's AdamW and CosineDecay: the same decoupled decay (lr * wd), epsilon 1e-7, decay to 0 over all steps.
    optimizer = torch.optim.AdamW(model.parameters(), lr=setting(recipe, "learning_rate"), eps=1e-7,
                                  weight_decay=setting(recipe, "weight_decay"))
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=setting(recipe, "label_smoothing"))

    def autocast():
        return torch.autocast(device.type, torch.bfloat16, enabled=args.precision == "bf16")

    def evaluate(x, y):
        return torch_evaluate(model, x, y, loss_fn, device, autocast, channels_last)

    rng = np.random.default_rng(setting(recipe, "seed"))
    log = EpochLog(epochs, len(split.x_train), args.target)
    best_loss, best_state = float("inf"), None
    for _ in range(epochs):
        started = time.perf_counter()
        model.train()
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        for images, labels in shuffled_batches(split.x_train, split.y_train, batch_size, rng,
                                               bool(setting(recipe, "augment"))):
            x = to_tensor(images, device, channels_last)
            y = torch.from_numpy(labels).to(device)
            with autocast():
                logits = model(x)
                loss = loss_fn(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            # Summed on the device: a .item() per step would wait for the GPU every step.
            loss_sum += loss.detach() * len(labels)
            correct += (logits.argmax(1) == y).sum()
        n = len(split.x_train)
        train_loss, train_accuracy = loss_sum.item() / n, correct.item() / n  # waits for the last step
        validating = time.perf_counter()
        val_loss, val_accuracy = evaluate(*validation)
        if keep_best and val_loss < best_loss:  # as the recipe's EarlyStopping(restore_best_weights=True)
            best_loss, best_state = val_loss, {k: v.detach().clone() for k, v in model.state_dict().items()}
        testing = time.perf_counter()
        _, test_accuracy = evaluate(signs.x_test, signs.y_test)
        log.epoch(validating - started, train_loss, train_accuracy, testing - validating, val_accuracy,
                  time.perf_counter() - testing, test_accuracy)
    if best_state is not None:
        model.load_state_dict(best_state)
    final = evaluate(signs.x_test, signs.y_test)[1]
    print(f"final test accuracy {final:.3f}", flush=True)
    name = torch.cuda.get_device_name(0) if device.type == "cuda" else ("Apple MPS" if device.type == "mps" else "CPU")
    return {"device": name, "parameters": parameters, "peak_memory": peak_memory_bytes("torch"), **log.summary(final)}


def worker(args) -> None:
    """One run, in this process: its lines on stdout, then its figures as one tagged JSON line."""
    result = torch_native_run(args) if args.worker == "torch-native" else keras_run(args)
    print(RESULT_TAG + json.dumps(result), flush=True)


# ---------------------------------------------------------------------------------------------- the parent


def version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def accelerator() -> str:
    """What GPU the machine has, asked without importing a framework."""
    if shutil.which("nvidia-smi"):
        query = ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"]
        try:
            found = subprocess.run(query, capture_output=True, text=True, timeout=60).stdout.strip()
        except (OSError, subprocess.TimeoutExpired) as e:
            found = f"nvidia-smi failed: {e}"
        if found:
            return "; ".join(found.splitlines())
    return f"no NVIDIA GPU found (CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


def missing_modules(run: str) -> list[str]:
    return [m for m in NEEDS[run] if importlib.util.find_spec(m) is None]


def worker_command(args, run: str) -> list[str]:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", run, "--precision", args.precision,
               "--target", str(args.target)]
    for flag, value in (("--epochs", args.epochs), ("--batch-size", args.batch_size), ("--limit", args.limit)):
        if value is not None:
            command += [flag, str(value)]
    return command


def worker_env(run: str) -> dict:
    env = dict(os.environ, PYTHONUNBUFFERED="1", MPLBACKEND="Agg")
    if run.startswith("keras-"):
        env["KERAS_BACKEND"] = FRAMEWORK[run]
        env.pop(DEFER_TENSORFLOW, None)  # the notebook's first `import resnet_course` quiets TensorFlow's import
    return env


def run_in_subprocess(args, run: str) -> dict:
    """Run one worker, echoing its lines as they come with the run's name in front; its figures or why not."""
    process = subprocess.Popen(worker_command(args, run), env=worker_env(run), stdout=subprocess.PIPE, text=True,
                               cwd=ROOT)
    result = None
    for line in process.stdout:
        if line.startswith(RESULT_TAG):
            result = json.loads(line[len(RESULT_TAG):])
        else:
            print(f"[{run}] {line.rstrip()}", flush=True)
    code = process.wait()
    if code != 0 or result is None:
        return {"status": f"failed (exit {code}; its output is above)"}
    return {"status": "ok", **result}


def seconds(value) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def images_per_second(value) -> str:
    return "n/a" if value is None else f"{value:,.0f}" if value >= 100 else f"{value:.2g}"


def memory(value) -> str:
    return "n/a" if value is None else f"{value / 2**30:.2f} GiB"


def table_row(run: str, precision: str, result: dict) -> list[str]:
    if result["status"] != "ok":
        return [run, result["status"], *["-"] * (len(COLUMNS) - 2)]
    return [run, "ok", result["device"], precision, f"{result['parameters']:,}", seconds(result["first_epoch_s"]),
            seconds(result["steady_s"]),
            images_per_second(result["images_per_s"]),
            "not reached" if result["target_s"] is None else f"{result['target_s']:.1f} s",
            f"{result['final_accuracy']:.3f}", memory(result["peak_memory"])]


def markdown_table(rows: list[list[str]]) -> str:
    lines = [COLUMNS, ["---"] * len(COLUMNS), *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def print_header(args, runs: list[str]) -> None:
    recipe, signs = recipe_for(args), load_data(args.limit)
    print(f"accelerator: {accelerator()}", flush=True)
    print(f"python {platform.python_version()}, " + ", ".join(f"{p} {version(p)}" for p in
          ("keras", "jax", "jaxlib", "torch", "tensorflow", "numpy")), flush=True)
    values = dataclasses.asdict(recipe) if dataclasses.is_dataclass(recipe) else {}
    values.update({name: setting(recipe, name, args) for name in RECIPE_DEFAULTS})
    fields = ", ".join(f"{name} {value}" for name, value in values.items())
    print(f"recipe ({type(recipe).__module__}.{type(recipe).__name__}): {fields}; AdamW, cosine decay over all steps, "
          f"label-smoothed cross-entropy", flush=True)
    split = training_split(signs, recipe)
    held = "" if split.x_val is None else f" ({len(split.x_train)} trained on, {len(split.x_val)} for validation)"
    print(f"data: {len(signs.x_train)} train{held} / {len(signs.x_test)} test images from {signs.source}; precision "
          f"{args.precision}; target test accuracy {args.target}; runs: {', '.join(runs)}", flush=True)


def main_parent(args) -> None:
    runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    unknown = sorted(set(runs) - set(RUNS))
    if unknown:
        raise SystemExit(f"unknown runs {unknown}; choose from {', '.join(RUNS)}")
    print_header(args, runs)
    rows, started = [], time.perf_counter()
    for run in runs:
        missing = missing_modules(run)
        if missing:
            result = {"status": f"not installed ({', '.join(missing)})"}
            print(f"[{run}] {result['status']}", flush=True)
        else:
            print(f"[{run}] starting", flush=True)
            result = run_in_subprocess(args, run)
        rows.append(table_row(run, args.precision, result))
    print(f"\nResNet50, {args.precision}. first epoch: its training and validation passes, compilation included; "
          f"steady: the median training pass of epochs 2 and later; time to target: from the start of training "
          f"to the end of the first epoch whose test accuracy reaches {args.target}, the bench's test passes not "
          f"counted; final accuracy: on the test set, with the weights training ended with "
          f"({time.perf_counter() - started:.0f} s in all)\n", flush=True)
    print(markdown_table(rows), flush=True)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, help="default: the recipe's")
    parser.add_argument("--batch-size", type=int, help="default: the recipe's")
    parser.add_argument("--limit", type=int, help="use only the first N train and the first N test images")
    parser.add_argument("--runs", default=",".join(RUNS), help=f"comma-separated, from {', '.join(RUNS)}")
    parser.add_argument("--precision", choices=("float32", "bf16", "tf32"), default="float32")
    parser.add_argument("--target", type=float, default=0.9, help="the test accuracy to time (default 0.9)")
    parser.add_argument("--worker", choices=RUNS, help=argparse.SUPPRESS)  # the parent's call to one run
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    if not (args.worker or "").startswith("keras-"):  # the parent and the native run never need TensorFlow
        os.environ.setdefault(DEFER_TENSORFLOW, "1")
    if args.worker:
        worker(args)
    else:
        main_parent(args)


if __name__ == "__main__":
    main()
