"""bench/gpu.py on a CPU, tiny: every run that is installed prints its epochs and a full row of the table, the
native PyTorch model is the course's ResNet50, and a backend that is not installed is reported, not a crash."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUNS = {"keras-jax": ("keras", "jax"), "keras-torch": ("keras", "torch"),
        "keras-tensorflow": ("keras", "tensorflow"), "torch-native": ("torch",)}
COLUMNS = ["run", "status", "device", "precision", "parameters", "first epoch s", "steady s/epoch", "img/s",
           "time to target", "final accuracy", "peak memory"]
# 16 images (10 once train() holds out its validation images) in one batch of 10, two epochs: a first and a
# steady epoch, without the extra compilation a smaller last batch costs.
N, S = r"[0-9]+\.[0-9]+", r"[0-9]+\.[0-9]+ s"  # a figure; seconds
TINY = ["--limit", "16", "--batch-size", "10", "--epochs", "2"]


def installed(run: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in RUNS[run])


@pytest.fixture(scope="module")
def bench_output() -> str:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu.py"), *TINY], cwd=ROOT, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def table(output: str) -> dict[str, dict[str, str]]:
    """{run: {column: cell}} from the markdown table the bench ends with."""
    lines = [line for line in output.splitlines() if line.startswith("| ")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]
    return {row[0]: dict(zip(header, row)) for row in rows}


@pytest.mark.slow
def test_every_installed_run_prints_every_field(bench_output):
    assert "accelerator:" in bench_output and "keras " in bench_output and "torch " in bench_output
    rows = table(bench_output)
    assert list(rows) == list(RUNS)
    assert list(next(iter(rows.values()))) == COLUMNS
    available = [run for run in RUNS if installed(run)]
    assert {"keras-torch", "keras-tensorflow", "torch-native"} <= set(available)  # what the test env installs
    for run in available:
        epochs = re.findall(rf"^\[{run}\] epoch (\d)/2: train {S} \({N} img/s\), loss {N}, accuracy {N}; "
                            rf"validation {S}, accuracy (?:{N}|n/a); test accuracy {N} \({S}, not counted\); "
                            rf"elapsed {N} s$", bench_output, re.M)
        assert epochs == ["1", "2"], f"{run}: per-epoch lines missing"
        final = re.search(rf"^\[{run}\] final test accuracy ({N})$", bench_output, re.M)
        row = rows[run]
        assert row["status"] == "ok" and row["precision"] == "float32" and row["device"] == "CPU", row
        assert row["parameters"] == "23,600,006", row
        for column in ("first epoch s", "steady s/epoch", "img/s"):
            assert float(row[column]) > 0, (run, column, row)
        assert row["time to target"] == "not reached" or re.fullmatch(r"[0-9.]+ s", row["time to target"]), row
        assert final and row["final accuracy"] == final.group(1), row
        assert row["peak memory"] == "n/a", row  # no GPU


@pytest.mark.slow
def test_native_torch_model_is_the_course_resnet50(bench_output):
    assert "[torch-native] model: native nn.Module ResNet50, 23,600,006 parameters" in bench_output


@pytest.mark.slow
def test_a_backend_that_is_not_installed_is_reported(bench_output):
    missing = [run for run in RUNS if not installed(run)]
    if not missing:
        pytest.skip("every backend is installed here")
    rows = table(bench_output)
    for run in missing:
        assert rows[run]["status"].startswith("not installed"), rows[run]
        assert f"[{run}] not installed" in bench_output
