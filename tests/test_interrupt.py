"""Ctrl-C during autograde, as an instructor presses it in a terminal: the whole process group gets SIGINT.

The command must stop promptly with exit code 130, leave no kernel or worker behind, keep every recorded
result whole, say what was graded and how to resume; and the next run must grade what was left.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import psutil
import pytest

from grader import course

from grader.pipeline import record

ASSIGNMENT = "resnet50"
NOTEBOOK = "Residual_Networks.ipynb"


def _alive(processes) -> list[str]:
    left = []
    for p in processes:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                left.append(f"{p.pid} {' '.join(p.cmdline())[:120]}")
        except psutil.NoSuchProcess:
            pass
    return left


@pytest.fixture
def two_students(tmp_path):
    root = tmp_path / "course"
    for part in ("solutions", "assignments"):
        shutil.copytree(course.ROOT / part / ASSIGNMENT, root / part / ASSIGNMENT)
    for student in ("ann", "bob"):
        course.submit(root, ASSIGNMENT, student, {NOTEBOOK: root / "solutions" / ASSIGNMENT / NOTEBOOK})
    return root


def test_ctrl_c_stops_everything_and_the_next_run_resumes(two_students):
    root = two_students
    command = [sys.executable, "-m", "grader", "--course", str(root), "autograde", ASSIGNMENT, "--workers", "1"]
    grader = subprocess.Popen(command, cwd=course.ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              start_new_session=True)
    me = psutil.Process(grader.pid)
    # Press Ctrl-C once a student kernel is running (a kernel is the grader's grandchild or deeper).
    deadline = time.monotonic() + 240
    seen: dict[int, psutil.Process] = {}
    while time.monotonic() < deadline and grader.poll() is None:
        try:
            for p in me.children(recursive=True):
                seen.setdefault(p.pid, p)
            if any("ipykernel" in " ".join(p.cmdline()) for p in seen.values() if p.is_running()):
                break
        except psutil.Error:
            pass
        time.sleep(0.2)
    assert grader.poll() is None, "autograde ended before a kernel started: " + grader.stderr.read()[-2000:]
    time.sleep(2)  # (inside the kernel's start-up: the worst moment)
    seen.update({p.pid: p for p in me.children(recursive=True)})
    pressed = time.monotonic()
    os.killpg(grader.pid, signal.SIGINT)
    try:
        out, err = grader.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(grader.pid, signal.SIGKILL)
        pytest.fail("autograde did not stop within 60 s of Ctrl-C")
    stopped_s = time.monotonic() - pressed
    print(f"stopped {stopped_s:.1f} s after Ctrl-C")
    time.sleep(1)

    assert grader.returncode == 130, err
    assert "Traceback" not in err and "Task exception" not in err, err
    assert "run the same command again" in err, err
    assert not _alive(seen.values()), f"left running after Ctrl-C: {_alive(seen.values())}"
    status = record.status_dir(root, ASSIGNMENT)
    for path in status.glob("*.json") if status.exists() else []:
        json.loads(path.read_text())  # whole, never half-written
    graded_before = set(record.load(root, ASSIGNMENT))

    again = subprocess.run(command, cwd=course.ROOT, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    records = record.load(root, ASSIGNMENT)
    assert set(records) == {"ann", "bob"}
    assert all(r["status"] == "graded" for r in records.values()), records
    assert f"{len(graded_before)} unchanged" in again.stdout, again.stdout
