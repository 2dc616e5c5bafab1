"""The instructor's pipeline on a synthetic class: every student gets the status and points they must get,
a grader killed midway loses and repeats nothing, the Dask path exports the same grades bit for bit, plain
nbgrader agrees, feedback holds no hidden test, the export and the report cover everyone.

The class is graded once per session (conftest.graded_class); the tests read its results.
"""

import csv
import html
import io
import re
import zipfile

import nbformat
import pytest

from grader.pipeline import autograde, collect, export, feedback, report
from grader.__main__ import main as grader_main
from tests.corpus import classroom
from tests.corpus.grading import ASSIGNMENT, LIMITS, new_course, submissions

SUBMISSIONS = submissions()
NOTEBOOK_STEM = "Residual_Networks"


@pytest.mark.parametrize("sub", SUBMISSIONS, ids=lambda s: s.student)
def test_each_student_gets_their_status_and_points(graded_class, sub):
    rec = graded_class.record(sub.student)
    assert rec["status"] == sub.status, rec["message"]
    cells = graded_class.cells(sub.student)
    if sub.expected is None:
        assert not any(cells.values()), f"earned {cells}"
    else:
        wrong = {c: (cells.get(c), want) for c, want in sub.expected.items() if cells.get(c) != want}
        assert not wrong, f"(got, expected) per cell: {wrong}; messages: {rec['messages']}"
    if sub.kind == "hostile" and sub.message:
        assert re.search(sub.message, rec["message"]), rec["message"]
    assert rec["status"] == "graded" or rec["message"], "a submission that was not graded must say why"


@pytest.mark.parametrize("sub", [s for s in SUBMISSIONS if s.notes.get("prints")], ids=lambda s: s.student)
def test_hostile_code_ran_and_reached_nothing(graded_class, sub):
    """The case's own output: it ran (says what it was denied) and, where kernels are confined, leaked nothing."""
    notebook = graded_class.root / "autograded" / sub.student / ASSIGNMENT / f"{NOTEBOOK_STEM}.ipynb"
    text = "\n".join(o.get("text", "") for c in nbformat.read(notebook, as_version=4).cells
                     for o in c.get("outputs", []))
    assert re.search(sub.notes["prints"], text), text[:2000]
    if sub.notes.get("never_prints"):
        assert not re.search(sub.notes["never_prints"], text), text[:2000]


@pytest.mark.parametrize("sub", [s for s in SUBMISSIONS if s.notes.get("cell_messages")], ids=lambda s: s.student)
def test_each_cell_says_why_it_lost_its_points(graded_class, sub):
    messages = graded_class.record(sub.student)["messages"]
    for cell, pattern in sub.notes["cell_messages"].items():
        assert re.search(pattern, messages.get(cell, "")), (cell, messages.get(cell))


def test_the_class_is_big_enough(graded_class):
    kinds = {s.kind for s in SUBMISSIONS}
    assert len(SUBMISSIONS) >= 40 and {"solution", "mutant", "variant", "release", "partial", "hostile"} <= kinds
    assert set(graded_class.records) == {s.student for s in SUBMISSIONS}


def test_student_code_changes_nothing_outside_its_scratch_copy(graded_class):
    assert graded_class.course_before == graded_class.course_after
    assert graded_class.network_connections == 0


def test_suspicious_code_is_flagged_and_clean_code_is_not(graded_class):
    for sub in SUBMISSIONS:
        flags = graded_class.record(sub.student)["flags"]
        if sub.kind in ("solution", "variant", "mutant", "release", "partial"):
            assert not flags, f"{sub.student}: {flags}"
    assert any("os._exit" in f for f in graded_class.record("hostile-os-exit")["flags"])


def test_killing_the_grader_midway_loses_nothing_and_repeats_nothing(graded_class):
    killed = graded_class.killed_run
    everyone = {s.student for s in SUBMISSIONS}
    assert 0 < len(killed) < len(everyone), graded_class.killed_log[-2000:]
    rerun_students = {r["student"] for r in graded_class.rerun.graded}
    assert set(graded_class.rerun.skipped) == set(killed)
    assert rerun_students == everyone - set(killed)
    status_dir = graded_class.root / "grading" / ASSIGNMENT
    for student, data in killed.items():  # byte for byte what the killed run wrote
        assert (status_dir / f"{student}.json").read_bytes() == data


def test_a_third_run_grades_nothing_and_force_regrades(graded_class):
    again = autograde.run(ASSIGNMENT, graded_class.root, workers=2, limits=LIMITS, progress=False,
                          only=["broken-empty-file", "solution"])
    assert again.graded == [] and sorted(again.skipped) == ["broken-empty-file", "solution"]
    forced = autograde.run(ASSIGNMENT, graded_class.root, workers=2, limits=LIMITS, progress=False,
                           only=["broken-empty-file"], force=True)
    assert [r["student"] for r in forced.graded] == ["broken-empty-file"]


