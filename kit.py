#!/usr/bin/env python3
"""Set up the course kit in a project-local virtual environment (.venv) and run it.

    python3 kit.py lab      install the course package, then open JupyterLab on assignments/ (solutions/ is
                            one folder up)
    python3 kit.py check    run your notebook(s) as the autograder will and print every graded cell's result
                            (default: every notebook under assignments/; --all-cells runs the cells after
                            the last graded one too)
    python3 kit.py test     install everything the tests need, then run the whole test suite
    python3 kit.py grader   install the instructor tools, then run the grader CLI (arguments pass through)

Installing is skipped when .venv already holds what pyproject.toml asks for. Extra arguments go to the
command: `python3 kit.py test -k data`, `python3 kit.py lab --no-browser`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path
from unittest import mock  # patch.dict: os.environ with the kernel's values, restored afterwards

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
EXTRAS = {"lab": "", "check": "", "test": "[test]", "grader": "[instructor]"}
# The student lab's Jupyter configuration: nbgrader's Validate button without the instructor's tools.
STUDENT_CONFIG = ROOT / ".jupyter-student"
CHECK_IN_VENV = "_check-in-venv"  # kit.py re-runs itself in .venv for `check`: nbgrader lives there


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_installed(extra: str) -> Path:
    if sys.version_info < (3, 11):
        sys.exit(f"Python 3.11 or newer is needed; this is {sys.version.split()[0]}. Run kit.py with python3.11.")
    python = venv_python()
    if not python.exists():
        print(f"Creating a virtual environment in {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    # One stamp per extra: reinstall only when pyproject.toml changed since that extra was installed.
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:16]
    stamp = VENV / f".kit-installed{extra or '[base]'}"
    if not stamp.exists() or stamp.read_text() != digest:
        print(f"Installing the course kit{extra} into .venv (first time: a few minutes) ...", flush=True)
        # pip's and setuptools' chatter (an editable install's warning box, index notices) goes to a log
        # file; a learner sees it only when the install fails.
        log = VENV / "kit-install.log"
        with open(log, "w") as out:
            for step in (["--upgrade", "pip"], ["-e", f"{ROOT}{extra}"]):
                done = subprocess.run([python, "-m", "pip", "install", "--quiet", *step], stdout=out,
                                      stderr=subprocess.STDOUT)
                if done.returncode != 0:
                    out.close()
                    tail = log.read_text(errors="replace").splitlines()[-25:]
                    sys.exit("\n".join(tail) + f"\nInstalling failed (pip exited with {done.returncode}); "
                             f"pip's whole output is in {log}")
        stamp.write_text(digest)
    return python


def main(argv: list[str]) -> int:
    if argv[:1] == [CHECK_IN_VENV]:
        return check_notebooks([Path(p) for p in argv[1:] if p != "--all-cells"], "--all-cells" in argv)
    if not argv or argv[0] not in EXTRAS:
        print(__doc__)
        if argv:
            import difflib

            close = difflib.get_close_matches(argv[0], EXTRAS, n=1)
            print(f"kit.py: unknown command {argv[0]!r}" + (f" (did you mean {close[0]}?)" if close else "")
                  + f"; the commands: {', '.join(EXTRAS)}", file=sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    if command == "check" and {"-h", "--help"} & set(rest):
        print(__doc__)
        return 0
    if command == "check":
        found = notebooks_to_check(rest)
        if isinstance(found, str):
            print(found, file=sys.stderr)
            return 2
        rest = [str(p) for p in found] + [a for a in rest if a == "--all-cells"]
    python = ensure_installed(EXTRAS[command])
    if command in ("test", "grader"):
        ensure_bubblewrap()
    env = None
    if command == "lab":
        args, env = lab_command(python, rest), student_lab_environment()
    elif command == "check":
        args = [python, str(ROOT / "kit.py"), CHECK_IN_VENV, *rest]
    elif command == "test":
        ensure_chromium()
        args = [python, "-m", "pytest", *rest]
    else:  # from the folder it was typed in, so that relative paths (downloads.zip, --course term2) mean what they say
        args = [python, "-c", "import sys, resnet_grader; sys.exit(resnet_grader.main('python3 kit.py grader'))", *rest]
    code = subprocess.run(args, cwd=None if command == "grader" else ROOT, env=env).returncode
    if command == "test" and code == 5:
        print("pytest collected no tests: treating that as a failure.", file=sys.stderr)
        return 1
    return code


def ensure_bubblewrap() -> None:
    """Grading kernels run in a root of their own made by bubblewrap (grader/isolation/sandbox.py). A Debian/Ubuntu
    machine run as root (CI, containers) gets it from apt; elsewhere the grader says what it falls back to."""
    if shutil.which("bwrap") or not sys.platform.startswith("linux") or os.geteuid() != 0 \
            or not shutil.which("apt-get"):
        return
    print("Installing bubblewrap (apt-get) for the grading sandbox ...", flush=True)
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.STDOUT,
             "env": {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "bubblewrap"]
    if subprocess.run(install, **quiet).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], **quiet)
        if subprocess.run(install, **quiet).returncode != 0:
            print("Could not install bubblewrap: grading kernels fall back to hiding paths (see README).", flush=True)


CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")  # Debian's and Ubuntu's package


def find_chromium() -> str | None:
    return next((p for p in CHROMIUM if Path(p).exists()), None) or shutil.which("chromium")


def ensure_chromium() -> str | None:
    """The browser tests drive the system's Chromium (never a downloaded one): install Debian's package when
    it is missing and apt can be used (as root); otherwise those tests skip and say why."""
    found = find_chromium()
    if found or getattr(os, "geteuid", lambda: 1)() != 0 or not shutil.which("apt-get"):
        return found
    print("Installing Chromium for the browser tests (apt-get install chromium) ...", flush=True)
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.STDOUT,
             "env": dict(os.environ, DEBIAN_FRONTEND="noninteractive")}
    installed = subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"], **quiet)
    if installed.returncode != 0:  # a fresh image has no package lists yet
        subprocess.run(["apt-get", "update", "-q"], **quiet)
        installed = subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"], **quiet)
    if installed.returncode != 0:
        print("Could not install Chromium with apt-get: the browser tests will be skipped.", flush=True)
    return find_chromium()


def lab_command(python, rest: list[str]) -> list:
    # Rooted at the kit so that self-study learners reach solutions/ too; it opens on assignments/.
    args = [python, "-m", "jupyter", "lab", f"--notebook-dir={ROOT}", "--LabApp.default_url=/lab/tree/assignments",
            *rest]
    if getattr(os, "geteuid", lambda: 1)() == 0 and "--allow-root" not in rest:
        args.append("--allow-root")  # containers and CI machines run as root; Jupyter refuses without it
    return args


def student_lab_environment() -> dict:
    """The environment `kit.py lab` starts Jupyter in: .jupyter-student comes before the virtual
    environment's own configuration, where installing nbgrader enabled the instructor's extensions for
    everyone. It turns them (and the news prompt) off; the Validate button stays. `kit.py grader` and any
    other Jupyter started from .venv keep them. The learner's own ~/.jupyter still comes first."""
    env = dict(os.environ)
    env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(p for p in (str(STUDENT_CONFIG), env.get("JUPYTER_CONFIG_PATH")) if p)
    return env


