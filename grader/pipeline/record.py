"""The "record" step: the coordinator alone writes the gradebook, the autograded notebooks and one status
file per submission. Student code never runs in this process.

The status file (grading/<assignment>/<student>.json) is written last, atomically: it marks a submission as
done, so a grader killed midway re-grades exactly the submissions without one.

A result of status "error" is a failure of the grader (a crashed worker, a broken cluster), not something the
student did: it never replaces an earlier result. It goes to grading/<assignment>/errors/<student>.json
instead, the gradebook, the autograded notebooks and the status file keep the earlier result, and the next
run grades the submission again (autograde retries every submission whose last run hit an error).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from grader.pipeline.jobs import Outcome, Template


def status_dir(root: Path, assignment: str) -> Path:
    return Path(root) / "grading" / assignment


def errors_dir(root: Path, assignment: str) -> Path:
    return status_dir(root, assignment) / "errors"


def template_dir(root: Path, assignment: str) -> Path:
    """Where the grading template's kept parts live: its release (course.template) and one copy of its files."""
    return status_dir(root, assignment) / "template"


def key(outcome_digest: str, template: Template) -> str:
    """What a grade depends on: the submission's files and the assignment's source (tests included)."""
    return f"{outcome_digest}:{template.digest}"


def load(root: Path, assignment: str) -> dict[str, dict]:
    """{student: status record} for every submission graded so far."""
    folder = status_dir(root, assignment)
    records = {}
    for path in sorted(folder.glob("*.json")) if folder.exists() else []:
        try:
            records[path.stem] = json.loads(path.read_text())
        except (OSError, ValueError):  # a torn file cannot happen (atomic rename), but never crash on one
            continue
    return records


def load_errors(root: Path, assignment: str) -> dict[str, dict]:
    """{student: error record} of the submissions whose latest run hit a grader error that did not replace
    an earlier result (their status file holds that earlier result)."""
    folder = errors_dir(root, assignment)
    records = {}
    for path in sorted(folder.glob("*.json")) if folder.exists() else []:
        try:
            records[path.stem] = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
    return records


def _write_atomically(path: Path, data: bytes, make_folder: bool = True) -> None:
    if make_folder:
        path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def cell_query(gb, assignment: str, kind, *columns):
    """The query of every `kind` (nbgrader's Grade or Comment) of the assignment's submissions, with
    `columns`, its submission and its cell joined (for filters and columns of the caller's choosing)."""
    from nbgrader.api import Assignment, BaseCell, Notebook, SubmittedAssignment, SubmittedNotebook

    return (gb.db.query(*columns)
            .select_from(kind)
            .join(SubmittedNotebook, kind.notebook_id == SubmittedNotebook.id)
            .join(Notebook, SubmittedNotebook.notebook_id == Notebook.id)
            .join(SubmittedAssignment, SubmittedNotebook.assignment_id == SubmittedAssignment.id)
            .join(Assignment, SubmittedAssignment.assignment_id == Assignment.id)
            .join(BaseCell, kind.cell_id == BaseCell.id)
            .filter(Assignment.name == assignment))


def class_cells(gb, assignment: str, kind, column) -> dict[str, dict]:
    """{student: {cell name: column}} for every `kind` of the assignment's submissions, in one query (not one
    per student)."""
    from nbgrader.api import BaseCell, SubmittedAssignment

    out: dict[str, dict] = {}
    for student, name, value in cell_query(gb, assignment, kind, SubmittedAssignment.student_id, BaseCell.name, column):
        out.setdefault(student, {})[name] = value
    return out


