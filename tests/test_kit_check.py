"""`kit.py check` runs a student's notebook as the autograder will and says, in full, what fails; and the
student lab `kit.py lab` opens has nbgrader's Validate button without the instructor's extensions.

Run alone with: python -m pytest tests/test_kit_check.py
"""

import importlib.util
import json
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.corpus.classroom import student_notebook
from tests.corpus.mutants import MUTANTS, solution_sources, sources_for

ROOT = Path(__file__).resolve().parent.parent
RELEASE = ROOT / "assignments" / "resnet50"
INSTRUCTOR_PLUGINS = {"@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
                      "@jupyter/nbgrader:course-list", "@jupyter/nbgrader:assignment-list"}
NEWS_PROMPT = "@jupyterlab/apputils-extension:announcements"


def load_kit():
    spec = importlib.util.spec_from_file_location("kit", ROOT / "kit.py")
    kit = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(kit)
    return kit


def mutant(name: str):
    return next(m for m in MUTANTS if m.name == name)


def student_copy(folder: Path, sources: dict[str, str]) -> Path:
    """The release's folder with these exercise cells filled in, as a student hands it in."""
    shutil.copytree(RELEASE, folder)
    notebook = folder / "Residual_Networks.ipynb"
    notebook.write_bytes(student_notebook(sources))
    return notebook


def test_an_unknown_path_gets_one_line_and_exit_code_2(capsys, tmp_path):
    kit = load_kit()
    assert kit.main(["check", str(tmp_path / "nowhere.ipynb")]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.strip().splitlines()) == 1
    assert "nowhere.ipynb is not a notebook" in captured.err
    assert kit.main(["check", str(tmp_path)]) == 2  # a folder without notebooks
    assert "no notebook" in capsys.readouterr().err


def test_without_a_path_it_checks_every_released_notebook():
    found = load_kit().notebooks_to_check([])
    assert {p.relative_to(ROOT).as_posix() for p in found} == {
        "assignments/resnet50/Residual_Networks.ipynb", "assignments/why_residual/Why_Residual_Networks.ipynb"}


@pytest.mark.slow
def test_a_correct_notebook_passes_and_two_mistakes_fail_with_their_whole_diagnosis(tmp_path, capsys):
    kit = load_kit()
    right = student_copy(tmp_path / "right", solution_sources())
    wrong_sources = solution_sources()
    wrong_sources["identity_block"] = sources_for(mutant("identity-shortcut-missing"))["identity_block"]
    wrong_sources["resnet50"] = sources_for(mutant("resnet-stage2-stride-2"))["resnet50"]
    wrong = student_copy(tmp_path / "wrong", wrong_sources)
    before = {p: sorted(p.parent.rglob("*")) for p in (right, wrong)}

    assert kit.check_notebooks([right]) == 0
    out = capsys.readouterr().out
    assert re.search(r"pass  identity_block_structure +4 / 4", out) and "total  30 / 30 points" in out
    assert "FAIL" not in out

    assert kit.check_notebooks([wrong]) == 1
    out = capsys.readouterr().out
    assert re.search(r"FAIL  identity_block_structure +0 / 4", out) and re.search(r"FAIL  resnet50_layout +0 / 5", out)
    # (the whole-model check waits for the blocks, but not for a ResNet50 that cannot be built at all)
    assert re.search(r"FAIL  resnet50_model +0 / 5", out)
    assert re.search(r"pass  convolutional_block_training +3 / 3", out) and "total  10 / 30 points" in out
    assert "\x1b[" not in out  # Keras's terminal colour codes are not part of the message
    # The whole diagnosis, not cut at 80 characters as `nbgrader validate` cuts it.
    assert ("The shortcut is missing: the output equals the main path alone. Add the shortcut to the main path "
            "(after its last BatchNormalization), then apply the final ReLU.") in out
    assert "Stage 2's convolutional block uses s=1: the max-pool has already halved the size." in out
    assert {p: sorted(p.parent.rglob("*")) for p in (right, wrong)} == before  # nothing written next to them


