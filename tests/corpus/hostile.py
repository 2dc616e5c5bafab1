"""Broken and hostile submissions, each with the outcome it must get: a status, the points it may earn, and
(for a dead kernel or an unreadable file) what the message must say. They are graded in the same run as the
rest of the synthetic class, so every other student's grade is checked to be unaffected.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import nbformat

from .classroom import NOTEBOOK, RELEASE, Submission, _full, student_notebook
from .mutants import CELLS, MUTANTS, solution_sources, sources_for

EVERYTHING = tuple(CELLS)
EVERYTHING_CELLS = [c for cells in CELLS.values() for c in cells]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


LISTENER_PORT = _free_port()  # tests/corpus/grading.py listens here while the class is graded
SHORTCUT_MISSING = next(m for m in MUTANTS if m.name == "identity-shortcut-missing")
F_IGNORED = next(m for m in MUTANTS if m.name == "identity-f-ignored")  # passes the visible checks


WRITE_ATTEMPTS = """import os
for target in ['../../../gradebook.db', '../../../../gradebook.db', '../../../submitted/solution/resnet50/Residual_Networks.ipynb']:
    try:
        with open(target, 'wb') as f:
            f.write(b'overwritten by a student')
    except OSError as e:
        print('could not write', target, e)
"""


def _reach_out(course: Path) -> str:
    """Code that reads and writes by absolute path where grades, other students' work and the grader's
    reference live; it says what it managed (LEAKED / WROTE) and what it was refused (denied)."""
    repo = Path(__file__).resolve().parents[2]
    unit = repo / "solutions" / "resnet50" / "grading"
    reads = [course / "gradebook.db", course / "submitted" / "solution" / "resnet50" / "Residual_Networks.ipynb",
             course / "solutions" / "resnet50" / "Residual_Networks.ipynb", unit / "reference.py",
             unit / "judge.py", unit / "expected.json", repo / "grader" / "judging.py", course / "submitted"]
    # The course of the test suite lives under /tmp, which kernels see fresh; the repository does not.
    writes = [course / "gradebook.db", course / "submitted" / "solution" / "resnet50" / "Residual_Networks.ipynb",
              course / "planted.txt", unit / "reference.py", repo / "solutions" / "planted.txt"]
    return f"""import os
for target in {[str(r) for r in reads]!r}:
    try:
        found = os.listdir(target) if os.path.isdir(target) else open(target, 'rb').read()
        print('LEAKED' if found else 'denied (empty)', target)
    except OSError as e:
        print('denied', target, e)
for target in {[str(w) for w in writes]!r}:
    try:
        with open(target, 'ab') as f:
            f.write(b'planted by a student')
        print('WROTE', target)
    except OSError as e:
        print('denied', target, e)
"""


FORK_BOMB = """import os
while True:  # every child forks for ever; the parent stops when fork fails
    try:
        if os.fork() == 0:
            while True:
                try:
                    os.fork()
                except OSError:
                    pass
    except OSError as e:
        print('fork failed:', e)
        break
"""


def _course_copy_folder() -> Path:
    """Where tests/corpus/grading.py puts another copy of the course (solutions and grader) while the class is
    graded: next to this checkout, outside the course and the temporary folders that kernels see fresh."""
    parent = Path(__file__).resolve().parents[3]
    return (parent if os.access(parent, os.W_OK) else Path(tempfile.gettempdir())) / f".resnet-course-copy-{os.getpid()}"


COURSE_COPY = _course_copy_folder()


def _find_and_run(exercise: str) -> str:
    """An exercise cell with no answer of its own: it looks for the solution notebook in another copy of the
    course on the machine (where it was put, then anywhere under /) and runs that exercise's solution."""
    return f"""import json, os
def _find_solutions():
    for top in [{str(COURSE_COPY)!r}, '/']:
        for folder, dirs, files in os.walk(top):
            dirs[:] = [d for d in dirs if d not in ('proc', 'sys', 'dev', 'usr')] if folder.count(os.sep) < 6 else []
            if folder.endswith(os.path.join('solutions', 'resnet50')) and 'Residual_Networks.ipynb' in files:
                return os.path.join(folder, 'Residual_Networks.ipynb')
_found = _find_solutions()
print('FOUND the solutions at' if _found else 'found nothing', _found)
for _cell in (json.load(open(_found))['cells'] if _found else []):
    if _cell['metadata'].get('nbgrader', {{}}).get('grade_id') == {exercise!r}:
        exec(''.join(_cell['source']))
"""


