"""Collect as Canvas delivers: re-uploads named <name>-1.ipynb, -2, download names that carry the login, the
user id, the submission id and LATE; the newest file of a student is the one collected, every older or
competing file is reported, and the Canvas ids and late marker reach submission.json and the export."""

import io
import json
import zipfile

from grader.pipeline import collect

ASSIGNMENT = "resnet50"
NOTEBOOK = "Residual_Networks.ipynb"
NB = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'


def _zip(path, entries):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, (data, when) in entries.items():
            z.writestr(zipfile.ZipInfo(name, when), data)
    path.write_bytes(buffer.getvalue())
    return path


def version(n: int) -> bytes:
    return NB.replace(b"{}", b'{"version": %d}' % n)


NOV = (2026, 11, 20, 12, 0, 0)


def test_canvas_reuploads_late_work_and_ids(tmp_path):
    archive = _zip(tmp_path / "submissions.zip", {
        # Uploaded three times: Canvas names the re-uploads -1 and -2 (file times are the download's, equal).
        "smithjohn_1234_5678_Residual_Networks.ipynb": (version(1), NOV),
        "smithjohn_1234_5678_Residual_Networks-2.ipynb": (version(3), NOV),
        "smithjohn_1234_5678_Residual_Networks-1.ipynb": (version(2), NOV),
        "doejane_LATE_2345_6789_Residual_Networks.ipynb": (version(1), (2026, 11, 22, 8, 0, 0)),
        "roeann_3456_7890_Residual_Networks.ipynb": (version(1), NOV),
        "roeann_3456_7890_draft.ipynb": (version(9), (2026, 11, 21, 0, 0, 0)),  # newer, but another notebook
        "roeann_3456_7890_helper-1.py": (b"x = 1\n", NOV),  # Canvas's re-upload name of helper.py
    })
    root = tmp_path / "course"
    rep = collect.collect(archive, ASSIGNMENT, root, ["Residual_Networks"])
    assert set(rep.students) == {"smithjohn", "doejane", "roeann"}

    smith = root / "submitted" / "smithjohn" / ASSIGNMENT
    assert sorted(p.name for p in smith.iterdir()) == [NOTEBOOK, "submission.json", "timestamp.txt"]
    assert (smith / NOTEBOOK).read_bytes() == version(3)  # the newest upload, under the notebook's name
    assert len(rep.duplicates) == 2 and all("kept smithjohn_1234_5678_Residual_Networks-2.ipynb (a later re-upload)"
                                            in line for line in rep.duplicates)
    meta = json.loads((smith / "submission.json").read_text())
    assert meta["lms"] == "canvas" and meta["user_id"] == "1234" and meta["submission_id"] == "5678"
    assert meta["late"] is False
    assert meta["files"] == {NOTEBOOK: "smithjohn_1234_5678_Residual_Networks-2.ipynb"}
    assert meta["not_kept"] == ["smithjohn_1234_5678_Residual_Networks-1.ipynb",
                                "smithjohn_1234_5678_Residual_Networks.ipynb"]

    jane = json.loads((root / "submitted" / "doejane" / ASSIGNMENT / "submission.json").read_text())
    assert jane["late"] is True and jane["user_id"] == "2345" and jane["submitted_at"].startswith("2026-11-22T08:00")
    assert rep.late == ["doejane: doejane_LATE_2345_6789_Residual_Networks.ipynb"]
    assert (root / "submitted" / "doejane" / ASSIGNMENT / "timestamp.txt").read_text().startswith("2026-11-22T08:00")

    ann = root / "submitted" / "roeann" / ASSIGNMENT
    assert (ann / NOTEBOOK).read_bytes() == version(1) and (ann / "helper.py").exists()
    assert any(line.startswith("roeann: draft.ipynb (collected, not graded") for line in rep.not_graded)
    text = "\n".join(rep.lines())
    for heading in ("handed in more than once", "notebooks that will not be graded", "late (marked by the LMS)"):
        assert heading in text


def test_a_later_canvas_submission_beats_a_higher_reupload_number(tmp_path):
    archive = _zip(tmp_path / "a.zip", {
        "smithjohn_1234_5678_Residual_Networks-3.ipynb": (version(1), NOV),
        "smithjohn_1234_5690_Residual_Networks.ipynb": (version(2), NOV),
    })
    rep = collect.collect(archive, ASSIGNMENT, tmp_path / "course", ["Residual_Networks"])
    assert (tmp_path / "course" / "submitted" / "smithjohn" / ASSIGNMENT / NOTEBOOK).read_bytes() == version(2)
    assert "(a later submission)" in rep.duplicates[0]