# --- kit.py check: a notebook run as the autograder runs it ---------------------------------------------------


def notebooks_to_check(args: list[str]) -> list[Path] | str:
    """The notebooks `kit.py check` was given (files or folders; none: every one under assignments/), or
    the one line that says why a path is not one."""
    paths = [a for a in args if a != "--all-cells"] or [str(ROOT / "assignments")]
    found = []
    for arg in paths:
        path = Path(arg).expanduser().resolve()
        if path.is_dir():
            inside = sorted(p for p in path.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
            if not inside:
                return f"kit.py check: there is no notebook (.ipynb) in {arg}"
            found += inside
        elif path.is_file() and path.suffix == ".ipynb":
            found.append(path)
        else:
            return f"kit.py check: {arg} is not a notebook (.ipynb) or a folder of notebooks"
    return found


def check_notebooks(notebooks: list[Path], all_cells: bool = False) -> int:
    """Run each notebook as the autograder will and print its graded cells' results; 0 when all pass."""
    failed = False
    for notebook in notebooks:
        start = time.monotonic()
        try:
            changed = changed_locked_cells(notebook)
            results = graded_results(run_as_autograder(notebook, all_cells))
        except Exception as e:  # a notebook nbgrader cannot read or run: say so, go on with the others
            print(f"{notebook}: could not be run: {type(e).__name__}: {e}\n", flush=True)
            failed = True
            continue
        print(report(notebook, results, changed, time.monotonic() - start, all_cells), flush=True)
        failed = failed or not results or any(score < points for _, score, points, _ in results)
    return 1 if failed else 0


# Files a copy of the notebook's folder leaves out: the grader never sees them either (see the course config).
NOT_COPIED = (".ipynb_checkpoints", "__pycache__", "*.pyc", "*.keras", "feedback", "grading")


def run_as_autograder(notebook: Path, all_cells: bool):
    """The notebook executed by nbgrader's own preprocessors with the course's configuration, in a copy of
    its folder in a temporary folder (nothing is written next to the learner's file), with hidden tests
    (a release has none) removed and, like `kit.py grader autograde`, nothing run after the last graded
    cell unless all_cells."""
    import nbformat
    from nbgrader.preprocessors import CheckCellMetadata, ClearHiddenTests, ClearOutput, DeduplicateIds, \
        IgnorePattern, LimitOutput
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT / "grader")).load_config()
    config.KernelManager.transport = "ipc"  # a socket file, not a TCP port (whose kernel warns it is unencrypted)
    steps = [ClearHiddenTests, ClearOutput, DeduplicateIds, CheckCellMetadata, executor(all_cells), IgnorePattern,
             LimitOutput]
    # What the grading kernels get (grader/pipeline/execute.py): autograde mode (training is a short smoke run),
    # quiet TensorFlow, no windows for plots.
    kernel_env = {"NBGRADER_EXECUTION": "autograde", "TF_CPP_MIN_LOG_LEVEL": "3", "MPLBACKEND": "agg"}
    with tempfile.TemporaryDirectory(prefix="kit-check-") as scratch, mock.patch.dict(os.environ, kernel_env), kernel_noise_hidden():
        folder = Path(scratch) / notebook.parent.name
        shutil.copytree(notebook.parent, folder, ignore=shutil.ignore_patterns(*NOT_COPIED))
        nb = nbformat.read(folder / notebook.name, as_version=4)
        config.KernelManager.ip = str(Path(scratch) / "kernel")
        resources = {"metadata": {"path": str(folder)}}
        for step in steps:
            nb, resources = step(config=config).preprocess(nb, resources)
    return nb


