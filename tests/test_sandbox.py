"""The grading kernel's sandbox on its own (a command, not a notebook: fast) and the hostile cases of the graded
class that concern it: an allow-list root, nothing outliving the kernel, flags from the kernel's watch."""

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from grader import course, units

from grader.isolation import kernelspec, processes, sandbox

from grader.pipeline import results
from grader.kernel import watch
from tests.corpus import hostile
from tests.corpus.grading import ASSIGNMENT

ALLOW_LIST = kernelspec.confinement().startswith("bwrap")
needs_bwrap = pytest.mark.skipif(not ALLOW_LIST, reason="bubblewrap does not work here (the deny-list sandbox runs)")

LOOK_AROUND = """import json, os, sys
def listing(path):
    try:
        return sorted(os.listdir(path))
    except OSError as e:
        return type(e).__name__
out = {p: listing(p) for p in sys.argv[1:]}
out['uid'] = os.getuid()
try:
    open('/usr/planted', 'w')
    out['wrote_usr'] = True
except OSError:
    out['wrote_usr'] = False
with open('from-inside.txt', 'w') as f:
    f.write('scratch is writable')
print(json.dumps(out))
"""


def _in_sandbox(tmp_path: Path, code: str, *args: str, timeout: int = 60) -> subprocess.CompletedProcess:
    """`code` run the way a grading kernel is started: grader.isolation.sandbox in an allow-list root, in scratch/."""
    scratch = tmp_path / "scratch"
    scratch.mkdir(exist_ok=True)
    argv = [sys.executable, "-m", "grader.isolation.sandbox", "--report", str(tmp_path / "end.json"), "--no-network",
            "--confine=bwrap", *(f"--allow={p}" for p in kernelspec.allowed(ASSIGNMENT)), "--max-processes=64", "--",
            sys.executable, "-c", code, *args]
    env = {**os.environ, "PYTHONPATH": str(course.ROOT)}
    return subprocess.run(argv, cwd=scratch, env=env, capture_output=True, text=True, timeout=timeout)


@needs_bwrap
def test_a_kernel_sees_only_its_allow_list(tmp_path):
    elsewhere = course.ROOT.parent if os.access(course.ROOT.parent, os.W_OK) else Path.home()
    copy = Path(elsewhere) / f".sandbox-test-copy-{os.getpid()}"
    (copy / "solutions").mkdir(parents=True)
    try:
        unit = units.folder() / ASSIGNMENT
        looked = ["/", str(course.ROOT), str(course.ROOT / "grader"), str(unit), str(unit / "grading"), str(copy),
                  str(Path.home()), "/tmp", "/etc"]
        done = _in_sandbox(tmp_path, LOOK_AROUND, *looked)
    finally:
        (copy / "solutions").rmdir()
        copy.rmdir()
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.splitlines()[-1])
    bound = [*sandbox.SYSTEM, *sandbox._runtime_paths(), *kernelspec.allowed(ASSIGNMENT), str(tmp_path / "scratch"), "/dev",
             "/proc", "/tmp/home", "/var/tmp", *(f"/etc/{name}" for name in (*sandbox.ETC, "passwd", "group"))]

    def on_the_way(path: str) -> bool:  # the path, a folder above it or below it is bound in
        return any(b == path or b.startswith(path.rstrip("/") + "/") or path.startswith(b + "/") for b in bound)

    for folder in looked:
        if isinstance(seen[folder], list):
            strays = [e for e in seen[folder] if not on_the_way(os.path.join(folder, e))]
            assert not strays, (folder, strays)
    assert set(seen[str(course.ROOT)]) <= {".venv", "datasets", "grader", "resnet_course", "solutions"}, seen[str(course.ROOT)]
    assert set(seen[str(course.ROOT / "grader")]) == {"__init__.py", "units.py", "kernel"}
    # Of the unit: what the release carries and the kernel side of grading/; no solution notebook, no judge.
    released = {p.name for p in (course.ROOT / "assignments" / ASSIGNMENT).iterdir() if p.suffix != ".ipynb"}
    assert set(seen[str(unit)]) == released | {"grading"}, seen[str(unit)]
    assert set(seen[str(unit / "grading")]) == set(units.KERNEL_SIDE)
    assert seen[str(copy)] == "FileNotFoundError"  # another copy of the course, next to this checkout
    assert not seen["wrote_usr"]
    assert (tmp_path / "scratch" / "from-inside.txt").read_text() == "scratch is writable"
    assert seen["uid"] == sandbox.INSIDE_UID


