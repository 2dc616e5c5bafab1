"""The grading template keeps its release between commands, and makes it again whenever what it came from changed."""

from __future__ import annotations

import json

from grader import course

ASSIGNMENT = "resnet50"
NOTEBOOK = "Residual_Networks.ipynb"


def test_the_release_is_kept_until_its_source_changes(monkeypatch):
    course.kernel_environment()
    with course.scratch_course(ASSIGNMENT) as root:
        first = course.template(ASSIGNMENT, root)
        real_release, made = course.generate_release, []

        def counted(*args, **kwargs):
            made.append(args)
            return real_release(*args, **kwargs)

        monkeypatch.setattr(course, "generate_release", counted)
        again = course.template(ASSIGNMENT, root)
        assert not made and again == first  # (kept: the same gradebook, notebooks and digest, no release)

        source = root / "solutions" / ASSIGNMENT / NOTEBOOK
        nb = json.loads(source.read_text())
        first_markdown = next(c for c in nb["cells"] if c["cell_type"] == "markdown")
        first_markdown["source"] = "# A changed title\n"
        source.write_text(json.dumps(nb))
        changed = course.template(ASSIGNMENT, root)
        assert len(made) == 1 and changed.digest != first.digest
        assert b"A changed title" in changed.release[NOTEBOOK] and b"A changed title" not in first.release[NOTEBOOK]

        cache = root / "grading" / ASSIGNMENT / "template" / "release.pickle"
        cache.write_bytes(b"torn")  # a broken cache is made again, not trusted and not fatal
        remade = course.template(ASSIGNMENT, root)
        assert len(made) == 2 and remade.release == changed.release and remade.digest == changed.digest


def test_a_changed_adapter_makes_the_release_again(monkeypatch):
    """The release depends on the grader's nbgrader adapters, not only on the source: a new preprocessor must
    not grade against a release made by the old one."""
    course.kernel_environment()
    with course.scratch_course(ASSIGNMENT) as root:
        course.template(ASSIGNMENT, root)
        real_read, made = course.Path.read_bytes, []
        adapter_path = course.CONFIG_FILE.with_name("preprocessors.py")

        def read_bytes(self):
            data = real_read(self)
            return data + b"\n# changed\n" if self == adapter_path else data

        monkeypatch.setattr(course.Path, "read_bytes", read_bytes)
        real_release = course.generate_release
        monkeypatch.setattr(course, "generate_release", lambda *a, **k: made.append(a) or real_release(*a, **k))
        course.template(ASSIGNMENT, root)
        assert len(made) == 1
