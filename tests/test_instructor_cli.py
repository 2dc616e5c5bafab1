"""The instructor's command line: every mistake is refused in one line with a non-zero exit (no traceback
unless --debug), and a grader error never replaces a grade, is retried by the next run and fails the command.

No student kernel runs here: the executor is replaced by one that returns the outcomes each test wants.
"""

import json
import os
import re
import shutil
import socket
import time

import pytest

from grader import course

from grader.pipeline import autograde, executors, record
from grader.__main__ import main

ASSIGNMENT = "resnet50"
NOTEBOOK = "Residual_Networks"


def cli(capsys, *argv) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of one command."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:  # argparse's own refusals exit from inside parse_args
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


@pytest.fixture
def empty_course(tmp_path):
    root = tmp_path / "course"
    for part in ("solutions", "assignments"):
        shutil.copytree(course.ROOT / part / ASSIGNMENT, root / part / ASSIGNMENT)
    return root


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------------------------ mistakes, one line each


@pytest.mark.parametrize("argv, says", [
    (["collect", "resnet51", "x.zip"], "unknown assignment 'resnet51' (did you mean resnet50?); known: resnet50"),
    (["release", "resnet51"], "unknown assignment 'resnet51'"),
    (["autograde", "resnet51"], "unknown assignment 'resnet51'"),
    (["feedback", "resnet51"], "unknown assignment 'resnet51'"),
    (["export", "resnet51"], "unknown assignment 'resnet51'"),
    (["report", "nope"], "unknown assignment 'nope'; known: resnet50"),
    (["autograde", ASSIGNMENT, "--workers", "0"], "argument --workers: must be 1 or more, not 0"),
    (["autograde", ASSIGNMENT, "--workers", "-1"], "argument --workers: must be 1 or more, not -1"),
    (["autograde", ASSIGNMENT, "--workers", "two"], "argument --workers: 'two' is not a whole number"),
    (["autograde", ASSIGNMENT, "--timeout", "0"], "argument --timeout: must be 1 or more, not 0"),
    (["autograde", ASSIGNMENT, "--cell-timeout", "-5"], "argument --cell-timeout: must be 1 or more"),
    (["autograde", ASSIGNMENT, "--scheduler", "nonsense"], "'nonsense' is not a Dask scheduler address"),
    (["autograde", ASSIGNMENT, "--scheduler", "tcp://head:99999"], "is not a Dask scheduler address"),
    (["collect", ASSIGNMENT, "no-such.zip"], "no-such.zip: no such file or folder"),
    (["frobnicate", ASSIGNMENT], "invalid choice: 'frobnicate'"),
])
def test_a_mistake_is_refused_in_one_line(capsys, empty_course, argv, says):
    code, out, err = cli(capsys, "--course", empty_course, *argv)
    assert code == 2
    assert says in one_line(err)
    assert not (empty_course / "submitted").exists()


def test_not_a_course_folder(capsys, tmp_path):
    code, _, err = cli(capsys, "--course", tmp_path, "export", ASSIGNMENT)
    assert code == 2 and "is not a course folder" in one_line(err)


@pytest.mark.parametrize("command, says", [
    ("autograde", "collect them first (python -m grader collect resnet50 <LMS zip or folder>)"),
    ("feedback", "run python -m grader autograde resnet50 first"),
    ("report", "run python -m grader autograde resnet50 first"),
    ("export", "nothing of resnet50 collected or graded"),
])
def test_a_step_run_too_early_says_what_to_run(capsys, empty_course, command, says):
    code, _, err = cli(capsys, "--course", empty_course, command, ASSIGNMENT)
    assert code == 1 and says in one_line(err)


def test_debug_shows_the_traceback(empty_course):
    with pytest.raises(executors.Problem, match="run python -m grader autograde"):
        main(["--course", str(empty_course), "report", ASSIGNMENT, "--debug"])


def test_options_after_the_command(capsys, empty_course):
    code, _, err = cli(capsys, "report", ASSIGNMENT, "--course", empty_course)
    assert code == 1 and str(empty_course) in one_line(err)