@needs_bwrap
def test_nothing_a_sandboxed_command_starts_outlives_it(tmp_path):
    """A double-forked child in its own session, ignoring SIGTERM and SIGHUP, dies with the command."""
    code = """import os, signal, subprocess, sys, time
if os.fork() == 0:
    os.setsid()
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(60)', 'sandbox-test-outliver'])
    os._exit(0)
time.sleep(1)
"""
    done = _in_sandbox(tmp_path, code)
    assert done.returncode == 0, done.stderr[-2000:]
    import psutil

    left = []
    for process in psutil.process_iter():
        try:
            left += [process.pid] if "sandbox-test-outliver" in process.cmdline() else []
        except psutil.Error:
            pass
    assert not left


def test_after_the_kernel_its_folders_hold_no_links_or_pipes(tmp_path):
    folder = tmp_path / "autograded"
    folder.mkdir()
    (folder / "Residual_Networks.ipynb").symlink_to(tmp_path / "outside.txt")
    os.mkfifo(folder / "pipe")
    (folder / "kept.txt").write_text("mine")
    processes.after_kernel([folder])
    assert sorted(p.name for p in folder.iterdir()) == ["kept.txt"]
    assert not (tmp_path / "outside.txt").exists()


def test_watch_notes_become_flags_and_forged_ones_are_said(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1", execution_count=1),
                                         nbformat.v4.new_code_cell("y = 2", execution_count=2)])
    nb.cells[1].metadata["nbgrader"] = {"grade_id": "identity_block"}
    (tmp_path / watch.NOTES).write_text(json.dumps([{"count": 2, "line": 3, "kind": "thread", "what": "a thread"}]))
    assert results.watch_flags(nb, tmp_path, [(0, "1 process(es) still running")]) == [
        "cell identity_block, line 3: a thread", "cell #1: 1 process(es) still running"]
    (tmp_path / watch.NOTES).write_text('{"forged": ')
    assert "unreadable" in results.watch_flags(nb, tmp_path)[0]
    (tmp_path / watch.NOTES).write_text('[{"forged": 1}]')
    assert results.watch_flags(nb, tmp_path) == ["the kernel's watch notes were altered"]


