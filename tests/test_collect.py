"""Collect as Canvas delivers: re-uploads named <name>-1.ipynb, -2, download names that carry the login, the
user id, the submission id and LATE; the newest file of a student is the one collected, every older or
competing file is reported, and the Canvas ids and late marker reach submission.json and the export."""

import io
import json
import zipfile

from grader import collect

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

    from grader import course, export

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