def test_an_unreachable_scheduler_fails_within_seconds(capsys, empty_course):
    (empty_course / "submitted" / "alice" / ASSIGNMENT).mkdir(parents=True)
    address = f"tcp://127.0.0.1:{_free_port()}"  # nothing listens there
    start = time.monotonic()
    code, _, err = cli(capsys, "--course", empty_course, "autograde", ASSIGNMENT, "--scheduler", address)
    assert time.monotonic() - start < 20
    assert code == 1 and f"no Dask scheduler answered at {address} within 5 s" in one_line(err)
    assert not record.status_dir(empty_course, ASSIGNMENT).exists()


# ------------------------------------------------------------------------- a grader error keeps the grade


class FakeExecutor:
    """Stands in for executors.local: returns, for each job, the outcome `script` names for its student."""

    def __init__(self, monkeypatch):
        self.script, self.seen = {}, []
        monkeypatch.setattr(executors, "local", self)

    def __call__(self, jobs, template, limits, workers):
        from grader.pipeline.jobs import Outcome

        points = course.cell_points(ASSIGNMENT)
        for job in jobs:
            self.seen.append(job.student)
            status = self.script.get(job.student, "graded")
            if status == "graded":
                yield Outcome(job.student, job.digest, "graded", scores={NOTEBOOK: dict(points)},
                              timestamp=job.timestamp)
            else:
                yield Outcome(job.student, job.digest, "error", "the grading worker crashed: RuntimeError: Error "
                              "during deserialization of the task graph", timestamp=job.timestamp)


@pytest.fixture(scope="module")
def released_course(tmp_path_factory):
    """A course with two collected submissions and the assignment in its gradebook (nbgrader, once)."""
    root = tmp_path_factory.mktemp("errors") / "course"
    for part in ("solutions", "assignments"):
        shutil.copytree(course.ROOT / part / ASSIGNMENT, root / part / ASSIGNMENT)
    release = (root / "assignments" / ASSIGNMENT / f"{NOTEBOOK}.ipynb").read_bytes()
    for student in ("alice", "bob"):
        folder = root / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        (folder / f"{NOTEBOOK}.ipynb").write_bytes(release)
    course.kernel_environment()  # (nbgrader creates a gradebook with `alembic`, from the environment's bin/)
    autograde.ensure_released(ASSIGNMENT, root, course.load_config(root).CourseDirectory.db_url)
    return root


@pytest.fixture
def template(released_course):
    from grader.pipeline.jobs import Template

    return Template(ASSIGNMENT, (NOTEBOOK,), frozenset({"identity_block"}), b"", {}, "tests-digest")


def scores(root, student) -> dict:
    return course.read_score(ASSIGNMENT, student, root).cells


def test_a_grader_error_keeps_the_earlier_grade_and_is_retried(monkeypatch, released_course, template):
    root, fake = released_course, FakeExecutor(monkeypatch)
    first = autograde.run(ASSIGNMENT, root, force=True, progress=False, template=template)
    assert first.statuses == {"graded": 2} and first.error_line(ASSIGNMENT) is None
    full = sum(course.cell_points(ASSIGNMENT).values())
    status_files = {s: (record.status_dir(root, ASSIGNMENT) / f"{s}.json").read_bytes() for s in ("alice", "bob")}

    fake.script = {"alice": "error", "bob": "error"}  # the cluster broke: every result is an error of ours
    broken = autograde.run(ASSIGNMENT, root, force=True, progress=False, template=template)
    assert [r["kept"] for r in broken.errors] == ["graded", "graded"]
    assert broken.error_line(ASSIGNMENT).startswith(
        "2 of 2 submissions hit an error of the grader; earlier grades kept; rerun to retry")
    for student in ("alice", "bob"):  # status file and gradebook untouched
        assert (record.status_dir(root, ASSIGNMENT) / f"{student}.json").read_bytes() == status_files[student]
        assert sum(scores(root, student).values()) == full
    assert set(record.load_errors(root, ASSIGNMENT)) == {"alice", "bob"}

    fake.script, fake.seen = {}, []
    again = autograde.run(ASSIGNMENT, root, progress=False, template=template)  # no --force: errors retried
    assert sorted(fake.seen) == ["alice", "bob"] and again.statuses == {"graded": 2}
    assert record.load_errors(root, ASSIGNMENT) == {}
    fake.seen = []
    assert autograde.run(ASSIGNMENT, root, progress=False, template=template).skipped == ["alice", "bob"]
    assert fake.seen == []