def test_the_watch_names_cell_and_line(tmp_path):
    """grader.watch in an IPython shell (no kernel): what a cell leaves behind, with its execution count and line."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        noted = watch.Watch(shell, str(tmp_path))
        sys.addaudithook(noted.audit)
        shell.events.register("post_run_cell", noted.after_cell)
        shell.run_cell("import threading, time, sys\nstop = threading.Event()\n"
                       "threading.Thread(target=stop.wait, daemon=True).start()\n"
                       "class Finder:\n    def find_spec(self, *a):\n        return None\n"
                       "sys.meta_path.append(Finder())\ntry:\n    open('/nowhere-at-all/answers.txt')\n"
                       "except OSError:\n    pass", store_history=True)
        shell.run_cell("stop.set(); sys.meta_path.pop()", store_history=True)
    finally:
        noted.busy = True  # (an audit hook cannot be removed: this one now ignores everything)
        shell.events.unregister("post_run_cell", noted.after_cell)
        InteractiveShell.clear_instance()
    kinds = {(n["kind"], n["line"]) for n in json.loads((tmp_path / watch.NOTES).read_text())}
    assert kinds == {("import hook", 5), ("denied read", 9)}  # (stop.wait is a library's code: no thread note)


# --- the graded class's cases (graded once per session: conftest.graded_class) ---------------------------------


@pytest.mark.skipif(kernelspec.confinement() == "limits", reason="the case is left out where kernels are not confined")
def test_a_process_that_outlives_its_kernel_forges_nothing(graded_class):
    student = "hostile-outlives-kernel"
    rec = graded_class.record(student)
    assert rec["status"] == "graded" and not rec["messages"], rec
    graded = graded_class.root / "autograded" / student / ASSIGNMENT / "Residual_Networks.ipynb"
    nb = nbformat.read(graded, as_version=4)  # a notebook, not the forger's bytes
    assert any(c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "identity_block" for c in nb.cells)
    status = json.loads((graded_class.root / "grading" / ASSIGNMENT / f"{student}.json").read_text())
    assert "forged" not in status and status["status"] == "graded"
    if ALLOW_LIST:  # (elsewhere a kernel of the run killed midway can leave one behind)
        assert not graded_class.survivors


@needs_bwrap
def test_the_other_copy_of_the_course_is_out_of_sight(graded_class):
    assert not hostile.COURSE_COPY.exists()  # removed after grading
    rec = graded_class.record("hostile-find-course-copy")
    assert not any(rec["scores"]["Residual_Networks"].values())



def test_a_damaged_graded_notebook_costs_only_its_student_the_feedback(tmp_path, monkeypatch):
    """feedback.generate goes on past a student whose page nbgrader cannot make, and says who at the end."""
    from grader.pipeline import export, feedback, record

    class Api:
        def generate_feedback(self, assignment, student, force=True):
            if student == "damaged":
                return {"success": False, "error": "Traceback ...\nKeyError: 'grade_id'"}
            page = tmp_path / "feedback" / student / assignment / "Residual_Networks.html"
            page.parent.mkdir(parents=True)
            page.write_text("<html><body>feedback</body></html>")
            return {"success": True}

    graded = {"status": "graded", "message": ""}
    monkeypatch.setattr(record, "load", lambda root, assignment: dict.fromkeys(["alice", "damaged", "zoe"], graded))
    monkeypatch.setattr(export, "rows", lambda assignment, root: [])
    monkeypatch.setattr(course, "api", lambda root: Api())
    for name in ("cell_points", "exercises"):
        real = getattr(course, name)
        monkeypatch.setattr(course, name, lambda assignment, root=None, real=real: real(assignment))
    (tmp_path / "solutions" / ASSIGNMENT).mkdir(parents=True)
    with pytest.raises(RuntimeError, match=r"everyone but 1 student\(s\): damaged \(KeyError: 'grade_id'\)"):
        feedback.generate(ASSIGNMENT, tmp_path)
    for student in ("alice", "zoe"):
        assert (tmp_path / "feedback" / student / ASSIGNMENT / "Residual_Networks.html").is_file(), student


GRADE_ONE = """import sys
from pathlib import Path
from grader import course
from grader.isolation import kernelspec
from grader.pipeline import execute, jobs
template, limits = course.template(sys.argv[1]), jobs.Limits(cell_timeout=60, submission_timeout=300)
outcome = execute.grade(jobs.Job("student", {sys.argv[2]: Path(sys.argv[3]).read_bytes()}), template, limits)
print(kernelspec.confinement(), outcome.status, sum(sum(s.values()) for s in outcome.scores.values()), outcome.messages)
"""


def test_without_bubblewrap_the_solution_still_earns_every_point(tmp_path):
    """The deny-list sandbox (RESNET_COURSE_SANDBOX=paths, as on a machine without bubblewrap) gives the kernel
    fresh temporary folders: the unit files a worker wrote to one must come back into them, or every check
    fails with "no assignment unit" and correct work scores 0."""
    from tests.corpus import classroom

    solution = next(s for s in classroom.build(course.cell_points(ASSIGNMENT)) if s.kind == "solution")
    notebook = tmp_path / classroom.NOTEBOOK
    notebook.write_bytes(solution.files[classroom.NOTEBOOK])
    env = {**os.environ, "PYTHONPATH": str(course.ROOT), sandbox.SANDBOX_ENV: "paths"}
    done = subprocess.run([sys.executable, "-c", GRADE_ONE, ASSIGNMENT, classroom.NOTEBOOK, str(notebook)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    mode, status, points, messages = done.stdout.strip().splitlines()[-1].split(" ", 3)
    if mode == "limits":
        pytest.skip("no mount namespace here: nothing is hidden, so nothing is to come back")
    assert mode in ("user", "namespace")
    assert (status, float(points)) == ("graded", sum(course.cell_points(ASSIGNMENT).values())), messages


@needs_bwrap
def test_a_virtual_environment_reached_through_a_link_still_gets_bubblewrap(tmp_path):
    """The allow-list root binds real paths; a kernel started through a linked folder (`.venv -> elsewhere`)
    was not found in it, and grading fell back to the weaker sandbox."""
    linked = tmp_path / "linked-env"
    linked.symlink_to(sys.prefix, target_is_directory=True)
    python = linked / Path(sys.executable).relative_to(sys.prefix)
    said = subprocess.run([str(python), "-c", "from grader.isolation import sandbox; print(sandbox.mode())"],
                          env={**os.environ, "PYTHONPATH": str(course.ROOT)}, capture_output=True, text=True, timeout=60)
    assert said.stdout.strip().startswith("bwrap"), said.stdout + said.stderr[-1000:]


def test_why_bubblewrap_fails_is_bwraps_own_words(monkeypatch):
    if not sandbox.bwrap_path() or not sys.platform.startswith("linux"):
        pytest.skip("bubblewrap is not installed")
    sandbox.bwrap_failure.cache_clear()
    monkeypatch.setattr(sandbox, "python_executable", lambda: "/nowhere/python")
    try:
        assert "/nowhere/python" in sandbox.bwrap_failure()
    finally:
        sandbox.bwrap_failure.cache_clear()


PLANT = """import ctypes, os, subprocess
open('/tmp/planted', 'w').write('for the next student')
open('/dev/shm/planted', 'w').write('for the next student')
try:
    open('/dev/planted', 'w').write('for the next student')
