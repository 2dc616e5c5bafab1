"""The student's JupyterLab in a real browser: Playwright drives the system's Chromium (installed by
`kit.py test`, never downloaded) against JupyterLab started as `kit.py lab` starts it, on a copy of the
release. A wrong identity block gets its one-line diagnosis, the summary cell lists the checks, and the
Validate button reports the failure. Screenshots go to a temporary folder, or to $RESNET_COURSE_SCREENSHOTS.

Run alone with: python -m pytest tests/test_browser.py
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.corpus.mutants import MUTANTS, sources_for
from tests.test_kit_check import fetch, free_port, load_kit

playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = "assignments/resnet50/Residual_Networks.ipynb"
WRONG = next(m for m in MUTANTS if m.name == "identity-shortcut-missing")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab as `kit.py lab` starts it (its command, the student config), on a copy of the release."""
    kit = load_kit()
    chromium = kit.find_chromium()
    if chromium is None:
        pytest.skip("no Chromium here (kit.py test installs Debian's package where apt-get can be used as root)")
    home = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "assignments" / "resnet50", home / "assignments" / "resnet50")
    port, token = free_port(), "browser-test"
    args = kit.lab_command(sys.executable, ["--no-browser", f"--port={port}", f"--IdentityProvider.token={token}",
                                            "--ServerApp.open_browser=False"])
    args = [a if not str(a).startswith("--notebook-dir=") else f"--notebook-dir={home}" for a in args]
    env = kit.student_lab_environment() | {"JUPYTER_RUNTIME_DIR": str(home / "runtime"),
                                           "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
                                           "MPLBACKEND": "agg"}
    env.pop("NBGRADER_EXECUTION", None)
    server = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while fetch(f"{base}/api/status?token={token}")[0] != 200:
            assert server.poll() is None and time.monotonic() < deadline, "JupyterLab did not start"
            time.sleep(0.5)
        yield {"base": base, "token": token, "chromium": chromium, "home": home}
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture(scope="module")
def page(lab, tmp_path_factory):
    with playwright.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=lab["chromium"], headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(120_000)
        page.goto(f"{lab['base']}/lab/tree/{NOTEBOOK}?token={lab['token']}")
        page.locator(".jp-Notebook .jp-Cell").first.wait_for()
        page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').first.wait_for()  # the kernel is up
        yield page
        context.close()


def screenshots() -> Path:
    folder = Path(os.environ.get("RESNET_COURSE_SCREENSHOTS") or Path(tempfile.gettempdir()) / "browser-test")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def cell(page, text: str):
    """The notebook cell whose source contains `text`."""
    return page.locator(".jp-Notebook .jp-Cell").filter(has=page.locator(".cm-content", has_text=text)).first


def run(page, cell_locator) -> None:
    cell_locator.locator(".cm-content").click()
    page.keyboard.press("Shift+Enter")


def test_a_wrong_identity_block_gets_its_diagnosis_and_the_summary_lists_the_checks(page):
    page.wait_for_timeout(2000)
    # The notebook carries the metadata JupyterLab would add (kernelspec, language_info): opening it changed nothing.
    assert page.locator(".lm-TabBar-tab.jp-mod-dirty").count() == 0
    setup = cell(page, "import checks  # this assignment")
    # A cell run while JupyterLab still connects to the new kernel can be dropped: run it again until it ran.
    for _ in range(6):
        run(page, setup)
        try:
            setup.locator(".jp-OutputArea-output").first.wait_for(timeout=20_000)  # the backend report
            break
        except playwright.TimeoutError:
            continue
    assert "backend" in setup.locator(".jp-OutputArea-output").first.inner_text()
    exercise = cell(page, "def identity_block(")
    exercise.locator(".cm-content").click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(sources_for(WRONG)["identity_block"])  # as pasted: no auto-indentation
    page.keyboard.press("Shift+Enter")
    check = cell(page, 'checks.check_identity_block(identity_block, part="structure")')
    run(page, check)
    error = check.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
    error.wait_for()
    lines = [line for line in error.inner_text().splitlines() if line.strip()]
    check.scroll_into_view_if_needed()
    page.screenshot(path=str(screenshots() / "browser_failed_check.png"))
    assert 1 <= len(lines) <= 6, lines
    assert re.search(WRONG.message, lines[0]), lines[0]
    assert "Traceback" not in error.inner_text()

    # To the last cell as a learner would (J moves down in command mode), then run the summary.
    page.keyboard.press("Escape")
    for _ in range(60):
        page.keyboard.press("j")
    page.keyboard.press("Shift+Enter")
    summary = cell(page, "summary.show(")
    output = summary.locator(".jp-OutputArea-output")
    output.wait_for()
    text = output.inner_text()
    summary.scroll_into_view_if_needed()
    page.screenshot(path=str(screenshots() / "browser_summary.png"))
    assert text.startswith("Checks: 0 of 8 pass, 0 / 30 points"), text
    assert any(line.split()[:2] == ["FAIL", "identity_block_structure"] for line in text.splitlines()), text
    assert any(line.split()[:3] == ["not", "run", "resnet50_model"] for line in text.splitlines()), text


def test_the_validate_button_reports_the_failed_check(page):
    page.locator(".validate-button").first.click()
    dialog = page.locator(".jp-Dialog", has_text="Validation Results")
    dialog.wait_for(timeout=300_000)  # nbgrader runs the whole notebook first
    text = dialog.inner_text()
    page.screenshot(path=str(screenshots() / "browser_validate.png"))
    assert "identity_block" in text or "failed" in text.lower(), text[:500]
    assert re.search(WRONG.message, text), text[:800]