def test_a_first_grader_error_is_recorded_as_error_and_retried(monkeypatch, released_course, template):
    root, fake = released_course, FakeExecutor(monkeypatch)
    folder = root / "submitted" / "carol" / ASSIGNMENT
    folder.mkdir(parents=True)
    (folder / f"{NOTEBOOK}.ipynb").write_bytes(b"{}")
    fake.script = {"carol": "error"}
    summary = autograde.run(ASSIGNMENT, root, only=["carol"], progress=False, template=template)
    assert summary.error_line(ASSIGNMENT).startswith("1 of 1 submissions hit an error of the grader; no earlier grades")
    assert record.load(root, ASSIGNMENT)["carol"]["status"] == "error"
    fake.script, fake.seen = {}, []
    autograde.run(ASSIGNMENT, root, only=["carol"], progress=False, template=template)
    assert fake.seen == ["carol"] and record.load(root, ASSIGNMENT)["carol"]["status"] == "graded"


def test_the_command_fails_with_a_summary_line(monkeypatch, capsys, released_course, template):
    root, fake = released_course, FakeExecutor(monkeypatch)
    monkeypatch.setattr(course, "template", lambda assignment, root=None: template)
    fake.script = {"alice": "error"}
    code, out, err = cli(capsys, "--course", root, "autograde", ASSIGNMENT, "--force", "alice", "bob")
    assert code == 1
    assert "1 error, 1 graded" in out
    assert ("1 of 2 submissions hit an error of the grader; earlier grades kept; rerun to retry "
            "(python -m grader autograde resnet50)") in err.splitlines()[-1]
    assert "(its earlier result, graded, is kept)" in err + out
    code, _, err = cli(capsys, "--course", root, "autograde", ASSIGNMENT, "zed")
    assert code == 2 and "no submission of resnet50 for: zed" in one_line(err)
    fake.script = {}
    code, out, _ = cli(capsys, "--course", root, "autograde", ASSIGNMENT, "alice", "bob")
    assert code == 0 and "1 graded; 1 unchanged" in out


def test_export_says_when_the_last_run_hit_an_error(monkeypatch, released_course, template):
    from grader.pipeline import export

    root, fake = released_course, FakeExecutor(monkeypatch)
    fake.script = {"bob": "error"}
    autograde.run(ASSIGNMENT, root, only=["bob"], force=True, progress=False, template=template)
    rows = {r["student_id"]: r for r in export.rows(ASSIGNMENT, root)}
    assert rows["bob"]["status"] == "graded" and rows["bob"]["total"] == rows["bob"]["max_total"]
    assert "grader error" in rows["bob"]["message"]
    fake.script = {}
    autograde.run(ASSIGNMENT, root, only=["bob"], progress=False, template=template)
    assert "grader error" not in {r["student_id"]: r for r in export.rows(ASSIGNMENT, root)}["bob"]["message"]
    assert json.loads((record.status_dir(root, ASSIGNMENT) / "bob.json").read_text())["status"] == "graded"