except OSError:
    pass
libc = ctypes.CDLL(None, use_errno=True)
assert libc.shmget(0x5eed, 4096, 0o1666) >= 0  # a System V shared-memory segment (IPC_CREAT)
startup = os.path.expanduser('~/.ipython/profile_default/startup')
os.makedirs(startup, exist_ok=True)
open(os.path.join(startup, '00-planted.py'), 'w').write('PLANTED = True')
get_ipython().events.callbacks['post_run_cell'].clear()  # (the kernel's own watch off: the outside view is left)
subprocess.Popen(['sleep', '600'], start_new_session=True)
print('planted')"""

LOOK = """import os
import ctypes
seen = {'tmp': os.path.exists('/tmp/planted'), 'shm': os.path.exists('/dev/shm/planted'),
        'dev': os.path.exists('/dev/planted'), 'sysv': ctypes.CDLL(None).shmget(0x5eed, 0, 0) >= 0,
        'startup': 'PLANTED' in dir(), 'pid': os.getpid(), 'zygote_socket': os.path.exists(%r),
        'sleepers': [p for p in os.listdir('/proc') if p.isdigit()
                     and b'sleep' in open(f'/proc/{p}/cmdline', 'rb').read()]}
print('SEEN', seen)"""


@pytest.mark.skipif(not ALLOW_LIST, reason="warm kernels need bubblewrap")
def test_warm_kernels_of_one_worker_share_nothing(tmp_path):
    """Kernels forked one after another by a worker's zygote (grader.isolation.warm): what one leaves in /tmp,
    /dev/shm, /dev, System V shared memory, its home (an IPython startup file that would run in the next
    kernel) or running (a process) is gone for the next; each is the init of its own pid namespace and cannot
    reach the zygote's socket."""
    import ast

    from grader.isolation import warm
    from grader.pipeline import execute, jobs
    from tests.corpus import classroom

    def with_cell(code: str) -> bytes:
        nb = nbformat.reads(classroom.student_notebook(classroom.solution_sources()).decode(), as_version=4)
        nb.cells.insert(2, nbformat.v4.new_code_cell(code))
        return nbformat.writes(nb).encode()

    template, limits = course.template(ASSIGNMENT), jobs.Limits(cell_timeout=60, submission_timeout=300)
    first = execute.grade(jobs.Job("planter", {classroom.NOTEBOOK: with_cell(PLANT)}), template, limits)
    assert first.warm_kernel and first.status == "graded", first.message
    assert any("1 process(es) it started still running after the cell (sleep 600)" in flag for flag in first.flags), \
        first.flags
    socket_path = warm._ZYGOTE.socket
    second = execute.grade(jobs.Job("next", {classroom.NOTEBOOK: with_cell(LOOK % socket_path)}), template, limits)
    assert second.warm_kernel and second.status == "graded", second.message
    assert sum(second.scores["Residual_Networks"].values()) == sum(course.cell_points(ASSIGNMENT).values())
    graded = nbformat.reads(second.autograded[classroom.NOTEBOOK].decode(), as_version=4)
    text = "".join(o.get("text", "") for o in graded.cells[2].get("outputs", []))
    seen = ast.literal_eval(text.split("SEEN ", 1)[1].strip())
    assert seen == {"tmp": False, "shm": False, "dev": False, "sysv": False, "startup": False, "pid": 1,
                    "zygote_socket": False, "sleepers": []}


def test_scratch_of_a_killed_worker_is_swept_and_a_live_ones_kept(tmp_path):
    """A worker killed outright leaves its scratch folder (its kernels' files): the next zygote removes it,
    never a live worker's."""
    from grader.isolation import warm

    gone = subprocess.Popen(["true"])
    gone.wait()
    dead = tmp_path / f"grading-worker-{gone.pid}-x1"
    live = tmp_path / f"grading-worker-{os.getpid()}-x2"
    for folder in (dead, live):
        (folder / "work").mkdir(parents=True)
        (folder / "work" / "Residual_Networks.ipynb").write_text("{}")
    other = tmp_path / "grading-worker-notapid-x3"
    other.mkdir()
    recent = tmp_path / f"grading-worker-{gone.pid}-x4"  # (its worker may be alive in another pid namespace)
    recent.mkdir()
    hours_ago = __import__("time").time() - 2 * 3600
    for folder in (dead, live, other):
        os.utime(folder, (hours_ago, hours_ago))
    assert warm.sweep_stale_bases(tmp_path) == [dead]
    assert not dead.exists() and live.exists() and other.exists() and recent.exists()
