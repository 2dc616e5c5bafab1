"""Grade the synthetic class once through the real pipeline, the way an instructor would run it, and keep
everything the tests want to look at. The first `python -m grader autograde` run is killed midway (the
whole process group, SIGKILL) and a second run finishes the class."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from grader import course

from grader.pipeline import autograde, collect, record
from grader.pipeline.jobs import Limits

from . import classroom, hostile

ASSIGNMENT = classroom.ASSIGNMENT
# Short limits keep the endless-loop case cheap; a correct submission's slowest cell takes about 4 s.
LIMITS = Limits(cell_timeout=30, submission_timeout=150)


class Listener:
    """A TCP listener on loopback that counts the connections it receives (the network case must not reach it)."""

    def __init__(self, port: int):
        import socket
        import threading

        self.connections = 0
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen()
        self.sock.settimeout(0.5)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
                self.connections += 1
                conn.close()
            except OSError:
                continue

    def close(self):
        self._stop.set()
        self._thread.join()
        self.sock.close()


def checksums(root: Path) -> dict[str, str]:
    """sha256 of every file of the course except what grading itself writes."""
    import hashlib

    skip = ("autograded", "grading", "feedback", "report", "gradebook.db")
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.relative_to(root).parts[0].startswith(skip)}


@dataclass
class GradedClass:
    root: Path
    submissions: list
    collected: collect.Report
    killed_run: dict[str, bytes]  # status files the killed run had written, byte for byte
    killed_log: str
    rerun: autograde.Summary
    records: dict[str, dict]
    course_before: dict[str, str]  # checksums of the course's files before and after grading
    course_after: dict[str, str]
    network_connections: int  # connections the hostile network case made to the loopback listener
    survivors: list[str]  # command lines of the outliving case's processes still running after grading

    def record(self, student: str) -> dict:
        return self.records[student]

    def cells(self, student: str) -> dict[str, float]:
        return self.records[student]["scores"].get("Residual_Networks", {})


def new_course(folder: Path) -> Path:
    for part in ("solutions", "assignments"):
        shutil.copytree(course.ROOT / part / ASSIGNMENT, folder / part / ASSIGNMENT)
    return folder


def submissions(root: Path | None = None) -> list:
    points = course.cell_points(ASSIGNMENT)
    return classroom.build(points) + hostile.build(points, root)


def survivors(mark: str = hostile.OUTLIVER_MARK) -> list[str]:
    import psutil

    found = []
    for process in psutil.process_iter():
        try:
            if mark in process.cmdline():
                found.append(" ".join(process.cmdline())[:200])
        except psutil.Error:
            pass
    return found


def grade_class(tmp: Path, kill_after: int = 6) -> GradedClass:
    """Grades the class with another copy of the course (solutions, grader) at hostile.COURSE_COPY."""
    copy = hostile.COURSE_COPY
    try:
        shutil.copytree(course.ROOT / "solutions" / ASSIGNMENT, copy / "solutions" / ASSIGNMENT)
        shutil.copytree(course.ROOT / "grader", copy / "grader", ignore=shutil.ignore_patterns("__pycache__"))
        return _grade_class(tmp, kill_after)
    finally:
        shutil.rmtree(copy, ignore_errors=True)


def _grade_class(tmp: Path, kill_after: int) -> GradedClass:
    root = new_course(tmp / "course")
    subs = submissions(root)
    collected = collect.collect(classroom.write(subs, tmp / "incoming"), ASSIGNMENT, root,
                                [Path(classroom.NOTEBOOK).stem])
    status_dir = record.status_dir(root, ASSIGNMENT)
    before = checksums(root)
    listener = Listener(hostile.LISTENER_PORT)
    log = tmp / "killed-run.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(course.ROOT), os.environ.get("PYTHONPATH")]))}
    with log.open("w") as out:
        first = subprocess.Popen([sys.executable, "-m", "grader", "--course", str(root), "autograde", ASSIGNMENT,
                                  "--workers", "2", "--cell-timeout", str(LIMITS.cell_timeout),
                                  "--timeout", str(LIMITS.submission_timeout)], env=env, stdout=out, stderr=subprocess.STDOUT,
                                 start_new_session=True)
        deadline = time.monotonic() + 900
        while first.poll() is None and time.monotonic() < deadline:
            if status_dir.exists() and len(list(status_dir.glob("*.json"))) >= kill_after:
                break
            time.sleep(0.2)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    killed = {p.stem: p.read_bytes() for p in status_dir.glob("*.json")} if status_dir.exists() else {}
    time.sleep(1)  # the killed run's kernels die with their parents (PR_SET_PDEATHSIG)
    rerun = autograde.run(ASSIGNMENT, root, workers=2, limits=LIMITS, progress=False)
    listener.close()
    return GradedClass(root, subs, collected, killed, log.read_text(), rerun, record.load(root, ASSIGNMENT),
                       before, checksums(root), listener.connections, survivors())


def replay(root: Path, executor, digest: str) -> Path:
    """`autograde.run` over the course at `root` with the worker pool replaced by `executor` (jobs, template,
    limits, workers -> outcomes) and a stand-in Template whose digest is `digest`: the coordinator's part
    alone, fast."""
    from grader.pipeline import executors
    from grader.pipeline.jobs import Template

    course.kernel_environment()  # (nbgrader creates a gradebook with `alembic`, from the environment's bin/)
    saved, executors.local = executors.local, executor
    try:
        autograde.run(ASSIGNMENT, root, force=True, progress=False,
                      template=Template(ASSIGNMENT, (Path(classroom.NOTEBOOK).stem,), frozenset({"identity_block"}),
                                        b"", {}, digest))
    finally:
        executors.local = saved
    return root