def test_a_changed_submission_is_graded_again(graded_class, tmp_path):
    root = new_course(tmp_path / "course")
    folder = root / "submitted" / "changing" / ASSIGNMENT
    folder.mkdir(parents=True)
    (folder / classroom.NOTEBOOK).write_bytes(b"")
    first = autograde.run(ASSIGNMENT, root, workers=1, progress=False, only=["changing"])
    (folder / classroom.NOTEBOOK).write_bytes(b"{")
    second = autograde.run(ASSIGNMENT, root, workers=1, progress=False, only=["changing"])
    assert [r["status"] for r in first.graded + second.graded] == ["unreadable", "unreadable"]
    assert "empty" in first.graded[0]["message"] and "not a readable notebook" in second.graded[0]["message"]


def test_export_has_a_row_and_a_status_for_every_student(graded_class):
    path = export.write(ASSIGNMENT, graded_class.root / "grades.csv", graded_class.root)
    rows = list(csv.DictReader(path.open()))
    assert {r["student_id"] for r in rows} == {s.student for s in SUBMISSIONS}
    for row in rows:
        rec = graded_class.record(row["student_id"])
        assert row["status"] == rec["status"]
        cells = graded_class.cells(row["student_id"])
        assert float(row["total"]) == sum(v or 0 for v in cells.values())
        assert float(row["identity_block"]) + float(row["convolutional_block"]) + float(row["resnet50"]) == float(row["total"])
    solution = next(r for r in rows if r["student_id"] == "solution")
    assert solution["total"] == solution["max_total"] == "30"


def test_feedback_for_everyone_without_hidden_tests(graded_class):
    pages = feedback.generate(ASSIGNMENT, graded_class.root)
    assert {p.parent.parent.name for p in pages} == {s.student for s in SUBMISSIONS}
    for page in pages:
        text = page.read_text()
        for secret in ("BEGIN HIDDEN TESTS", "from grader", "hidden.block", "hidden.resnet50", "HIDDEN_CASES"):
            assert secret not in text, f"{secret!r} in {page}"
    wrong = (graded_class.root / "feedback" / "mutant-identity-shortcut-missing" / ASSIGNMENT / f"{NOTEBOOK_STEM}.html")
    assert "shortcut is missing" in wrong.read_text()  # the visible check's message reaches the student
    died = graded_class.root / "feedback" / "hostile-os-exit" / ASSIGNMENT / f"{NOTEBOOK_STEM}.html"
    assert "could not be graded" in died.read_text() and "exited with code 3" in died.read_text()


def test_report_shows_the_class(graded_class):
    page = report.build(ASSIGNMENT, graded_class.root / "report", graded_class.root)
    text = page.read_text()
    for section in ("Status of every submission", "Scores", "Checks", "Most frequent failures", "Slowest submissions"):
        assert section in text
    assert text.count("data:image/png;base64,") == 3
    for png in ("scores.png", "checks.png", "times.png"):
        assert (page.parent / png).stat().st_size > 5000
    # The most frequent mistake heads the table, with the number of students who made it.
    per_student = [{report.headline(m) for m in r["messages"].values()} for r in graded_class.records.values()]
    counts = {h: sum(h in mine for mine in per_student) for mine in per_student for h in mine}
    top = max(counts, key=counts.get)
    first_row = re.search(r"Most frequent failures</h2>\s*<table><tr>.*?</tr><tr><td>(\d+)</td><td>([^<]*)</td>", text)
    assert int(first_row.group(1)) == counts[top] and html.unescape(first_row.group(2)) in counts


def test_the_dask_path_exports_the_same_grades(graded_class, tmp_path):
    from distributed import LocalCluster

    chosen = ["solution", "untouched-release", "partial-blocks-only", "mutant-identity-shortcut-missing",
              "mutant-resnet-wrong-stage-length", "variant-conv-helper-function", "broken-empty-file", "hostile-os-exit"]
    chosen = [s for s in chosen if s in graded_class.records]
    root = new_course(tmp_path / "course")
    classroom.write([s for s in SUBMISSIONS if s.student in chosen], tmp_path / "incoming")
    collect.collect(tmp_path / "incoming", ASSIGNMENT, root, [NOTEBOOK_STEM])
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        summary = autograde.run(ASSIGNMENT, root, scheduler=cluster.scheduler_address, limits=LIMITS, progress=False)
    assert len(summary.graded) == len(chosen)
    ours = {r["student_id"]: r for r in export.rows(ASSIGNMENT, root)}
    local = {r["student_id"]: r for r in export.rows(ASSIGNMENT, graded_class.root)}
    # (submitted_at is when each copy of the class was written to disk, so it differs between the two courses)
    same = lambda row: {k: v for k, v in row.items() if k != "submitted_at"}  # noqa: E731
    for student in chosen:
        assert same(ours[student]) == same(local[student])
        assert ours[student]["submitted_at"] and local[student]["submitted_at"]