def test_export_says_why_each_check_lost_points_and_writes_canvas_import(monkeypatch, capsys, released_course,
                                                                          template):
    import csv

    root, fake = released_course, FakeExecutor(monkeypatch)
    monkeypatch.setattr(course, "template", lambda assignment, root=None: template)
    (root / "submitted" / "alice" / ASSIGNMENT / "submission.json").write_text(json.dumps(
        {"student": "alice", "lms": "canvas", "login": "alice", "user_id": "1234", "submission_id": "5678",
         "late": True}))
    points = course.cell_points(ASSIGNMENT)

    def one_wrong(jobs, template, limits, workers):
        from grader.pipeline.jobs import Outcome

        for job in jobs:
            yield Outcome(job.student, job.digest, "graded",
                          scores={NOTEBOOK: {**points, "identity_block_structure": 0}},
                          messages={"identity_block_structure": "identity_block(X, f=2, filters=[4, 4, 6]):\n"
                                    "- the shortcut is missing: nothing adds X to the main path\n- more"})

    monkeypatch.setattr(executors, "local", one_wrong)
    autograde.run(ASSIGNMENT, root, only=["alice"], force=True, progress=False, template=template)
    code, out, _ = cli(capsys, "--course", root, "export", ASSIGNMENT, "--canvas-column", "Residual Networks (77)")
    assert code == 0
    rows = {r["student_id"]: r for r in csv.DictReader((root / f"grades-{ASSIGNMENT}.csv").open())}
    alice = rows["alice"]
    assert alice["identity_block_structure"] == "0" and alice["identity_block_inference"] == "3"
    assert alice["identity_block_structure why"] == "the shortcut is missing: nothing adds X to the main path"
    assert alice["identity_block_inference why"] == "" and alice["total"] == f"{sum(points.values()) - 4:g}"
    assert (alice["lms_user_id"], alice["late"]) == ("1234", "yes")
    canvas = (root / f"grades-{ASSIGNMENT}-canvas.csv").read_text().splitlines()
    assert canvas[:3] == ["Student,ID,SIS User ID,SIS Login ID,Section,Residual Networks (77)",
                          "Points Possible,,,,,30", f"alice,1234,,,,{sum(points.values()) - 4:g}"]
    assert len(canvas) == 3  # bob (and carol) came from no Canvas zip
    assert "left out (no Canvas user id): bob" in out
    code, _, _ = cli(capsys, "--course", root, "report", ASSIGNMENT)
    page = (root / "report" / ASSIGNMENT / "report.html").read_text()
    assert code == 0 and "Every student" in page and "the shortcut is missing" in page


def test_a_canvas_column_without_canvas_students_is_said_not_ignored(monkeypatch, capsys, request, released_course,
                                                                    template):
    root, fake = released_course, FakeExecutor(monkeypatch)
    autograde.run(ASSIGNMENT, root, only=["bob"], force=True, progress=False, template=template)
    for meta in root.glob(f"submitted/*/{ASSIGNMENT}/submission.json"):  # (an earlier test made alice Canvas's)
        saved = meta.read_bytes()
        meta.unlink()
        request.addfinalizer(lambda meta=meta, saved=saved: meta.write_bytes(saved))
    (root / f"grades-{ASSIGNMENT}-canvas.csv").unlink(missing_ok=True)
    code, out, err = cli(capsys, "--course", root, "export", ASSIGNMENT, "--canvas-column", "Residual Networks (77)")
    assert code == 0 and (root / f"grades-{ASSIGNMENT}.csv").exists()  # the grades are still written
    assert not (root / f"grades-{ASSIGNMENT}-canvas.csv").exists()
    assert "--canvas-column was not used" in err and "Canvas" in err


def test_a_damaged_zip_is_said_in_one_line(capsys, empty_course, tmp_path):
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("alice_1_2_Residual_Networks.ipynb", b"x" * 10000)
    data = bytearray(buffer.getvalue())
    data[60:90] = b"\0" * 30  # the compressed bytes, not the directory at the end
    (tmp_path / "cut.zip").write_bytes(bytes(data))
    code, _, err = cli(capsys, "--course", empty_course, "collect", ASSIGNMENT, tmp_path / "cut.zip")
    assert code == 1 and "is a damaged or unreadable zip file" in one_line(err)


