"""The README's cluster steps, run as written (on 127.0.0.1, free ports): a scheduler and a worker started
from the repository with it on PYTHONPATH pass the probe; a worker or a scheduler started where `grader` is
not importable is found by it, and autograde stops with one sentence before anything is recorded. No
notebook is graded here.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader import course

from grader.pipeline import executors, record
from grader.__main__ import main

DASK = str(Path(sys.executable).with_name("dask"))
ASSIGNMENT = "resnet50"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _environment(grader_importable: bool) -> dict:
    env = dict(os.environ)
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep)
             if p and Path(p).resolve() != course.ROOT]
    if grader_importable:
        paths.insert(0, str(course.ROOT))  # README: PYTHONPATH=$PWD, in the repository folder
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


class Cluster:
    """Processes started as the README says; stopped (their process groups) when the test ends."""

    def __init__(self, tmp: Path):
        self.tmp, self.processes = tmp, []

    def start(self, *argv, grader_importable: bool = True) -> subprocess.Popen:
        cwd = course.ROOT if grader_importable else self.tmp  # a folder without grader/ in it
        log = open(self.tmp / f"{len(self.processes)}-{argv[0]}.log", "w")
        process = subprocess.Popen([DASK, *argv], cwd=cwd, env=_environment(grader_importable), stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append(process)
        return process

    def scheduler(self, grader_importable: bool = True) -> str:
        port = _free_port()
        self.start("scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard",
                   grader_importable=grader_importable)
        return f"tcp://127.0.0.1:{port}"

    def worker(self, address: str, grader_importable: bool = True) -> subprocess.Popen:
        return self.start("worker", address, "--nthreads", "1", "--no-dashboard", grader_importable=grader_importable)

    def stop(self):
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.fixture
def cluster(tmp_path):
    started = Cluster(tmp_path)
    yield started
    started.stop()


def _wait_for_workers(address: str, n: int) -> None:
    from distributed import Client

    with Client(address, timeout="30s") as client:
        client.wait_for_workers(n, timeout=90)


def test_the_readme_cluster_passes_the_probe_and_a_broken_worker_is_named(cluster):
    address = cluster.scheduler()
    with executors.connect(address, timeout=30) as client:  # (the scheduler may still be starting)
        with pytest.raises(executors.ClusterProblem, match="has no workers .* start them with PYTHONPATH"):
            executors.probe(client, workers_timeout=1)
    cluster.worker(address)
    _wait_for_workers(address, 1)
    with executors.connect(address) as client:
        notes = executors.probe(client)
    assert notes[0].startswith(f"Dask at {address}: 1 worker(s) ready; their kernels: 1 ")  # (then how confined)

    cluster.worker(address, grader_importable=False)  # started outside the repository, without PYTHONPATH
    _wait_for_workers(address, 2)
    with executors.connect(address) as client:
        with pytest.raises(executors.ClusterProblem) as problem:
            executors.probe(client)
    message = str(problem.value)
    assert message.startswith(f"the Dask cluster at {address} cannot grade: worker tcp://127.0.0.1:")
    assert "cannot import the grader (ModuleNotFoundError: No module named 'grader')" in message
    assert "\n" not in message


def test_a_scheduler_without_the_grader_stops_autograde_before_anything_is_recorded(cluster, tmp_path, capsys):
    address = cluster.scheduler(grader_importable=False)
    cluster.worker(address)
    _wait_for_workers(address, 1)
    root = tmp_path / "course"
    shutil.copytree(course.ROOT / "solutions" / ASSIGNMENT, root / "solutions" / ASSIGNMENT)
    folder = root / "submitted" / "alice" / ASSIGNMENT
    folder.mkdir(parents=True)
    (folder / "Residual_Networks.ipynb").write_bytes(b"{}")
    start = time.monotonic()
    code = main(["--course", str(root), "autograde", ASSIGNMENT, "--scheduler", address])
    _, err = capsys.readouterr()
    assert code == 1 and time.monotonic() - start < 60
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines == [f"python -m grader autograde: the Dask scheduler at {address} cannot import the grader "
                     "(ModuleNotFoundError: No module named 'grader'), so it cannot read grading tasks: start it "
                     "from this repository with it on PYTHONPATH (PYTHONPATH=<this repository> dask scheduler)"]
    assert not record.status_dir(root, ASSIGNMENT).exists() and not (root / "gradebook.db").exists()