def test_plain_nbgrader_gives_the_same_grades(graded_class, plain_nbgrader):
    pairs = {"solution": "solution", "untouched": "untouched-release", "one_wrong": "mutant-identity-shortcut-missing"}
    for plain, ours in pairs.items():
        assert plain_nbgrader["scores"][plain].cells == graded_class.cells(ours)


# ------------------------------------------------------------------------------------------------ collect


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buffer.getvalue()


def test_collect_reads_lms_zips_and_reports_everything(tmp_path):
    nb = classroom.RELEASE.read_bytes()
    archive = tmp_path / "canvas.zip"
    archive.write_bytes(_zip({
        "submissions/smithjohn_1234_5678_Residual_Networks.ipynb": nb,
        "submissions/doejane_LATE_2345_6789_Residual_Networks-1.ipynb": nb,
        "submissions/Ünïcode Name_3456_assignsubmission_file_/Residual_Networks.ipynb": nb,
        "submissions/Ünïcode Name_3456_assignsubmission_file_/helper.py": b"x = 1\n",
        "submissions/__MACOSX/._junk": b"",
        "submissions/broken_1_2_Residual_Networks.ipynb": b"\xff\x00 not json",
    }))
    root = tmp_path / "course"
    rep = collect.collect(archive, ASSIGNMENT, root, [NOTEBOOK_STEM])
    assert set(rep.students) == {"smithjohn", "doejane", "unicode_name", "broken"}
    assert (root / "submitted" / "unicode_name" / ASSIGNMENT / "helper.py").exists()
    assert (root / "submitted" / "doejane" / ASSIGNMENT / classroom.NOTEBOOK).exists()
    assert any("doejane" in r and "Residual_Networks-1.ipynb" in r for r in rep.renamed)
    assert any(r.startswith("broken/") for r in rep.unreadable)
    assert (root / "submitted" / "broken" / ASSIGNMENT / classroom.NOTEBOOK).exists()  # kept, for its status
    assert all((root / "submitted" / s / ASSIGNMENT / "timestamp.txt").exists() for s in rep.students)


def test_collect_folders_duplicates_and_names(tmp_path):
    import os

    nb = classroom.RELEASE.read_bytes()
    incoming = tmp_path / "incoming"
    (incoming / "Alice").mkdir(parents=True)
    (incoming / "Alice" / classroom.NOTEBOOK).write_bytes(nb)
    (incoming / "alice.ipynb").write_bytes(nb + b" ")  # the same student twice, newer
    os.utime(incoming / "Alice" / classroom.NOTEBOOK, (1_000_000, 1_000_000))
    (incoming / "../evil").mkdir()
    (incoming / "..ipynb").write_bytes(nb)
    root = tmp_path / "course"
    rep = collect.collect(incoming, ASSIGNMENT, root, [NOTEBOOK_STEM])
    assert set(rep.students) == {"alice"}
    assert len(rep.duplicates) == 1 and "kept alice.ipynb" in rep.duplicates[0]
    assert (root / "submitted" / "alice" / ASSIGNMENT / classroom.NOTEBOOK).read_bytes() == nb + b" "
    assert any("no student id" in s for s in rep.skipped)
    assert not (root / "evil").exists()


def test_every_command_has_help(capsys):
    for command in ("release", "collect", "autograde", "feedback", "export", "report"):
        with pytest.raises(SystemExit) as exit:
            grader_main([command, "--help"])
        assert exit.value.code == 0
        assert command in capsys.readouterr().out


def test_a_check_names_the_failure_of_the_cell_that_should_have_defined_its_function():
    """An IndentationError in the answer makes every later check fail with NameError; the instructor's CSV
    and report must show the IndentationError, the student's real mistake."""
    import nbformat

    from grader.pipeline.results import cell_messages

    answer = nbformat.v4.new_code_cell("def identity_block(X):\n  return X\n    oops", metadata={})
    answer.outputs = [nbformat.v4.new_output("error", ename="IndentationError", evalue="unexpected indent (x.py, line 3)",
                                             traceback=[])]
    check = nbformat.v4.new_code_cell("checks.check_identity_block(identity_block)",
                                      metadata={"nbgrader": {"grade": True, "grade_id": "identity_block_structure"}})
    check.outputs = [nbformat.v4.new_output("error", ename="NameError", evalue="name 'identity_block' is not defined",
                                            traceback=[])]
    other = nbformat.v4.new_code_cell("checks.check_resnet50_layout(ResNet50)",
                                      metadata={"nbgrader": {"grade": True, "grade_id": "resnet50_layout"}})
    other.outputs = [nbformat.v4.new_output("error", ename="NameError", evalue="name 'ResNet50' is not defined",
                                            traceback=[])]
    messages = cell_messages(nbformat.v4.new_notebook(cells=[answer, check, other]))
    assert messages["identity_block_structure"] == ("NameError: name 'identity_block' is not defined (the cell "
                                                    "defining it failed: IndentationError: unexpected indent (x.py, line 3))")
    assert messages["resnet50_layout"] == "NameError: name 'ResNet50' is not defined"  # (never defined: nothing to add)