def test_a_download_cut_short_or_a_lone_notebook_is_said_in_one_line(capsys, empty_course, tmp_path):
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("alice_1_2_Residual_Networks.ipynb", os.urandom(10000))  # (random: the zip stays 10 kB)
    (tmp_path / "cut.zip").write_bytes(buffer.getvalue()[:3000])  # the directory at the end never arrived
    code, _, err = cli(capsys, "--course", empty_course, "collect", ASSIGNMENT, tmp_path / "cut.zip")
    assert code == 1 and "is a damaged or incomplete zip file (cut short?): download it again" in one_line(err)
    lone = tmp_path / "Residual_Networks.ipynb"
    lone.write_text("{}")
    code, _, err = cli(capsys, "--course", empty_course, "collect", ASSIGNMENT, lone)
    assert code == 2 and f"put it in <folder>/<student>/{lone.name}" in one_line(err)
    assert not (empty_course / "submitted").exists()


def test_collect_says_who_handed_in_no_notebook_or_another_assignments(capsys, empty_course, tmp_path):
    """Both are still collected (nothing is dropped) but said at once, not first at autograde."""
    shutil.copytree(course.ROOT / "solutions" / "why_residual", empty_course / "solutions" / "why_residual")
    other = next(p.name for p in (empty_course / "solutions" / "why_residual").glob("*.ipynb"))
    for student, name in (("frank", "report.pdf"), ("gina", other), ("hal", f"{NOTEBOOK}.ipynb")):
        (tmp_path / "subs" / student).mkdir(parents=True)
        (tmp_path / "subs" / student / name).write_text("{}")
    code, out, _ = cli(capsys, "--course", empty_course, "collect", ASSIGNMENT, tmp_path / "subs")
    assert code == 0 and "collected 3 student(s)" in out
    lines = out.splitlines()
    assert lines[lines.index("no notebook at all (collected anyway; autograde will mark them invalid):") + 1] \
        == "  frank: report.pdf"
    assert f"  gina: {other} is why_residual's notebook" in lines
    assert not any(line.startswith("  hal") for line in lines)


def test_scheduler_addresses():
    from grader.__main__ import scheduler_address

    assert scheduler_address("head-node:8786") == "tcp://head-node:8786"
    assert scheduler_address("tls://10.0.0.5:8786") == "tls://10.0.0.5:8786"
    assert scheduler_address("tcp://[::1]:8786") == "tcp://[::1]:8786"


def test_the_probe_names_what_differs():
    here = {"python": "3.11.7", "versions": {"nbgrader": "0.9.6", "keras": "3.15.1"}, "source": "a", "grader": "/r"}
    same = json.loads(json.dumps(here))
    assert executors._differences(same, here) == []
    other = {**same, "python": "3.12.1", "versions": {"nbgrader": "0.9.6", "keras": None}, "source": "b"}
    assert executors._differences(other, here) == ["Python 3.12.1 (here 3.11.7)", "keras not installed (here 3.15.1)"]
    assert executors._differences({**same, "source": "b", "grader": "/w/grader"}, here) == [
        "another copy of grader/ or resnet_course/ (/w/grader differs from this machine's)"]
    assert executors._differences(other, here, ("nbgrader",)) == ["Python 3.12.1 (here 3.11.7)"]


# ---------------------------------------------------------------------- due dates, feedback, report, release


def test_deadline_is_set_shown_changed_and_cleared(capsys, empty_course):
    from grader.pipeline import late

    code, out, _ = cli(capsys, "--course", empty_course, "deadline", ASSIGNMENT)
    assert code == 0 and "no due date" in out
    code, _, err = cli(capsys, "--course", empty_course, "deadline", ASSIGNMENT, "--per-day", "5")
    assert code == 2 and "has no due date yet: give --due too" in one_line(err)
    code, out, _ = cli(capsys, "--course", empty_course, "deadline", ASSIGNMENT, "--due", "2026-11-21T23:59+01:00",
                       "--per-day", "10", "--cap", "30", "--grace", "5")
    assert code == 0 and "due 2026-11-21T23:59:00+01:00, 5 min grace; 10% of the points per day late, at most 30%" in out
    code, _, _ = cli(capsys, "--course", empty_course, "deadline", ASSIGNMENT, "--cap", "40")  # the rest stays
    assert code == 0 and late.load(empty_course, ASSIGNMENT) == late.Policy("2026-11-21T23:59:00+01:00", 5, 10, 40)
    code, out, _ = cli(capsys, "--course", empty_course, "deadline", ASSIGNMENT, "--clear")
    assert code == 0 and late.load(empty_course, ASSIGNMENT) is None