class Recorder:
    """Writes outcomes one after another through ONE gradebook connection (opening nbgrader's Gradebook costs
    more than recording a submission). Each outcome is still committed before its status file is written,
    so a kill midway leaves every recorded submission complete, as with save() alone.

        with Recorder(template, root, db_url) as recorder:
            for outcome in outcomes:
                recorder.save(outcome)
    """

    def __init__(self, template: Template, root: Path, db_url: str):
        self.template, self.root, self.db_url = template, Path(root), db_url
        self._gb = None
        # {student: {"grades"/"comments": [(row id, notebook, cell)]}} of the submissions prepare() created in
        # this run (timestamps included): their rows are known, so save() looks nothing up
        self._fresh: dict[str, dict[str, list]] = {}
        self._shared: dict[str, Path] | None = None
        self._made: set[Path] = set()  # folders shared by every submission that this run has made (see _folder)

    def __enter__(self) -> "Recorder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._gb is not None:
            self._gb.close()
            self._gb = None

    def _gradebook(self):
        if self._gb is None:  # (opened at the first outcome to record: a run of grader errors needs none)
            from nbgrader.api import Gradebook

            self._gb = Gradebook(self.db_url)
        return self._gb

    def _folder(self, path: Path) -> None:
        """Make `path` unless this run already has: on some file systems a mkdir costs more than a small file,
        and every submission writes into the same status folder."""
        if path not in self._made:
            path.mkdir(parents=True, exist_ok=True)
            self._made.add(path)

    def _shared_files(self) -> dict[str, Path]:
        """{name: path} of one copy of each of the template's other files, beside the template's cache, written
        (once a run, where missing or changed) for save() to link into each student's autograded folder."""
        if self._shared is None:
            folder = template_dir(self.root, self.template.assignment) / "files"
            self._shared = {}
            for name, data in self.template.files.items():
                path = folder / name
                try:
                    same = path.read_bytes() == data
                except OSError:
                    same = False
                if not same:
                    _write_atomically(path, data)
                self._shared[name] = path
        return self._shared

    def prepare(self, timestamps: dict[str, str | None], chunk: int = 250) -> int:
        """Create, in a few transactions, the gradebook rows of every student in `timestamps` ({student: hand-in
        time}) who has no submission of the assignment yet; returns how many were created.

        nbgrader's add_submission mirrors the assignment (a submitted notebook per notebook, a grade per grade
        cell, a comment per solution cell, both per task cell) with a dozen queries and a commit per student:
        most of a new submission's recording time. Here the same rows are inserted in bulk. An empty
        submission is harmless if the run is killed: without a status file it is graded again, and export and
        report read a student's status from the status files.
        """
        from nbgrader import utils
        from nbgrader.api import Comment, Grade, Student, SubmittedAssignment, SubmittedNotebook
        from sqlalchemy import insert, select

        assignment = self.template.assignment
        gb = self._gradebook()
        try:
            found = gb.find_assignment(assignment)
            have = set(gb.db.scalars(select(SubmittedAssignment.student_id)
                                     .where(SubmittedAssignment.assignment_id == found.id)))
            new = [student for student in timestamps if student not in have]
            if not new:
                return 0
            # (notebook id, name, [(cell id, name)] of its grades, the same of its comments), read once
            layout = [(nb.id, nb.name, [(c.id, c.name) for c in (*nb.grade_cells, *nb.task_cells)],
                       [(c.id, c.name) for c in (*nb.solution_cells, *nb.task_cells)]) for nb in found.notebooks]
            for start in range(0, len(new), chunk):
                rows = {"student": [], "submission": [], "notebook": [], "grade": [], "comment": []}
                made, part = {}, new[start:start + chunk]
                known = set(gb.db.scalars(select(Student.id).where(Student.id.in_(part))))  # (SQLite's 999 bound)
                for student in part:
                    if student not in known:
                        rows["student"].append({"id": student})
                    sub = uuid.uuid4().hex
                    stamp = timestamps[student]
                    rows["submission"].append({"id": sub, "assignment_id": found.id, "student_id": student,
                                               "timestamp": utils.parse_utc(stamp) if stamp else None})
                    made[student] = {"grades": [], "comments": []}
                    for notebook_id, notebook, grade_cells, comment_cells in layout:
                        nb = uuid.uuid4().hex
                        rows["notebook"].append({"id": nb, "assignment_id": sub, "notebook_id": notebook_id})
                        for table, cells in (("grade", grade_cells), ("comment", comment_cells)):
                            for cell_id, cell in cells:
                                row_id = uuid.uuid4().hex
                                rows[table].append({"id": row_id, "notebook_id": nb, "cell_id": cell_id})
                                if notebook in self.template.notebooks:
                                    made[student][table + "s"].append((row_id, notebook, cell))
                for table, kind in (("student", Student), ("submission", SubmittedAssignment),
                                    ("notebook", SubmittedNotebook), ("grade", Grade), ("comment", Comment)):
                    if rows[table]:
                        gb.db.execute(insert(kind), rows[table])
                gb.db.commit()
                self._fresh.update(made)
            return len(new)
        except BaseException:
            gb.db.rollback()
            raise
        finally:
            gb.db.expunge_all()

    def _cells(self, kind, assignment: str, student: str, *columns):
        """(id, notebook name, cell name, *columns) of each Grade or Comment of the student's submission of the
        assignment, for the notebooks of the template: plain rows, not objects (updated in bulk below)."""
        from nbgrader.api import BaseCell, Notebook, SubmittedAssignment

        return (cell_query(self._gb, assignment, kind, kind.id, Notebook.name, BaseCell.name, *columns)
                .filter(SubmittedAssignment.student_id == student, Notebook.name.in_(self.template.notebooks))
                .all())

    def save(self, outcome: Outcome) -> dict:
        """Write one outcome everywhere it belongs; returns the status record. A grader error beside an
        earlier result is kept apart (see the module's docstring); its record says so with "kept": <earlier
        status>."""
        template, root = self.template, self.root
        assignment, student = template.assignment, outcome.student
        record = {k: v for k, v in asdict(outcome).items() if k != "autograded"}
        record["key"] = key(outcome.digest, template)
        status_file = status_dir(root, assignment) / f"{student}.json"
        error_file = errors_dir(root, assignment) / f"{student}.json"
        if outcome.status == "error":
            earlier = _read(status_file)  # (this student's file only: not the whole class per error)
            if earlier and earlier.get("status") != "error":
                record["kept"] = earlier["status"]
                _write_atomically(error_file, json.dumps(record, indent=1).encode())
                return record
            # Nothing earlier to keep: the status file says "error" (the gradebook is left as it is), and the
            # next run tries again.
            _write_atomically(status_file, json.dumps(record, indent=1).encode())
            return record

        autograded = root / "autograded" / student / assignment
        if autograded.exists():
            shutil.rmtree(autograded)
        if outcome.autograded:
            shared = self._shared_files()
            for folder in sorted({(autograded / name).parent for name in [*outcome.autograded, *shared]}):
                folder.mkdir(parents=True, exist_ok=True)  # (each once, not once per file)
            for name, data in outcome.autograded.items():
                _write_atomically(autograded / name, data, make_folder=False)
            for name, path in shared.items():  # the pictures the feedback shows
                target = autograded / name
                try:
                    os.link(path, target)  # (the same bytes for every student: one copy, linked)
                except OSError:  # (a file system without hard links: a copy each)
                    _write_atomically(target, template.files[name], make_folder=False)

        from nbgrader.api import Comment, Grade
        from sqlalchemy import update

        graded = outcome.status == "graded"

        gb = self._gradebook()
        try:
            fresh = self._fresh.pop(student, None)
            if fresh is None:
                gb.update_or_create_student(student)
                extra = {"timestamp": outcome.timestamp} if outcome.timestamp else {}
                gb.update_or_create_submission(assignment, student, **extra)
                # The submission's grades and comments with their cells' names, one query each (objects would
                # load each cell by a query of its own).
                grade_rows = self._cells(Grade, assignment, student, Grade.manual_score)
                comment_rows = self._cells(Comment, assignment, student)
            else:  # (made by prepare(): no manual score yet)
                grade_rows = [(*row, None) for row in fresh["grades"]]
                comment_rows = fresh["comments"]
            grades = []
            for grade_id, notebook, name, manual_score in grade_rows:
                # Anything but a completed grading run earns nothing; the status says why.
                auto = outcome.scores.get(notebook, {}).get(name, 0.0) if graded else 0.0
                grades.append({"id": grade_id, "auto_score": auto,
                               "needs_manual_grade": manual_score is not None or auto is None})
            comments = [{"id": comment_id, "auto_comment": outcome.comments.get(notebook, {}).get(name) if graded
                         else None} for comment_id, notebook, name in comment_rows]
            # One UPDATE each for all the rows (SQLAlchemy's bulk UPDATE by primary key).
            for kind, rows in ((Grade, grades), (Comment, comments)):
                if rows:
                    gb.db.execute(update(kind), rows)
            gb.db.commit()
        except BaseException:
            gb.db.rollback()  # (the shared session must not carry a half-written submission into the next)
            raise
        finally:
            gb.db.expunge_all()  # (memory stays flat in class size: nothing is kept between submissions)

        self._folder(status_file.parent)
        _write_atomically(status_file, json.dumps(record, indent=1).encode(), make_folder=False)
        error_file.unlink(missing_ok=True)  # (after the status file: a kill between the two retries once more)
        return record


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text()) if path.exists() else None
    except (OSError, ValueError):
        return None


def save(outcome: Outcome, template: Template, root: Path, db_url: str) -> dict:
    """Write one outcome everywhere it belongs (a Recorder of its own; a run records through one Recorder)."""
    with Recorder(template, root, db_url) as recorder:
        return recorder.save(outcome)