OUTLIVER_MARK = "resnet-course-outliver"
FORGER = """import os, signal, sys, time
kernel = os.getppid()
if os.fork():
    os._exit(0)  # the grandchild is orphaned
os.setsid()
for number in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
    signal.signal(number, signal.SIG_IGN)
notebook, evidence, *others = sys.argv[2:]
end = time.time() + 120
while time.time() < end:
    try:
        os.kill(kernel, 0)  # forge only once the kernel has ended, after nbgrader wrote the graded notebook
        time.sleep(0.02)
        continue
    except OSError:
        pass
    for path, data in [(notebook, b'{"forged": '), *((o, b'{"status": "graded", "forged": tr') for o in others)]:
        try:
            with open(path, 'wb') as f:
                f.write(data)
        except OSError:
            pass
    try:
        for name in os.listdir(evidence):
            with open(os.path.join(evidence, name), 'wb') as f:
                f.write(b'forged')
        with open(os.path.join(evidence, 'watch.json'), 'w') as f:
            f.write('[{"forged": 1}]')
    except OSError:
        pass
    time.sleep(0.01)
"""


def _outliver(course: Path, student: str) -> str:
    """Starts a process that outlives the kernel and then rewrites the graded notebook, the evidence and the
    status file (the real course's too, by absolute path)."""
    others = [str(course / "grading" / "resnet50" / f"{student}.json"),
              str(course / "autograded" / student / "resnet50" / "Residual_Networks.ipynb")]
    return (f"import os, subprocess, sys\nsubprocess.Popen([sys.executable, '-c', {FORGER!r}, {OUTLIVER_MARK!r}, "
            f"os.path.abspath('Residual_Networks.ipynb'), os.environ.get('RESNET_COURSE_EVIDENCE', '/nonexistent'), "
            f"*{others!r}])")


PRINTING_THREAD = """import threading, time
def _chatter():
    while True:
        print('chatter from a background thread', flush=True)
        sum(range(20000))
        time.sleep(0.02)
threading.Thread(target=_chatter, daemon=True).start()"""

HOOKS = """import sys, threading
class _Finder:
    def find_spec(self, name, path=None, target=None):
        return None
sys.meta_path.insert(0, _Finder())
def _tracer(frame, event, arg):
    return None
threading.settrace(_tracer)
sys.settrace(_tracer); sys.settrace(None)"""


def _release() -> nbformat.NotebookNode:
    return nbformat.read(RELEASE, as_version=4)


def _test_cells(nb):
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]


def _with_prefix(exercise: str, code: str, wrong: bool = False) -> bytes:
    """The solution, with `code` run at the top of one exercise cell (before its function is defined)."""
    sources = sources_for(SHORTCUT_MISSING) if wrong else solution_sources()
    sources[exercise] = code + "\n" + sources[exercise]
    return student_notebook(sources)


def _edit_release(edit) -> bytes:
    nb = _release()
    edit(nb)
    return nbformat.writes(nb).encode()


def _tag_tests(nb):
    for cell in _test_cells(nb):
        cell.metadata["tags"] = ["skip-execution", "raises-exception"]


def _delete_tests(nb):
    nb.cells = [c for c in nb.cells if c not in _test_cells(nb)]


def _edit_tests(nb):
    for cell in _test_cells(nb):
        cell.source = "pass"


def _duplicate_test(nb):
    first = _test_cells(nb)[0]
    copy = nbformat.from_dict(json.loads(json.dumps(first)))
    copy["id"] = "copied-test-cell"
    nb.cells.insert(nb.cells.index(first) + 1, copy)


def _retype_tests(nb):
    for cell in _test_cells(nb):
        cell.cell_type = "markdown"
        cell.pop("outputs", None)
        cell.pop("execution_count", None)