def test_copies_in_a_folder_keep_the_newest(tmp_path):
    import os

    incoming = tmp_path / "incoming" / "alice"
    incoming.mkdir(parents=True)
    (incoming / NOTEBOOK).write_bytes(version(1))
    (incoming / "Residual_Networks (1).ipynb").write_bytes(version(2))
    os.utime(incoming / NOTEBOOK, (1_000_000, 1_000_000))
    rep = collect.collect(tmp_path / "incoming", ASSIGNMENT, tmp_path / "course", ["Residual_Networks"])
    folder = tmp_path / "course" / "submitted" / "alice" / ASSIGNMENT
    assert (folder / NOTEBOOK).read_bytes() == version(2)
    assert not (folder / "Residual_Networks (1).ipynb").exists()
    assert "kept alice/Residual_Networks (1).ipynb (newer)" in rep.duplicates[0]
    assert json.loads((folder / "submission.json").read_text())["not_kept"] == ["alice/Residual_Networks.ipynb"]


def test_the_export_gives_canvas_its_ids_back(tmp_path):
    import shutil

    from grader import course

    from grader.pipeline import export

    root = tmp_path / "course"
    shutil.copytree(course.ROOT / "solutions" / ASSIGNMENT, root / "solutions" / ASSIGNMENT)
    archive = _zip(tmp_path / "a.zip", {"doejane_LATE_2345_6789_Residual_Networks.ipynb": (version(1), NOV)})
    collect.collect(archive, ASSIGNMENT, root, ["Residual_Networks"])
    (row,) = export.rows(ASSIGNMENT, root)
    assert (row["student_id"], row["status"], row["lms"], row["lms_user_id"], row["lms_submission_id"], row["late"]) \
        == ("doejane", "not_graded", "canvas", "2345", "6789", "yes")


def test_two_canvas_users_with_one_name_stay_two_students(tmp_path):
    archive = _zip(tmp_path / "a.zip", {
        "smithjohn_1234_5678_Residual_Networks.ipynb": (version(1), NOV),
        "smithjohn_4321_8765_Residual_Networks.ipynb": (version(2), NOV),
    })
    rep = collect.collect(archive, ASSIGNMENT, tmp_path / "course", ["Residual_Networks"])
    assert set(rep.students) == {"smithjohn_1234", "smithjohn_4321"} and not rep.duplicates
    assert any("2 LMS users share this name" in line for line in rep.renamed)
    folder = tmp_path / "course" / "submitted" / "smithjohn_4321" / ASSIGNMENT
    meta = json.loads((folder / "submission.json").read_text())
    assert meta["user_id"] == "4321" and meta["login"] == "smithjohn"


# ------------------------------------------------------------------------------- Moodle, Blackboard, Gradescope


def test_blackboard_attempts_the_newest_is_graded_and_timed(tmp_path):
    archive = _zip(tmp_path / "bb.zip", {
        # Blackboard names every attempt by its time; the download's file times say nothing.
        "Residual Networks_jsmith_attempt_2026-11-20-09-00-00_Residual_Networks.ipynb": (version(1), NOV),
        "Residual Networks_jsmith_attempt_2026-11-21-18-30-00_Residual_Networks.ipynb": (version(2), NOV),
        "Residual Networks_jsmith_attempt_2026-11-21-18-30-00.txt": (b"Name: John Smith (jsmith)\n", NOV),
        "Residual Networks_adoe_attempt_2026-11-19-10-00-00_my notebook.ipynb": (version(5), NOV),
    })
    root = tmp_path / "course"
    rep = collect.collect(archive, ASSIGNMENT, root, ["Residual_Networks"])
    assert set(rep.students) == {"jsmith", "adoe"} and rep.receipts == 1
    folder = root / "submitted" / "jsmith" / ASSIGNMENT
    assert (folder / NOTEBOOK).read_bytes() == version(2)
    assert sorted(p.name for p in folder.iterdir()) == [NOTEBOOK, "submission.json", "timestamp.txt"]  # no receipt
    assert "(a later Blackboard attempt)" in rep.duplicates[0] and "2026-11-20-09-00-00" in rep.duplicates[0]
    meta = json.loads((folder / "submission.json").read_text())
    assert meta["lms"] == "blackboard" and meta["submitted_at"] == "2026-11-21T18:30:00+00:00"
    assert meta["time_from"].startswith("blackboard") and meta["not_kept"] == [
        "Residual Networks_jsmith_attempt_2026-11-20-09-00-00_Residual_Networks.ipynb"]
    assert (folder / "timestamp.txt").read_text() == "2026-11-21T18:30:00+00:00"
    # A lone notebook under another name is the one graded, and the rename is reported.
    assert (root / "submitted" / "adoe" / ASSIGNMENT / NOTEBOOK).read_bytes() == version(5)
    assert "adoe: my notebook.ipynb -> Residual_Networks.ipynb" in rep.renamed


