"""Figures for the ResNet50 assignment on this machine.

    python bench/assignment.py                 # all of the below (the notebook's training takes most)
    python bench/assignment.py --only notebook # the solution notebook top to bottom (training included)
    python bench/assignment.py --only grade    # autograde one correct submission with the project config
    python bench/assignment.py --only backends # two epochs of the notebook's recipe per Keras backend and precision
    python bench/assignment.py --only imports  # CPU seconds of `import keras` per backend (every kernel pays it)

Prints wall time per cell, total wall time, the test accuracy the notebook reports, the autograde time, and
per backend (TensorFlow, PyTorch, JAX) and precision (float32, mixed bfloat16; each in a process of its own,
one after another in the same run) the first epoch (which includes compiling the training step) and a
second epoch, and what importing Keras costs in a fresh process on each backend. Set KERAS_BACKEND to run
the notebook on another backend.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SOURCE = ROOT / "solutions" / "resnet50" / "Residual_Networks.ipynb"


def run_notebook(path: Path, grading: bool = False):
    """Execute a notebook in a fresh kernel; returns (executed notebook, [(seconds, label)], total seconds)."""
    import nbformat
    from nbclient import NotebookClient

    env_backup = os.environ.get("NBGRADER_EXECUTION")
    if grading:
        os.environ["NBGRADER_EXECUTION"] = "autograde"
    else:
        os.environ.pop("NBGRADER_EXECUTION", None)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    nb = nbformat.read(path, as_version=4)
    timings = []

    class Timed(NotebookClient):
        async def async_execute_cell(self, cell, cell_index, **kwargs):
            start = time.perf_counter()
            result = await super().async_execute_cell(cell, cell_index, **kwargs)
            if cell.cell_type == "code":
                label = cell.metadata.get("nbgrader", {}).get("grade_id") or cell.source.strip().splitlines()[0][:60]
                timings.append((time.perf_counter() - start, label))
            return result

    import tempfile

    from jupyter_client.manager import KernelManager

    start = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="kernel-ipc-") as ipc:
            # Unix sockets, not TCP: the kernel does not print its unencrypted-TCP warning among the figures.
            km = KernelManager(kernel_name="python3", transport="ipc", ip=str(Path(ipc) / "kernel"))
            try:
                Timed(nb, km=km, timeout=1800, resources={"metadata": {"path": str(path.parent)}}).execute()
            finally:  # (a kernel manager handed in is not shut down by nbclient)
                if km.has_kernel:
                    km.shutdown_kernel(now=True)
    finally:
        if env_backup is None:
            os.environ.pop("NBGRADER_EXECUTION", None)
        else:
            os.environ["NBGRADER_EXECUTION"] = env_backup
    return nb, timings, time.perf_counter() - start


def notebook_figures() -> None:
    import base64
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:  # a scratch copy: running it must leave the source untouched
        shutil.copytree(SOURCE.parent, Path(tmp) / SOURCE.parent.name)
        nb, timings, total = run_notebook(Path(tmp) / SOURCE.parent.name / SOURCE.name)
    for seconds, label in timings:
        print(f"  {seconds:7.1f} s  {label}")
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    epochs = re.findall(r"accuracy: ([0-9.]+) - loss: [0-9.]+ - val_accuracy: ([0-9.]+)", text)
    if epochs:
        print("per epoch (train accuracy, validation accuracy):", ", ".join(f"({a}, {b})" for a, b in epochs))
    accuracy = re.search(r"Test accuracy[^:]*: ([0-9.]+)", text)
    device = re.search(r"Keras .* backend; device: .*", text)
    print(f"solution notebook, top to bottom: {total:.0f} s ({total / 60:.1f} min)")
    print(f"test accuracy: {accuracy.group(1) if accuracy else 'not found'}")
    print(device.group(0) if device else "")
    # The "your own photo" cell shows its prediction as a plot: keep that picture to look at.
    pictures = [o["data"]["image/png"] for c in nb.cells if c.get("id") == "photo-predict"
                for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    if pictures:
        out = ROOT / "bench" / "out" / "photo_prediction.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(base64.b64decode(pictures[-1]))
        print(f"the sample photo's prediction (images/my_hand.jpg, a 3): {out}")


def grading_figures() -> None:
    from grader import course

    with course.scratch_course("resnet50") as root:
        course.generate_release("resnet50", root)
        course.submit(root, "resnet50", "correct", {SOURCE.name: root / "solutions" / "resnet50" / SOURCE.name})
        start = time.perf_counter()
        score = course.autograde("resnet50", "correct", root)
        seconds = time.perf_counter() - start
    print(f"autograde one correct submission: {seconds:.1f} s wall, score {score.score:g}/{score.max_score:g}")


BACKENDS = ("tensorflow", "torch", "jax")


def not_installed(backend: str) -> str:
    return f"not installed here (.venv/bin/pip install -e '.[{backend}]')"


def epoch_times() -> None:
    """(In a child process, its backend chosen by KERAS_BACKEND.) Two epochs of the notebook's ResNet50 and
    recipe on the shipped data; prints a JSON line of their seconds."""
    import json

    import keras

    from real_transfer import notebook_resnet50
    from resnet_course import data, training

    seconds = []

    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds.append(time.perf_counter() - self.start)

    precision = os.environ.get("BENCH_PRECISION", "auto")
    model = notebook_resnet50()(input_shape=(64, 64, 3), classes=6)
    training.train(model, data.load_signs(), training.Recipe(epochs=2, precision=precision), verbose=0,
                   callbacks=[Clock()])
    print(json.dumps({"backend": keras.backend.backend(), "auto": training.training_precision("auto"),
                      "epochs_s": seconds}))


def backend_figures() -> None:
    import json
    import subprocess

    from resnet_course.training import Recipe

    epochs = Recipe().epochs
    print("\ntwo epochs of the notebook's ResNet50 and recipe on 1080 images, per Keras backend (CPU), computing in"
          "\nfloat32 and in mixed bfloat16 (the recipe's \"auto\" picks the second only where it is native and faster):")
    print(f"  {'backend':12} {'precision':15} {'epoch 1 (compiles) s':>22} {'epoch 2 s':>10}  notebook's {epochs} epochs, estimated")
    for name, precision in ((name, p) for name in BACKENDS for p in ("float32", "mixed_bfloat16")):
        env = {**os.environ, "KERAS_BACKEND": name, "BENCH_PRECISION": precision,
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), str(ROOT / "bench"), os.environ.get("PYTHONPATH")]))}
        done = subprocess.run([sys.executable, __file__, "--epoch-times"], env=env, capture_output=True, text=True)
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if done.returncode != 0 or not lines:
            missing = re.search(r"No module named '(\w+)'", done.stderr)
            why = (not_installed(name) if missing and missing.group(1) == name
                   else (done.stderr.strip().splitlines() or ["failed"])[-1])
            print(f"  {name:12} {precision:15} {why}")
            continue
        result = json.loads(lines[-1])
        first, second = result["epochs_s"]
        auto = " (the recipe's choice here)" if precision == result["auto"] else ""
        print(f"  {name:12} {precision:15} {first:>22.1f} {second:>10.1f}  {(first + (epochs - 1) * second) / 60:.1f} min{auto}")


def import_figures(repeats: int = 3) -> None:
    """CPU seconds (user + system) of a fresh `python -c "import keras"` per backend, the median of `repeats`:
    the floor under every grading kernel and every notebook start. ml_dtypes alone too (Keras imports it)."""
    import resource
    import subprocess
    from importlib.metadata import PackageNotFoundError, version

    def cpu_seconds(code: str, env: dict) -> float | None:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        used = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        return used if done.returncode == 0 else None

    def installed(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    def median(code: str, env: dict) -> str:
        times = [cpu_seconds(code, env) for _ in range(repeats)]
        return "failed" if None in times else f"{sorted(times)[repeats // 2]:>6.2f}"

    print(f"\nCPU seconds to import, a fresh process each, median of {repeats} (ml_dtypes {installed('ml_dtypes')}, "
          f"keras {installed('keras')}):")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    print(f"  {'ml_dtypes':24} {median('import ml_dtypes', env)}")
    for name in BACKENDS:
        shown = median("import keras", {**env, "KERAS_BACKEND": name}) if installed(name) else not_installed(name)
        print(f"  {'keras on ' + name:24} {shown}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["notebook", "grade", "backends", "imports"])
    parser.add_argument("--epoch-times", action="store_true", help=argparse.SUPPRESS)  # (the child of backends)
    args = parser.parse_args()
    if args.epoch_times:
        return epoch_times()
    print(f"backend: {os.environ.get('KERAS_BACKEND', 'tensorflow')}, cores: {os.cpu_count()}")
    if args.only in (None, "notebook"):
        notebook_figures()
    if args.only in (None, "grade"):
        grading_figures()
    if args.only in (None, "backends"):
        backend_figures()
    if args.only in (None, "imports"):
        import_figures()


if __name__ == "__main__":
    main()