@pytest.mark.parametrize("argv, says", [
    (["--due", "tomorrow"], "argument --due: 'tomorrow' is not a date and time"),
    (["--due", "2026-11-21", "--per-day", "-1"], "argument --per-day: must be 0 or more, not -1"),
    (["--due", "2026-11-21", "--cap", "150"], "argument --cap: is a percentage: 0 to 100, not 150"),
    (["--due", "2026-11-21", "--grace", "nan"], "argument --grace: must be 0 or more, not nan"),
])
def test_a_bad_late_policy_is_refused(capsys, empty_course, argv, says):
    code, _, err = cli(capsys, "--course", empty_course, "deadline", ASSIGNMENT, *argv)
    assert code == 2 and says in one_line(err)
    assert not (empty_course / "late_policy.json").exists()


@pytest.fixture(scope="module")
def late_class(tmp_path_factory):
    """Three students graded by a stand-in executor that returns the release notebook as the autograded one
    (so nbgrader can make real feedback pages): alice on time and full marks, bob two days late with one
    check wrong, carol with a check wrong; due date and policy set."""
    from grader.pipeline import late
    from grader.pipeline.jobs import Outcome
    from tests.corpus.grading import replay

    root = tmp_path_factory.mktemp("late") / "course"
    for part in ("solutions", "assignments"):
        shutil.copytree(course.ROOT / part / ASSIGNMENT, root / part / ASSIGNMENT)
    release = (root / "assignments" / ASSIGNMENT / f"{NOTEBOOK}.ipynb").read_bytes()
    times = {"alice": "2026-11-21T20:00:00+00:00", "bob": "2026-11-23T09:00:00+00:00",
             "carol": "2026-11-21T21:00:00+00:00"}
    for i, (student, when) in enumerate(times.items()):
        folder = root / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        (folder / f"{NOTEBOOK}.ipynb").write_bytes(release)
        (folder / "submission.json").write_text(json.dumps(
            {"student": student, "lms": "canvas", "login": student, "user_id": str(100 + i), "submission_id": "7",
             "late": student == "bob", "submitted_at": when, "not_kept": ["old.ipynb"] if student == "carol" else []}))
    late.save(root, ASSIGNMENT, late.Policy(due="2026-11-21T23:59:00+00:00", per_day=10, cap=50))
    points = course.cell_points(ASSIGNMENT)
    wrong = {"bob": "identity_block_structure", "carol": "identity_block_structure"}

    def executor(jobs, template, limits, workers):
        for job in jobs:
            cell = wrong.get(job.student)
            yield Outcome(job.student, job.digest, "graded", scores={NOTEBOOK: {**points, **({cell: 0} if cell else {})}},
                          messages={cell: "identity_block(X, f=2, filters=[4, 4, 6]):\n- the shortcut is missing: "
                                    "nothing adds X to the main path " + "and more " * 40} if cell else {},
                          autograded={f"{NOTEBOOK}.ipynb": release}, timestamp=job.timestamp,
                          flags=["patches a module"] if job.student == "carol" else [])

    return replay(root, executor, "late-digest")


def test_export_takes_the_late_penalty_off(late_class):
    from grader.pipeline import export

    rows = {r["student_id"]: r for r in export.rows(ASSIGNMENT, late_class)}
    full = sum(course.cell_points(ASSIGNMENT).values())
    assert (rows["alice"]["late"], rows["alice"]["penalty"], rows["alice"]["final"]) == ("no", "0", f"{full:g}")
    bob = rows["bob"]
    assert (bob["late"], bob["late_days"], bob["total"]) == ("yes", "2", f"{full - 4:g}")
    assert bob["penalty"] == f"{full * 0.2:g}" and bob["final"] == f"{full - 4 - full * 0.2:g}"
    canvas, _ = export.canvas_rows(ASSIGNMENT, late_class)
    assert [r[-1] for r in canvas] == [rows[s]["final"] for s in ("alice", "bob", "carol")]  # the LMS gets the final


