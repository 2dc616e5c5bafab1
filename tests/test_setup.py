"""The set-up a newcomer relies on: the README's two commands, CI running exactly the test one, and
environment.yml kept in sync with pyproject.toml."""

import re
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def requirement_names(requirements):
    return {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].lower() for r in requirements}


def test_environment_yml_pins_what_pyproject_declares():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    declared = pyproject()["project"]
    wanted = set(declared["dependencies"]) | set(declared["optional-dependencies"]["instructor"])
    listed = {r for r in pip_section if not r.startswith("-e")}
    assert listed == wanted, f"missing: {wanted - listed}; extra: {listed - wanted}"
    assert any(d == "python=3.11" for d in env["dependencies"] if isinstance(d, str))


def test_python_and_key_lower_bounds():
    project = pyproject()["project"]
    assert project["requires-python"] == ">=3.11"
    names = requirement_names(project["dependencies"])
    assert {"keras", "tensorflow", "jupyterlab", "nbformat", "nbclient", "matplotlib", "h5py"} <= names
    extras = project["optional-dependencies"]
    assert {"jax", "torch", "cuda", "instructor", "test"} <= set(extras)
    assert "nbgrader" in requirement_names(extras["instructor"])


def test_readme_states_the_two_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    assert "python3 kit.py lab" in readme and "python3 kit.py test" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    commands = [line for line in ci.splitlines() if line.strip() and not line.startswith(("#", "set ", "cd "))]
    assert commands == ["python3 kit.py test"]


def test_kit_refuses_unknown_commands(capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("kit", ROOT / "kit.py")
    kit = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(kit)
    assert kit.main(["frobnicate"]) == 2
    assert "python3 kit.py lab" in capsys.readouterr().out
    assert kit.main(["grade", "release", "resnet50"]) == 2
    assert "kit.py: unknown command 'grade' (did you mean grader?)" in capsys.readouterr().err


def test_installing_prints_no_setuptools_warning_about_our_metadata():
    """`license` as a TOML table makes setuptools >= 77 print a deprecation box (three times per install);
    the SPDX string form needs setuptools >= 77 to build."""
    import warnings

    from setuptools.config.pyprojecttoml import apply_configuration
    from setuptools.dist import Distribution

    declared = pyproject()
    assert declared["project"]["license"] == "MIT"
    assert any(re.fullmatch(r"setuptools>=(7[7-9]|[89]\d|\d{3,})(\.\d+)*", r) for r in declared["build-system"]["requires"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        apply_configuration(Distribution(), str(ROOT / "pyproject.toml"))
    assert not [str(w.message) for w in caught if w.category.__module__.startswith("setuptools")]


def test_the_student_environment_has_nbgrader_for_the_validate_button_and_kit_check():
    assert "nbgrader" in requirement_names(pyproject()["project"]["dependencies"])


def test_kit_grader_reads_relative_paths_from_the_folder_it_was_typed_in(tmp_path, monkeypatch, capfd):
    """`cd ~/Downloads && python3 ~/kit/kit.py grader collect resnet50 submissions.zip` must look in Downloads,
    not in the checkout."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("kit", ROOT / "kit.py")
    kit = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(kit)
    monkeypatch.setattr(kit, "ensure_installed", lambda extra: Path(sys.executable))
    monkeypatch.setattr(kit, "ensure_bubblewrap", lambda: None)
    monkeypatch.chdir(tmp_path)
    assert kit.main(["grader", "collect", "resnet50", "submissions.zip", "--course", "term2"]) == 2
    said = capfd.readouterr().err
    assert f"{tmp_path / 'term2'} is not a course folder" in said, said
    assert said.startswith("python3 kit.py grader collect: error:"), said  # its hints name the command typed