# --- the student lab -------------------------------------------------------------------------------------------


def jupyter(kit, *args, student: bool) -> str:
    env = kit.student_lab_environment() if student else {k: v for k, v in kit.student_lab_environment().items()
                                                        if k != "JUPYTER_CONFIG_PATH"}
    run = subprocess.run([sys.executable, "-m", "jupyter", *args], env=env, cwd=ROOT, capture_output=True, text=True)
    return run.stdout + run.stderr


def disabled_plugins(listing: str) -> set[str]:
    return set(re.findall(r"^\s+(@[\w./-]+:[\w-]+)\s*$", listing.split("Disabled extensions:")[-1], re.M)) \
        if "Disabled extensions:" in listing else set()


def test_the_student_lab_disables_the_instructor_plugins_and_the_news_prompt_only():
    kit = load_kit()
    student = disabled_plugins(jupyter(kit, "labextension", "list", student=True))
    assert INSTRUCTOR_PLUGINS | {NEWS_PROMPT} <= student
    assert "@jupyter/nbgrader:validate-assignment" not in student
    assert not disabled_plugins(jupyter(kit, "labextension", "list", student=False)) & INSTRUCTOR_PLUGINS


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, ""
    except OSError:  # not listening yet
        return 0, ""


@pytest.mark.slow
def test_the_lab_kit_starts_serves_validate_but_not_the_formgrader(tmp_path):
    """Start JupyterLab as `kit.py lab` does and ask the running server."""
    kit = load_kit()
    port, token = free_port(), "kit-check-test"
    args = kit.lab_command(sys.executable, ["--no-browser", f"--port={port}", f"--IdentityProvider.token={token}",
                                            "--ServerApp.open_browser=False"])
    env = kit.student_lab_environment() | {"JUPYTER_RUNTIME_DIR": str(tmp_path)}
    server = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # a loaded 2-core machine takes a while to import the extensions
        while fetch(f"{base}/api/status?token={token}")[0] != 200 and time.monotonic() < deadline:
            assert server.poll() is None, "JupyterLab exited"
            time.sleep(0.5)
        status, page = fetch(f"{base}/lab?token={token}")
        assert status == 200
        config = json.loads(re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
                                      page, re.S).group(1))
        assert INSTRUCTOR_PLUGINS | {NEWS_PROMPT} <= set(config["disabledExtensions"])
        assert fetch(f"{base}/formgrader?token={token}")[0] == 404
        # The Validate button's handler is there (it only answers POST).
        assert fetch(f"{base}/assignments/validate?token={token}")[0] == 405
        # It opens on assignments/, and a self-study learner reaches the worked solutions from it.
        for path in ("assignments/resnet50/Residual_Networks.ipynb", "solutions/resnet50/Residual_Networks.ipynb"):
            assert fetch(f"{base}/api/contents/{path}?content=0&token={token}")[0] == 200, path
        with urllib.request.urlopen(f"{base}/?token={token}", timeout=10) as response:
            assert urllib.parse.urlparse(response.geturl()).path == "/lab/tree/assignments"
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.parametrize("root", [True, False], ids=["root-with-apt", "not-root"])
def test_kit_test_installs_chromium_with_apt_only_where_it_is_missing_and_apt_can_be_used(monkeypatch, root):
    kit = load_kit()
    ran = []
    monkeypatch.setattr(kit, "find_chromium", lambda: None)
    monkeypatch.setattr(kit.os, "geteuid", lambda: 0 if root else 1000)
    monkeypatch.setattr(kit.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(kit.subprocess, "run", lambda args, **kw: ran.append(args) or subprocess.CompletedProcess(args, 0))
    assert kit.ensure_chromium() is None  # find_chromium still finds none here
    if root:
        assert ran == [["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"]]
    else:
        assert ran == []
    ran.clear()
    monkeypatch.setattr(kit, "find_chromium", lambda: "/usr/bin/chromium")
    assert kit.ensure_chromium() == "/usr/bin/chromium" and ran == []