def test_export_writes_the_due_date_and_penalties_into_nbgraders_gradebook(late_class, tmp_path):
    from nbgrader.api import Gradebook

    from grader.pipeline import export

    export.write(ASSIGNMENT, tmp_path / "grades.csv", late_class)
    full = sum(course.cell_points(ASSIGNMENT).values())
    with Gradebook(course.load_config(late_class).CourseDirectory.db_url) as gb:
        assert str(gb.find_assignment(ASSIGNMENT).duedate) == "2026-11-21 23:59:00"
        penalty = {s: gb.find_submission_notebook(NOTEBOOK, ASSIGNMENT, s).late_submission_penalty
                   for s in ("alice", "bob")}
    assert penalty["alice"] is None and penalty["bob"] == pytest.approx(full * 0.2)


def test_feedback_names_checks_draws_math_offline_wraps_and_says_late(late_class):
    from grader.pipeline import feedback

    pages = {p.parent.parent.name: p.read_text() for p in feedback.generate(ASSIGNMENT, late_class)}
    for page in pages.values():
        assert "Test cell" not in page
        assert '<a href="#identity_block_structure">identity_block: structure</a>' in page
        assert "mathjax" not in page.lower() and "<script src=" not in page  # nothing fetched from a CDN
        assert page.count('<img class="math"') >= 3 and 'alt="a^{[l]}"' in page
        assert "white-space: pre-wrap" in page
    assert "Late: submitted 2026-11-23 09:00 UTC, 2 day(s) after the due date: -6 point(s)" in pages["bob"]
    assert "Late:" not in pages["alice"]


def test_math_mathtext_cannot_draw_stays_as_tex():
    from grader.pipeline import feedback

    page = "<p>fine $x^2$ and odd $\\unknowncommand{y}$</p><pre>$not math$</pre>"
    out = feedback.render_math(page)
    assert out.count('<img class="math"') == 1 and "$\\unknowncommand{y}$" in out and "<pre>$not math$</pre>" in out


def test_report_lists_students_late_work_failures_and_flags(late_class):
    from grader.pipeline import report

    page = report.build(ASSIGNMENT, late_class / "report" / ASSIGNMENT, late_class).read_text()
    students = re.search(r'<table id="students" class="sortable">(.*?)</table>', page, re.S).group(1)
    heads = re.findall(r"<th>([^<]*)</th>", students)
    assert heads[:7] == ["student", "status", "score", "late", "days late", "penalty", "final"]
    bob = re.search(r"<tr><td>bob</td>(.*?)</tr>", students).group(1)
    assert re.findall(r"<td>([^<]*)</td>", bob)[:6] == ["graded", "26", "yes", "2", "6", "20"]
    assert "addEventListener(&quot;click&quot;" not in page and 'addEventListener("click"' in page  # the sorter
    assert "10% of the points per day late, at most 50%" in page
    failure = re.search(r"<td>2</td><td>the shortcut is missing[^<]*</td><td>identity_block_structure</td>"
                        r"<td>([^<]*)</td>", page)
    assert failure and failure.group(1) == "bob, carol"
    assert "late: 2 day(s) late, -6 point(s); submitted 2026-11-23 09:00 UTC" in page
    assert "<td>carol</td><td>older copies, not graded (the newest is)</td><td>old.ipynb</td>" in page
    assert "<td>carol</td><td>patches a module</td>" in page


def test_release_says_each_step_and_what_it_proved(monkeypatch, capsys, empty_course):
    points = course.cell_points(ASSIGNMENT)
    monkeypatch.setattr(course, "generate_release", lambda a, root=None: root / "assignments" / a)
    graded = {"solution": course.Score("solution", 30, 30, dict(points)),
              "release": course.Score("release", 0, 30, {c: 0.0 for c in points})}
    monkeypatch.setattr(course, "autograde", lambda a, student, root=None: graded[student])
    code, out, _ = cli(capsys, "--course", empty_course, "release", ASSIGNMENT)
    assert code == 0
    for line in ("1/3 generating assignments/resnet50", "2/3 grading the solution", "3/3 grading the untouched release",
                 "release proven, cell by cell"):
        assert line in out
    assert re.search(r"^  identity_block_structure +4 / 0 / 4$", out, re.M)
    graded["release"] = course.Score("release", 3, 30, {**{c: 0.0 for c in points}, "resnet50_layout": 3.0})
    code, _, err = cli(capsys, "--course", empty_course, "release", ASSIGNMENT)
    assert code == 1 and "the untouched release earns 3 point(s) in cell 'resnet50_layout'" in err


