"""The processes a student's kernel starts: seen from outside the kernel, killed when it ends, none outliving it.

The worker becomes a subreaper, so orphans re-parent to it; after each cell it notes what the kernel left
running (grader.pipeline.execute.ExecuteGradedCells); once the kernel has shut down it kills and waits for whatever is
left, then takes back the scratch folders the kernel could write.
"""

from __future__ import annotations

import ctypes
import os
import resource
import sys
from pathlib import Path


def left_running(sandbox_pid: int | None) -> list:
    """Processes the kernel started that are still running: below the sandbox process, all but the chain that
    leads to the kernel (grader.isolation.sandbox, bwrap and its init where used, the kernel)."""
    import psutil

    if not sandbox_pid:
        return []
    try:
        top = psutil.Process(sandbox_pid)
        below = top.children(recursive=True)
        zygotes = [] if below else _zygotes()
        if zygotes:  # a warm kernel: the init of its pid namespace, below the zygote's attendant
            return [p for attendant in zygotes[-1].children() for kernel in attendant.children()
                    for p in kernel.children(recursive=True)]
        kernels = [p for p in below if "ipykernel_launcher" in p.cmdline()[1:3]]  # (bwrap names it later)
        if not kernels:
            return []
        kernel = min(kernels, key=lambda p: (p.create_time(), p.pid))  # (its forks run the same command line)
        chain = {kernel.pid, *(p.pid for p in kernel.parents())}
    except psutil.Error:
        return []
    # Where kernels share the worker's pid namespace an orphan is re-parented to the worker (a subreaper).
    started = top.create_time()
    orphans = []
    for child in psutil.Process().children():
        try:
            if child.pid != sandbox_pid and child.create_time() >= started:
                orphans += [child, *child.children(recursive=True)]
        except psutil.Error:
            pass
    return [p for p in below if p.pid not in chain] + orphans


def _zygotes() -> list:
    """This worker's warm-kernel processes (bwrap, then the zygote: grader.isolation.warm), which outlive kernels."""
    import psutil

    from grader.isolation import warm

    found = []
    for pid in sorted(warm.pids()):
        try:
            found.append(psutil.Process(pid))
        except psutil.Error:
            pass
    return sorted(found, key=lambda p: p.create_time())


def _descendants() -> list:
    """Every process below this worker but its warm-kernel processes (what they fork is included)."""
    import psutil

    spared = {p.pid for p in _zygotes()}
    return [p for p in psutil.Process().children(recursive=True) if p.pid not in spared]


def after_kernel(scratch: list[Path], wait_s: float = 10.0) -> None:
    """Once the kernel has shut down: kill every process it left (under bwrap its pid namespace is already
    gone), wait until none runs, then make its folders safe to read and write: no symbolic link (nbgrader
    would write the graded notebook through it), no FIFO or device, owned by this process's user again."""
    import psutil

    left = _descendants()
    for process in left:
        try:
            process.kill()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(left, timeout=wait_s)
    if alive:
        raise RuntimeError(f"{len(alive)} process(es) of the student's kernel would not die")
    for folder in scratch:
        if not folder.is_dir() or folder.is_symlink():
            continue
        for parent, dirs, files in os.walk(folder):
            for name in dirs + files:
                path = Path(parent) / name
                if path.is_symlink() or not (path.is_dir() or path.is_file()):
                    path.unlink()
                elif os.geteuid() == 0:
                    os.chown(path, 0, 0, follow_symlinks=False)
            dirs[:] = [d for d in dirs if (Path(parent) / d).is_dir() and not (Path(parent) / d).is_symlink()]
        if os.geteuid() == 0:
            os.chown(folder, 0, 0, follow_symlinks=False)


def become_subreaper() -> None:
    """Orphaned processes a student's code leaves behind re-parent to this worker, so they can be killed."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
        except (OSError, AttributeError):
            pass


def kill_descendants() -> None:
    import psutil

    for process in _descendants():
        try:
            process.kill()
        except psutil.Error:
            pass


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