@contextlib.contextmanager
def kernel_noise_hidden():
    """Keep what the kernel process writes to its inherited stderr outside any cell (start-up and shut-down
    messages, nothing a cell printed: that is in the notebook) off the report; shown if running fails."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace")[-4000:])
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def executor(all_cells: bool):
    """nbgrader's Execute, or Execute stopping after the last graded cell (later cells train and save a
    model; they cannot change a grade). Configured as Execute: traitlets applies a class's section to its
    subclasses."""
    from nbgrader import utils
    from nbgrader.preprocessors import Execute

    if all_cells:
        return Execute

    class ExecuteUpToLastGradedCell(Execute):
        def preprocess(self, nb, resources=None, km=None):
            graded = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and utils.is_grade(c)]
            self._last_graded = max(graded, default=len(nb.cells))
            return super().preprocess(nb, resources, km)

        def preprocess_cell(self, cell, resources, index):
            if index > self._last_graded:
                return cell, resources
            return super().preprocess_cell(cell, resources, index)

    return ExecuteUpToLastGradedCell


def graded_results(nb) -> list[tuple[str, float, float, str]]:
    """(grade id, score, points, why it lost them: the error's whole message, or the stderr it wrote) per
    graded code cell, scored by nbgrader's own rule."""
    from nbgrader import utils

    results = []
    for cell in nb.cells:
        if cell.cell_type != "code" or not utils.is_grade(cell):
            continue
        score, points = utils.determine_grade(cell)
        score = points if score is None else score
        results.append((cell.metadata.nbgrader["grade_id"], score, points, failure_text(cell) if score < points else ""))
    return results


def failure_text(cell) -> str:
    for output in cell.outputs:
        if output.output_type == "error":
            return f"{output.ename}: {output.evalue}"
        if output.output_type == "stream" and output.name == "stderr":
            return "wrote to stderr (a graded cell must not):\n" + output.text.rstrip()
    return "partial credit"


def changed_locked_cells(notebook: Path) -> list[str]:
    """Grade ids of locked cells whose source differs from the release: the grader puts the release's back."""
    import nbformat
    from nbgrader import utils

    return [cell.metadata.nbgrader.get("grade_id", "?") for cell in nbformat.read(notebook, as_version=4).cells
            if utils.is_locked(cell) and "checksum" in cell.metadata.nbgrader
            and utils.compute_checksum(cell) != cell.metadata.nbgrader["checksum"]]


def report(notebook: Path, results, changed: list[str], seconds: float, all_cells: bool) -> str:
    """The results as the learner reads them: one line per graded cell, the total, then every failure's
    whole diagnosis (never cut)."""
    ran = "all cells" if all_cells else "up to the last graded cell, as the autograder does"
    lines = [f"{notebook} (run {ran}: {seconds:.0f} s)"]
    if not results:
        lines.append("  This notebook has no graded cells: it is not an assignment notebook.")
    width = max((len(grade_id) for grade_id, *_ in results), default=0)
    for grade_id, score, points, _ in results:
        lines.append(f"  {'pass' if score >= points else 'FAIL'}  {grade_id:<{width}}  {score:g} / {points:g}")
    if results:
        total, possible = sum(r[1] for r in results), sum(r[2] for r in results)
        lines.append(f"  total  {total:g} / {possible:g} points (the instructor's hidden tests, which try other "
                     "shapes, can still take points)")
    for grade_id in changed:
        lines.append(f"  note: the locked cell {grade_id} was changed; the autograder runs the release's version.")
    for grade_id, _, _, why in (r for r in results if r[3]):
        lines += ["", f"{grade_id} failed:", *(f"    {line}" for line in why.splitlines())]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