def test_moodle_folders_and_flat_names(tmp_path):
    archive = _zip(tmp_path / "moodle.zip", {
        "Jane Doe_2345_assignsubmission_file_/Residual_Networks.ipynb": (version(1), NOV),
        "Ann Roe_3456_assignsubmission_file_Residual_Networks.ipynb": (version(2), (2026, 11, 21, 8, 0, 0)),
        "Ann Roe_3456_assignsubmission_onlinetext_onlinetext.html": (b"<p>see notebook</p>", NOV),
    })
    root = tmp_path / "course"
    rep = collect.collect(archive, ASSIGNMENT, root, ["Residual_Networks"])
    assert set(rep.students) == {"jane_doe", "ann_roe"}
    ann = root / "submitted" / "ann_roe" / ASSIGNMENT
    assert (ann / NOTEBOOK).read_bytes() == version(2) and (ann / "onlinetext.html").exists()
    meta = json.loads((ann / "submission.json").read_text())
    assert (meta["lms"], meta["user_id"], meta["login"]) == ("moodle", "3456", "Ann Roe")
    assert meta["submitted_at"].startswith("2026-11-21T08:00") and meta["time_from"].startswith("file time")


GRADESCOPE_YML = b"""\
submission_111:
  :submitters:
  - :name: John Smith
    :sid: '9001'
    :email: jsmith@uni.example
  :created_at: 2026-11-21 18:30:00.123456789 -0800
  :score: 0.0
  :history:
  - :id: 100
    :created_at: 2026-11-20 10:00:00.000000000 -0800
submission_222:
  :submitters:
  - :name: Jane Doe
    :sid: '9002'
    :email: jdoe@uni.example
  - :name: Ann Roe
    :sid: '9003'
    :email: aroe@uni.example
  :created_at: 2026-11-20 09:00:00.000000000 -0800
"""


def test_gradescope_export_metadata_groups_and_history(tmp_path):
    archive = _zip(tmp_path / "gs.zip", {
        "assignment_42_export/submission_metadata.yml": (GRADESCOPE_YML, NOV),
        "assignment_42_export/submission_111/Residual_Networks.ipynb": (version(1), NOV),
        "assignment_42_export/submission_222/Residual_Networks.ipynb": (version(2), NOV),
    })
    root = tmp_path / "course"
    rep = collect.collect(archive, ASSIGNMENT, root, ["Residual_Networks"])
    assert set(rep.students) == {"john_smith", "jane_doe", "ann_roe"}
    john = json.loads((root / "submitted" / "john_smith" / ASSIGNMENT / "submission.json").read_text())
    assert (john["lms"], john["user_id"], john["submission_id"]) == ("gradescope", "9001", "111")
    assert john["submitted_at"] == "2026-11-21T18:30:00-08:00" and john["login"] == "jsmith@uni.example"
    for member in ("jane_doe", "ann_roe"):
        assert (root / "submitted" / member / ASSIGNMENT / NOTEBOOK).read_bytes() == version(2)
    assert rep.groups == ["submission_222: jane_doe, ann_roe"]
    assert rep.earlier == ["john_smith: 1 earlier Gradescope submission(s) of submission_111"]
    assert not (root / "submitted" / "submission_metadata").exists()


# ------------------------------------------------------------------------------------------------ late policy