def build(points: dict[str, float], course: Path | None = None) -> list[Submission]:
    """The cases; `course` is the course folder the absolute-path case aims at (a placeholder without one).
    The fork bomb is left out where kernels cannot get a user id of their own (the process limit would then
    count the grader's own processes, and nothing else could stop it)."""
    from grader.isolation.kernelspec import confinement

    confined = confinement()
    # Only kernels with a user id of their own are kept from writing the grader's files.
    never_prints = {"user": r"LEAKED|WROTE", "namespace": r"LEAKED", "bwrap-user": r"LEAKED|WROTE",
                    "bwrap": r"LEAKED"}.get(confined)
    allow_list = confined.startswith("bwrap")
    zero, full = _full(points, ()), _full(points, EVERYTHING)
    without = {e: _full(points, tuple(x for x in EVERYTHING if x != e)) for e in EVERYTHING}
    # A block whose cell never finished is undefined: its cells score 0, the other block's keep their points
    # (the ResNet50 cells may go either way: the model cannot be built without the block).
    undefined = {e: {c: v for c, v in without[e].items() if c not in CELLS["resnet50"]} for e in EVERYTHING}
    # The wrong block must lose its cells; patching the judges may cost the rest too (grader.integrity).
    lost_identity = {c: 0.0 for c in CELLS["identity_block"]}
    other = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('week 1: hello')")])
    cases = [
        # The kernel dies: nothing is earned and the status names the cause.
        Submission("hostile-os-exit", "hostile", {NOTEBOOK: _with_prefix("resnet50", "import os\nos._exit(3)")},
                   None, status="kernel_died", message=r"exited with code 3"),
        Submission("hostile-segfault", "hostile",
                   {NOTEBOOK: _with_prefix("convolutional_block", "import ctypes\nctypes.string_at(0)")},
                   None, status="kernel_died", message=r"SIGSEGV"),
        # Limits: a huge allocation fails inside the kernel; an endless cell is interrupted; both lose only
        # the exercise whose cell misbehaved.
        Submission("hostile-20gb-allocation", "hostile",
                   {NOTEBOOK: _with_prefix("convolutional_block", "hog = bytearray(20 * 1024**3)")},
                   undefined["convolutional_block"]),
        Submission("hostile-infinite-loop", "hostile",
                   {NOTEBOOK: _with_prefix("identity_block", "while True:\n    pass")}, undefined["identity_block"]),
        Submission("hostile-stderr-flood", "hostile",
                   {NOTEBOOK: _with_prefix("identity_block", "import sys\nfor i in range(200000):\n"
                                           "    print('noise', i, file=sys.stderr)")}, full),
        Submission("hostile-huge-output", "hostile",
                   {NOTEBOOK: _with_prefix("identity_block", "for i in range(300000):\n    print('line', i)")}, full),
        # Network: a connection to a listener the test suite runs on this machine must not arrive.
        Submission("hostile-network", "hostile", {NOTEBOOK: _with_prefix(
            "identity_block", "import socket\ntry:\n    socket.create_connection(('127.0.0.1', "
            f"{LISTENER_PORT}), timeout=3).sendall(b'leak')\nexcept OSError as e:\n    print('no network:', e)")},
                   full, message=r"opens network connections"),
        # Writing where grades and other students' work live: the attempts land in this submission's own
        # scratch copy (or fail), the real course and gradebook stay intact (checksummed by the tests).
        Submission("hostile-write-course-files", "hostile", {NOTEBOOK: _with_prefix("identity_block", WRITE_ATTEMPTS)},
                   full, message=r"names a grading file"),
        # By absolute path: nothing of the course, the gradebook, other students or the reference can be read
        # or written (tests/test_autograder.py reads this case's output; checksums cover the course). Left out
        # where kernels are not confined: there it would write into this checkout.
        *([Submission("hostile-absolute-paths", "hostile", {NOTEBOOK: _with_prefix(
            "identity_block", _reach_out(course or Path("/nonexistent-course")))}, full,
                      message=r"names a grading file", notes={"prints": r"denied", "never_prints": never_prints})]
          if confined != "limits" else []),
        *([Submission("hostile-fork-bomb", "hostile", {NOTEBOOK: _with_prefix("resnet50", FORK_BOMB)}, None,
                      status="kernel_died", message=r"fork bomb")] if confined in ("user", "bwrap-user") else []),
        # Another copy of the course elsewhere on the machine (grading.py puts one at COURSE_COPY): a release
        # with no answers of its own looks for it and runs its solutions. Kernels in an allow-list root find
        # nothing (the deny-list sandbox only hid the course and this checkout); the attempt is flagged.
        *([Submission("hostile-find-course-copy", "hostile",
                      {NOTEBOOK: student_notebook({e: _find_and_run(e) for e in EVERYTHING})}, zero,
                      message=r"tried to read \S*resnet-course-copy\S* \(os.scandir\): not in the grading kernel's view",
                      notes={"prints": r"found nothing", "never_prints": r"FOUND"})] if allow_list else []),
        # A process that outlives its kernel and then forges the graded notebook, the evidence and the status
        # file: it is dead before anything is read (pid namespace, or killed and waited for), and flagged.
        # Left out where kernels are not confined (it could reach the real course's files in between).
        *([Submission("hostile-outlives-kernel", "hostile", {NOTEBOOK: _with_prefix(
            "identity_block", _outliver(course or Path("/nonexistent-course"), "hostile-outlives-kernel"))}, full,
                      message=r"identity_block, line 2: 1 process\(es\) it started \(subprocess.Popen\) still running")]
          if confined != "limits" else []),
        # A thread that keeps printing (stdout: it costs no points) and burns CPU for the rest of the run.
        Submission("hostile-printing-thread", "hostile", {NOTEBOOK: _with_prefix("identity_block", PRINTING_THREAD)},
                   full, message=r"cell identity_block, line \d: a background thread \(Thread-\d+ \(_chatter\)\) was "
                                 r"still running after the cell"),
        # An import hook and tracing hooks installed from a cell.
        Submission("hostile-import-and-trace-hooks", "hostile", {NOTEBOOK: _with_prefix("identity_block", HOOKS)},
                   full, message=r"(?=.*cell identity_block, line 3: adds an import hook to sys.meta_path)"
                                 r"(?=.*line 9: calls sys.settrace)(?=.*threading.settrace hook active)"),
        # Files that are not this assignment's notebook.
        Submission("broken-corrupted-json", "hostile", {NOTEBOOK: RELEASE.read_bytes()[:5000]}, None,
                   status="unreadable", message=r"not a readable notebook"),
        Submission("broken-empty-file", "hostile", {NOTEBOOK: b""}, None, status="unreadable", message=r"empty"),
        Submission("broken-not-utf8", "hostile", {NOTEBOOK: "café".encode("latin-1") * 100}, None,
                   status="unreadable", message=r"not UTF-8"),
        Submission("broken-other-assignment", "hostile", {NOTEBOOK: nbformat.writes(other).encode()}, None,
                   status="invalid", message=r"none of this assignment's exercise cells"),
        Submission("broken-wrong-file-name", "hostile", {"Residual_Networks (1).ipynb": student_notebook(solution_sources())},
                   full),  # collect renames a lone notebook
        Submission("broken-two-wrong-names", "hostile",
                   {"draft.ipynb": RELEASE.read_bytes(), "final.ipynb": student_notebook(solution_sources())},
                   None, status="invalid", message=r"Residual_Networks.ipynb is missing"),
        # Test cells tampered with: nbgrader restores them (with the course config) and grades the code.
        Submission("tamper-skip-execution-tags", "hostile", {NOTEBOOK: _edit_release(_tag_tests)}, zero,
                   message=r"tagged skip-execution \(ignored"),  # raises-exception is the course's own
        Submission("tamper-deleted-test-cells", "hostile", {NOTEBOOK: _edit_release(_delete_tests)}, zero,
                   message=r"locked cell identity_block_structure was deleted"),
        Submission("tamper-edited-test-cells", "hostile", {NOTEBOOK: _edit_release(_edit_tests)}, zero,
                   message=r"locked cell resnet50_model was edited"),
        Submission("tamper-duplicated-test-cell", "hostile", {NOTEBOOK: _edit_release(_duplicate_test)}, None,
                   message=r"a copy of graded cell \w+ was ignored"),
        Submission("tamper-retyped-test-cells", "hostile", {NOTEBOOK: _edit_release(_retype_tests)}, None,
                   message=r"locked cell \w+ was changed to markdown"),
        # Changing the judges from the student's cells: a wrong identity block must still lose its points,
        # and the code is flagged for review.
        Submission("tamper-patch-numpy", "hostile", {NOTEBOOK: _with_prefix(
            "identity_block", "import numpy\nnumpy.allclose = lambda *a, **k: True\n"
            "numpy.testing.assert_allclose = lambda *a, **k: None", wrong=True)}, lost_identity,
                   message=r"assigns numpy.allclose"),
        Submission("tamper-patch-checks", "hostile", {NOTEBOOK: _with_prefix(
            "identity_block", "import checks as c\nc.check_identity_block = lambda *a, **k: None\n"
            "c.check_block_values = lambda *a, **k: None", wrong=True)}, lost_identity,
                   message=r"assigns c.check_identity_block"),
        # A submission carrying its own checks.py (every check passes) beside a wrong identity block: the
        # course's checks.py replaces it in the graded folder, and the hidden tests never read either copy.
        Submission("tamper-own-checks-file", "hostile", {NOTEBOOK: student_notebook(sources_for(SHORTCUT_MISSING)),
                                                         "checks.py": b"def __getattr__(name):\n    return lambda *a, **k: None\n"},
                   lost_identity),
        Submission("tamper-patch-keras", "hostile", {NOTEBOOK: _with_prefix(
            "identity_block", "keras.Model.count_params = lambda self: 23_600_006", wrong=True)}, lost_identity,
                   message=r"assigns keras.Model.count_params"),
        Submission("tamper-sys-modules", "hostile", {NOTEBOOK: _with_prefix(
            "identity_block", "import sys, types\nsys.modules['course_units.resnet50.grading.hidden'] = types.ModuleType('fake')",
            wrong=True)}, lost_identity, message=r"edits sys.modules"),
        Submission("tamper-swallow-exceptions", "hostile", {NOTEBOOK: _with_prefix(
            "identity_block", "get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)", wrong=True)},
                   lost_identity, message=r"swallows exceptions globally"),
        Submission("tamper-read-hidden-tests", "hostile", {NOTEBOOK: _with_prefix(
            "identity_block", "from grader import units\nsecret = open(units.hidden('resnet50').__file__).read()", wrong=True)},
                   lost_identity, message=r"imports the instructor's grader package"),
        # Silencing the hidden tests (and the in-kernel integrity check) with a block that passes the visible
        # checks (f ignored): the judge, outside the kernel, finds no evidence and gives no points.
        Submission("tamper-silence-hidden-tests", "hostile", {NOTEBOOK: _silenced(F_IGNORED)}, zero,
                   message=r"assigns evidence.deliver",
                   notes={"cell_messages": {c: "did not report" for c in EVERYTHING_CELLS}}),
        # A wrong block that prints the visible check's expected values cannot pass the hidden cases.
        Submission("tamper-hard-coded-visible-output", "hostile", {NOTEBOOK: _hard_coded()}, without["identity_block"]),
    ]
    for case in cases:
        if case.expected is None:
            case.expected = zero if case.status == "graded" else None
    return cases


def _silenced(mutant) -> bytes:
    sources = sources_for(mutant)
    sources["identity_block"] = ("from grader import units\nfrom grader.kernel import evidence, integrity\n"
                                 "hidden = units.hidden('resnet50')\n"
                                 "evidence.deliver = integrity.verify = lambda *a, **k: None\n"
                                 "hidden.block_structure = hidden.block_values = lambda *a, **k: None\n"
                                 + sources["identity_block"])
    return student_notebook(sources)


def _hard_coded() -> bytes:
    """identity_block ignores its layers and returns the visible check's stored expected output."""
    sources = solution_sources()
    sources["identity_block"] = (
        "def identity_block(X, f, filters, initializer=random_uniform):\n"
        "    import checks\n"
        "    return keras.ops.convert_to_tensor(checks.stored_expected()['identity_inference'])\n")
    return student_notebook(sources)