def test_the_console_command_works_from_any_folder(tmp_path, empty_course):
    import subprocess
    import sys
    from pathlib import Path

    command = Path(sys.executable).with_name("resnet-grader")
    assert command.exists(), "pip install -e . installs resnet-grader ([project.scripts])"
    done = subprocess.run([command, "--course", empty_course, "report", "resnet51"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert one_line(done.stderr) == ("resnet-grader report: error: unknown assignment 'resnet51' (did you mean "
                                     "resnet50?); known: resnet50")


def test_the_launcher_without_a_checkout_says_how_to_install(monkeypatch, capsys, tmp_path):
    import resnet_grader

    monkeypatch.setattr(resnet_grader, "CHECKOUT", tmp_path)
    assert resnet_grader.main() == 2
    assert "works from an editable install" in one_line(capsys.readouterr().err)


@pytest.mark.parametrize("text, says", [
    ('{"resnet50": {"due": "2026-11-21T23:59+01:00", "per_day": "ten"}}', "per_day: 'ten' is not a number from 0 to 100"),
    ('{"resnet50": {"due": "garbage"}}', "due: 'garbage' is not a date and time like 2026-11-21T23:59+01:00"),
    ('{"resnet50": {"due": "2026-11-21", "per_dya": 10}}', "unknown field 'per_dya'"),
    ('{"resnet_50": {"due": "2026-11-21", "per_day": 10}}', "no policy for resnet50, but one for 'resnet_50', which is "
                                                            "no assignment of this course"),
    ('{"resnet50": {"due": "2026-11-21"', "is not valid JSON"),
])
def test_a_hand_edited_late_policy_that_cannot_be_read_is_said_in_one_line(capsys, empty_course, text, says):
    """The README invites editing late_policy.json by hand: a mistake there is the instructor's to fix (one
    line, exit 1, naming the file and field), never "the grader failed" nor silently no penalty."""
    from grader.pipeline import late

    (empty_course / late.FILE).parent.mkdir(parents=True, exist_ok=True)
    (empty_course / late.FILE).write_text(text)
    code, _, err = cli(capsys, "--course", empty_course, "deadline", ASSIGNMENT)
    line = one_line(err)
    assert code == 1 and says in line and str(empty_course / late.FILE) in line, err
    with pytest.raises(executors.Problem, match=re.escape(says)):  # (what export, feedback and report read it with)
        late.load(empty_course, ASSIGNMENT)
    code, out, err = cli(capsys, "--course", empty_course, "deadline", ASSIGNMENT, "--due", "2026-11-21")
    if "JSON" in says:  # not rewritten: it may hold other assignments' policies
        assert code == 1 and (empty_course / late.FILE).read_text() == text
    else:  # a whole new policy is a way out
        assert code == 0 and late.load_all(empty_course)[ASSIGNMENT]["due"].startswith("2026-11-21"), err


def test_clear_with_a_due_date_is_refused(capsys, empty_course):
    code, _, err = cli(capsys, "--course", empty_course, "deadline", ASSIGNMENT, "--clear", "--due", "2026-11-21")
    assert code == 2 and "--clear removes the due date and policy: give it alone" in one_line(err)


@pytest.mark.parametrize("command", ["feedback", "autograde"])
def test_students_are_not_named_as_required(capsys, empty_course, command):
    code, _, err = cli(capsys, "--course", empty_course, command)
    assert code == 2 and one_line(err).endswith(f"the following arguments are required: assignment "
                                                f"(see python -m grader {command} --help)")
