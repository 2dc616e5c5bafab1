"""The prepare step: read the submission before any of its code runs, fix what can be fixed, flag the rest.

A notebook that is missing, empty, not UTF-8, not a notebook or another assignment's is Ungradable (a status
and one sentence, no kernel started); the static scan (grader.pipeline.scan) and the comparison with the release's
locked cells give flags for the instructor's review.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from grader.pipeline import scan
from grader.pipeline.jobs import Job, Template


def safe_path(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise ValueError(f"unsafe file name {name!r}")
    return path


class Ungradable(Exception):
    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def _drop_duplicate_grade_cells(nb) -> list[str]:
    """Keep the first cell of each grade id; copies become ordinary cells. (nbgrader 0.9 crashes on a
    duplicated test cell and fails the whole submission.)"""
    seen, flags = set(), []
    for cell in nb.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id is None:
            continue
        if grade_id in seen:
            del cell.metadata["nbgrader"]
            flags.append(f"a copy of graded cell {grade_id} was ignored")
        seen.add(grade_id)
    return flags


def prepare(job: Job, template: Template) -> tuple[dict[str, bytes], list[str]]:
    """The files to grade and what was fixed on the way; raises Ungradable when nothing can be graded."""
    import nbformat

    files, flags = dict(job.files), []
    notebooks = {n for n in job.files if n.endswith(".ipynb")}
    for name in template.notebooks:
        filename = f"{name}.ipynb"
        if filename not in job.files:
            found = ", ".join(sorted(notebooks)) or "no notebook at all"
            raise Ungradable("invalid", f"{filename} is missing from the submission (found: {found})")
        raw = job.files[filename]
        if not raw.strip():
            raise Ungradable("unreadable", f"{filename} is an empty file")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise Ungradable("unreadable", f"{filename} is not UTF-8 text ({e.reason} at byte {e.start})") from None
        try:
            nb = nbformat.reads(text, as_version=4)
        except Exception as e:  # nbformat raises several types for broken JSON or structure
            raise Ungradable("unreadable", f"{filename} is not a readable notebook: "
                                           f"{str(e).splitlines()[0][:200]}") from None
        ids = {c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in nb.get("cells", [])}
        if not ids & template.exercise_cells:
            raise Ungradable("invalid", f"{filename} holds none of this assignment's exercise cells "
                                        f"({', '.join(sorted(template.exercise_cells))}): another assignment's notebook?")
        flags += scan.scan_notebook(nb)
        if filename in template.release:
            flags += scan.tampered_cells(nb, nbformat.reads(template.release[filename].decode(), as_version=4))
        fixed = _drop_duplicate_grade_cells(nb)
        if fixed:
            flags += fixed
            files[filename] = nbformat.writes(nb).encode()
    return files, flags
