#!/usr/bin/env python3
"""Set up the course kit in a project-local virtual environment (.venv) and run it.

    python3 kit.py lab      install the course package, then open JupyterLab on assignments/
    python3 kit.py test     install everything the tests need, then run the whole test suite
    python3 kit.py grader   install the instructor tools, then run the grader CLI (arguments pass through)

Installing is skipped when .venv already holds what pyproject.toml asks for. Extra arguments go to the
command: `python3 kit.py test -k data`, `python3 kit.py lab --no-browser`.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
EXTRAS = {"lab": "", "test": "[test]", "grader": "[instructor]"}


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
        subprocess.run([python, "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True)
        subprocess.run([python, "-m", "pip", "install", "--quiet", "-e", f"{ROOT}{extra}"], check=True)
        stamp.write_text(digest)
    return python


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in EXTRAS:
        print(__doc__)
        return 2
    command, rest = argv[0], argv[1:]
    python = ensure_installed(EXTRAS[command])
    if command == "lab":
        args = [python, "-m", "jupyter", "lab", f"--notebook-dir={ROOT / 'assignments'}", *rest]
        if getattr(os, "geteuid", lambda: 1)() == 0 and "--allow-root" not in rest:
            args.append("--allow-root")  # containers and CI machines run as root; Jupyter refuses without it
    elif command == "test":
        args = [python, "-m", "pytest", *rest]
    else:
        args = [python, "-m", "grader", *rest]
    code = subprocess.run(args, cwd=ROOT).returncode
    if command == "test" and code == 5:
        print("pytest collected no tests: treating that as a failure.", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
