"""The solution notebook runs top to bottom on every installed Keras backend, in grading mode (the visible
and hidden checks, a one-epoch training smoke run, evaluation, prediction on the sample photo; nothing is
saved while grading)."""

import importlib.util
import os
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
SOURCE_DIR = ROOT / "solutions" / "resnet50"
BACKENDS = ["tensorflow", "torch", "jax"]


def installed(backend):
    return importlib.util.find_spec(backend) is not None


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_solution_notebook_runs_on_backend(backend, tmp_path, monkeypatch):
    if not installed(backend):
        if backend == "jax":
            pytest.skip("JAX is not installed (pip install -e '.[jax]')")
        pytest.fail(f"{backend} must be installed for the test suite")
    shutil.copytree(SOURCE_DIR, tmp_path / "resnet50")
    monkeypatch.setenv("KERAS_BACKEND", backend)
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    monkeypatch.setenv("RESNET_COURSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    nb = nbformat.read(tmp_path / "resnet50" / "Residual_Networks.ipynb", as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path / "resnet50")}}).execute()
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert f"on the {backend} backend" in text
    assert text.count("check passed") == 8  # 3 + 3 block checks, layout and whole model
    # Grading never saves a model: not next to the notebook, not in the cache folder.
    assert not list((tmp_path / "resnet50").rglob("*.keras"))
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())
    assert "saved to" not in text
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            assert not [o for o in cell.outputs if o.output_type == "error" or o.get("name") == "stderr"], cell.source
