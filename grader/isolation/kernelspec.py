"""How a grading kernel is started: the confinement this worker can give it (grader.isolation.sandbox), what it may see,
and the kernelspec that starts it through grader.isolation.sandbox with the submission's limits.

What the kernel may read is derived, not listed: the runtime, the course package, the data set, the kernel
side of the grader (grader/units.py, grader/kernel/) and of each assignment unit (grader.units.kernel_files).
"""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path

from grader import units
from grader.pipeline.jobs import Limits
from grader.isolation import sandbox
from grader.kernel import evidence

KERNEL_NAME = "resnet-course-grading"


@functools.cache
def confinement() -> str:
    """grader.isolation.sandbox.mode() on this worker, found once."""
    return sandbox.mode()


def visible(unit: str) -> list[Path]:
    """What a grading kernel of `unit` may read besides the system's libraries: the Python runtime, the course
    package, the data set (and SIGNS_DATA, where set), the grader's kernel side and the unit's
    (grader.units.kernel_files). Nothing else of the kit or of the course: no solution, judge or gradebook."""
    import resnet_course

    package = Path(units.__file__).resolve().parent  # grader/
    paths = [Path(sys.prefix), Path(resnet_course.__file__).parent, units.ROOT / "datasets",
             package / "__init__.py", package / "units.py", package / "kernel", *units.kernel_files(unit)]
    if os.environ.get("SIGNS_DATA"):
        paths.append(Path(os.environ["SIGNS_DATA"]).expanduser())
    return list(dict.fromkeys(p.resolve() for p in paths if p.exists()))


def allowed(unit: str) -> list[str]:
    """The allow-list root's contents (bubblewrap): `visible` but the runtime, which grader.isolation.sandbox binds."""
    return [str(p) for p in visible(unit) if p != Path(sys.prefix).resolve()]


def concealed(unit: str, private: tuple[str, ...] = ()) -> list[str]:
    """What a kernel must not see where no allow-list root is possible (a mount namespace hides paths): every
    entry of the kit's checkout, of the units' folder and of the `private` course folders that is not
    `visible` and holds nothing visible; a folder that holds something visible is hidden entry by entry."""
    shown = visible(unit)

    def hide(folder: Path) -> list[str]:
        hidden = []
        for entry in sorted(folder.iterdir()):
            entry = entry.resolve()
            if entry in shown or any(p in entry.parents for p in shown) or entry.name.endswith(".egg-info"):
                continue  # visible, or inside something visible (*.egg-info: the editable install's metadata)
            if any(entry in p.parents for p in shown):
                hidden += hide(entry)  # it holds something visible: hide the rest of it
            else:
                hidden.append(str(entry))
        return hidden

    bases = [units.ROOT, units.folder(), *(Path(p).resolve() for p in private)]
    return list(dict.fromkeys(h for base in dict.fromkeys(bases) if base.is_dir() for h in hide(base)))


WARM_ENV = "RESNET_COURSE_WARM_KERNELS"  # "0": start every kernel afresh, importing Keras (slower, see warm)


def kernel_env(limits: Limits) -> dict[str, str]:
    """The environment every grading kernel of these limits gets (besides its own evidence folder)."""
    threads = str(limits.threads)
    env = {"TF_NUM_INTRAOP_THREADS": threads, "TF_NUM_INTEROP_THREADS": threads, "OMP_NUM_THREADS": threads,
           "MKL_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads, "TF_CPP_MIN_LOG_LEVEL": "3",
           "MPLBACKEND": "agg", units.ENV: str(units.folder())}
    if limits.keras_backend:
        env["KERAS_BACKEND"] = limits.keras_backend
    return env


def warm_zygote(unit: str, limits: Limits):
    """This worker's warm-kernel process for `unit` (grader.isolation.warm), where bubblewrap works and it is not
    turned off; None otherwise, or when it cannot start (then kernels start afresh, as before)."""
    if not confinement().startswith("bwrap") or os.environ.get(WARM_ENV) == "0":
        return None
    from grader import course
    from grader.isolation import warm

    course.kernel_environment()  # (this repository importable: the zygote runs grader.isolation.warm)
    # It may read what a kernel reads and the isolation code it runs (no solution, judge or gradebook).
    isolation = Path(warm.__file__).resolve().parent
    code = [str(isolation / name) for name in ("__init__.py", "sandbox.py", "warm.py")]
    try:
        return warm.zygote([*allowed(unit), *code], kernel_env(limits), limits.network)
    except (OSError, RuntimeError) as e:
        print(f"warm kernels unavailable ({e}): each kernel starts afresh", file=sys.stderr)
        os.environ[WARM_ENV] = "0"
        return None


def write_kernelspec(folder: Path, report: Path, unit: str, limits: Limits, keep: list[Path], zygote=None) -> None:
    """The kernelspec of one submission's kernel: started alone in its sandbox, or forked by `zygote`."""
    spec = folder / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True)
    confine = []
    if zygote is not None:
        confine = [f"--warm={zygote.socket}", *(f"--keep={p}" for p in keep)]
        if zygote.uid:
            confine.append(f"--warm-uid={zygote.uid}")
    elif confinement().startswith("bwrap"):
        confine = ["--confine=bwrap", *(f"--allow={p}" for p in allowed(unit)), *(f"--keep={p}" for p in keep)]
    elif confinement() != "limits":
        confine = ["--confine", *(f"--conceal={p}" for p in concealed(unit, limits.private)),
                   *(f"--allow={p}" for p in allowed(unit)), *(f"--keep={p}" for p in keep)]
    if confinement() in ("user", "bwrap-user") or zygote is not None:
        confine.append(f"--max-processes={limits.max_processes}")
    starter = "grader.isolation.warm" if zygote is not None else "grader.isolation.sandbox"
    argv = [sys.executable, "-m", starter, "--report", str(report), "--memory-mb", str(limits.memory_mb),
            "--cpu-seconds", str(limits.submission_timeout * max(1, limits.threads)),
            "--max-file-mb", str(limits.max_file_mb), *([] if limits.network else ["--no-network"]), *confine, "--",
            sandbox.python_executable(), "-m", "ipykernel_launcher", "-f", "{connection_file}",
            "--HistoryManager.enabled=False",  # no history database to create in each fresh home folder
            # Quiet on the grader's terminal, where each kernel otherwise prints an 8-line note on Ctrl-C (the
            # "no parent" case) and a warning on TCP without encryption (loopback only here). parent_handle=1
            # is ipykernel's "launched by a parent" without its parent poller, which a pid namespace's init
            # (the kernel's parent there is pid 1) would trip at once.
            "--IPKernelApp.parent_handle=1", "--IPKernelApp.log_level=ERROR",
            # Once the kernel is told to shut down, skip the interpreter's clean-up: tearing TensorFlow down
            # costs more CPU (about 1.5 s) than any graded cell. (No name is bound in the notebook.)
            # The watch notes what cells leave running (grader.kernel.watch), from before the first cell.
            """--IPKernelApp.exec_lines=["__import__('atexit').register(__import__('os')._exit, 0);"""
            """__import__('grader.kernel.watch', fromlist=['start']).start()"]"""]
    env = {**kernel_env(limits), evidence.ENV: str(folder / "evidence")}
    (spec / "kernel.json").write_text(json.dumps(
        {"argv": argv, "display_name": "ResNet course grading", "language": "python", "env": env}))