def test_late_policy_days_grace_cap_and_floor():
    from grader.pipeline import late

    policy = late.Policy(due="2026-11-21T23:59:00+00:00", grace_minutes=15, per_day=10, cap=25)
    on_time = late.assess(policy, "2026-11-22T00:10:00+00:00", False, 30, 30)  # within the grace
    assert (on_time.late, on_time.days, on_time.penalty) == (False, 0, 0.0)
    one = late.assess(policy, "2026-11-22T00:20:00+00:00", False, 30, 30)  # past the grace: day 1
    assert (one.late, one.days, one.penalty) == (True, 1, 3.0)
    two = late.assess(policy, "2026-11-23T00:00:00+01:00", False, 30, 30)  # 23:00 UTC on the 22nd: still day 1
    assert two.days == 1
    capped = late.assess(policy, "2026-11-30T12:00:00+00:00", False, 30, 30)
    assert capped.days == 9 and capped.penalty == 7.5  # 25% of 30, not 90%
    assert late.assess(policy, "2026-11-30T12:00:00+00:00", False, 30, 2).penalty == 2  # never below zero
    extension = late.assess(policy, "2026-11-21T20:00:00+00:00", True, 30, 30)
    assert not extension.late and "marked it late" in extension.note
    assert late.assess(None, None, True, 30, 30).late  # no policy: the LMS's marker, no penalty
    assert late.show_time("2026-11-22T00:20:00+00:00") == "2026-11-22 00:20 UTC"
    assert late.show_time("2026-11-21T18:30:00-08:00") == "2026-11-21 18:30 UTC-08:00"


def test_export_applies_the_policy_and_writes_moodle_worksheet(tmp_path):
    import csv
    import shutil

    from grader import course

    from grader.pipeline import export, late

    root = tmp_path / "course"
    shutil.copytree(course.ROOT / "solutions" / ASSIGNMENT, root / "solutions" / ASSIGNMENT)
    archive = _zip(tmp_path / "m.zip", {
        "Jane Doe_2345_assignsubmission_file_/Residual_Networks.ipynb": (version(1), (2026, 11, 23, 12, 0, 0)),
        "Ann Roe_3456_assignsubmission_file_/Residual_Networks.ipynb": (version(1), (2026, 11, 21, 12, 0, 0)),
    })
    collect.collect(archive, ASSIGNMENT, root, ["Residual_Networks"])
    late.save(root, ASSIGNMENT, late.Policy(due="2026-11-22T00:00:00+00:00", per_day=20, cap=100))
    assert late.load(root, ASSIGNMENT).per_day == 20
    rows = {r["student_id"]: r for r in export.rows(ASSIGNMENT, root)}
    # Not graded yet: no score, no penalty, but the lateness is known already.
    assert (rows["jane_doe"]["late"], rows["jane_doe"]["late_days"], rows["jane_doe"]["final"]) == ("yes", "2", "")
    assert (rows["ann_roe"]["late"], rows["ann_roe"]["late_days"]) == ("no", "0")
    # As if graded: 24 of 30 raw, two days late at 20% of 30 a day -> 12 off.
    rows["jane_doe"].update(status="graded", total="24", penalty="12", final="12")
    rows["ann_roe"].update(status="graded", total="30", penalty="0", final="30")
    path, missing = export.write_moodle(ASSIGNMENT, tmp_path / "moodle.csv", root, list(rows.values()))
    assert missing == []
    sheet = list(csv.DictReader(path.open()))
    assert list(sheet[0]) == export.MOODLE_COLUMNS
    by_id = {r["Identifier"]: r for r in sheet}
    assert by_id["Participant 2345"]["Full name"] == "Jane Doe" and by_id["Participant 2345"]["Grade"] == "12"
    assert by_id["Participant 3456"]["Grade"] == "30" and by_id["Participant 2345"]["Maximum Grade"] == "30"
    assert "late by 2 day(s): -12 point(s)" in by_id["Participant 2345"]["Feedback comments"]


def test_names_without_latin_letters_are_collected_not_skipped(tmp_path):
    """李雷 or Иван Петров leave nothing once reduced to a folder-safe id: the work must still be collected,
    under the LMS user id where there is one, and two such students must stay two."""
    archive = _zip(tmp_path / "mixed.zip", {
        "李雷/Residual_Networks.ipynb": (version(1), NOV),
        "王芳/Residual_Networks.ipynb": (version(2), NOV),
        "Иван Петров_778_assignsubmission_file_/Residual_Networks.ipynb": (version(3), NOV),
    })
    root = tmp_path / "course"
    rep = collect.collect(archive, ASSIGNMENT, root, ["Residual_Networks"])
    assert not rep.skipped, rep.skipped
    assert len(rep.students) == 3 and "user_778" in rep.students, rep.students
    handed_in = {(root / "submitted" / s / ASSIGNMENT / NOTEBOOK).read_bytes() for s in rep.students}
    assert handed_in == {version(1), version(2), version(3)}
    said = "\n".join(rep.lines())
    assert "李雷: no Latin letter or digit in the name: collected as name_" in said, said
    again = collect.collect(archive, ASSIGNMENT, tmp_path / "again", ["Residual_Networks"])
    assert set(again.students) == set(rep.students)  # the same ids on every run
