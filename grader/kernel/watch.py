"""Inside a grading kernel: note what student code leaves behind after each cell, for the instructor's review.

Started by the grading kernelspec (grader.pipeline.execute) before any cell runs. After each cell it notes background
threads still running student code, processes still running, import hooks added to sys.meta_path or
sys.path_hooks, tracing and profiling hooks (sys.settrace, sys.setprofile, threading's), and attempts to open
or list paths the kernel cannot see (the allow-list sandbox shows nothing else of the machine). Each note names
the cell (its execution count) and the line; the worker turns them into "Flagged for review" lines
(grader.pipeline.results.watch_flags). Notes are written to watch.json in the evidence folder.

Advisory only: student code runs in this process and could silence it. What must hold (nothing outlives the
kernel, nothing outside the allow-list is visible) is enforced outside the kernel (grader.isolation.sandbox,
grader.pipeline.execute).
"""

from __future__ import annotations

import json
import os
import sys
import threading

NOTES = "watch.json"
KINDS = ("thread", "process", "import hook", "trace hook", "denied read")
MOST_PER_CELL = 3  # notes of one kind per cell; the rest are counted
STARTS = ("subprocess.Popen", "os.fork", "os.forkpty", "os.posix_spawn", "os.system", "os.spawn", "os.exec",
          "pty.spawn")
READS = {"open", "os.listdir", "os.scandir", "glob.glob", "os.chdir"}
WRAPPERS = {"os", "pathlib", "glob", "shutil", "genericpath", "posixpath", "fnmatch", "io", "codecs", "_pyio",
            "interactiveshell"}  # (IPython wraps open)


def _wrapper(filename: str) -> bool:
    """Whether code of this file only passes a path on (os is "<frozen os>" in 3.11)."""
    name = os.path.basename(filename)
    return name.removeprefix("<frozen ").removesuffix(">").removesuffix(".py") in WRAPPERS


def _running(pid) -> bool:
    """Not a zombie (an ended child nobody waited for)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _reading(mode=None, flags=None) -> bool:
    """Whether an "open" audit event (mode for open(), flags for os.open()) only reads."""
    if isinstance(mode, str):
        return "r" in mode and "+" not in mode
    return isinstance(flags, int) and not flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)


class Watch:
    def __init__(self, shell, folder: str):
        self.shell, self.path = shell, os.path.join(folder, NOTES)
        self.scratch = (os.getcwd(), "/tmp", os.path.realpath(folder))
        self.notes: list[dict] = []
        self.counted: dict[tuple, int] = {}
        self.threads = {t.ident for t in threading.enumerate()}
        self.hooks = {id(h) for h in [*sys.meta_path, *sys.path_hooks]}
        self.tracers = {id(sys.gettrace()), id(sys.getprofile())}
        self.processes = set(self._processes())
        self.started: list[tuple[int, int, str]] = []  # (count, line, event) of process starts in this cell
        self.last_start: tuple[int, int, str] | None = None  # the latest of any cell (a process's own children)
        self.busy = False

    # -- where in the notebook ----------------------------------------------------------------------------
    def _cell_of(self, code) -> int | None:
        return self.shell.compile._filename_map.get(code.co_filename)

    def _where(self, frame) -> tuple[int, int] | None:
        """(execution count, line) of the innermost frame that runs a cell's code."""
        while frame is not None:
            count = self._cell_of(frame.f_code)
            if count is not None:
                return count, frame.f_lineno
            frame = frame.f_back
        return None

    def note(self, count: int, line: int | None, kind: str, what: str) -> None:
        key = (count, kind)
        self.counted[key] = self.counted.get(key, 0) + 1
        if self.counted[key] <= MOST_PER_CELL:
            self.notes.append({"count": count, "line": line, "kind": kind, "what": what[:200]})
        elif self.counted[key] == MOST_PER_CELL + 1:
            self.notes.append({"count": count, "line": None, "kind": kind, "what": f"more of the same ({kind})"})

    # -- while a cell runs: the audit hook ----------------------------------------------------------------
    def audit(self, event: str, args) -> None:
        if self.busy or not (event in READS or event.startswith(STARTS) or event in ("sys.settrace", "sys.setprofile")):
            return
        self.busy = True
        try:
            if event in READS:
                self._read(event, args)
            else:
                where = self._where(sys._getframe(1))
                if where and event.startswith(STARTS):
                    self.started.append((*where, event))
                    self.last_start = self.started[0]
                elif where:
                    self.note(*where, "trace hook", f"calls {event}: installs a tracing or profiling hook")
        except Exception:  # noqa: BLE001  (the watch must never break the student's code)
            pass
        finally:
            self.busy = False

    def _read(self, event: str, args) -> None:
        path = args[0] if args else None
        if event == "open" and not _reading(*args[1:3]):
            return
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if not isinstance(path, str) or not path:
            return
        path = os.path.abspath(path)
        if any(path == s or path.startswith(s + os.sep) for s in self.scratch) or os.path.lexists(path):
            return
        # Only what a cell asks for itself (directly or through os, pathlib, glob, shutil): libraries probe paths
        # of their own (fonts, zipped standard libraries) that a sandbox rightly lacks.
        frame = sys._getframe(2)
        while frame is not None and _wrapper(frame.f_code.co_filename):
            frame = frame.f_back
        count = self._cell_of(frame.f_code) if frame is not None else None
        if count is not None:
            self.note(count, frame.f_lineno, "denied read",
                      f"tried to read {path} ({event}): not in the grading kernel's view")

    # -- after each cell ----------------------------------------------------------------------------------
    def _processes(self) -> list[int]:
        """Processes started from this kernel: in its own pid namespace (pid 1 under bwrap) every other one;
        elsewhere its descendants."""
        me = os.getpid()
        if me <= 2:
            return [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, me) and _running(p)]
        found, todo = [], [me]
        while todo:
            pid = todo.pop()
            try:
                for task in os.listdir(f"/proc/{pid}/task"):
                    with open(f"/proc/{pid}/task/{task}/children") as f:
                        kids = [int(k) for k in f.read().split()]
                    found += [k for k in kids if _running(k)]
                    todo += kids
            except OSError:
                continue
        return found

    def after_cell(self, result) -> None:
        count = getattr(result, "execution_count", None)
        if not getattr(getattr(result, "info", None), "store_history", True) or count is None:
            return
        self.busy = True
        try:
            self._threads(count)
            self._hooks(count)
            self._left_running(count)
            with open(self.path, "w") as f:
                json.dump(self.notes, f)
        except Exception:  # noqa: BLE001
            pass
        finally:
            self.started.clear()
            self.busy = False

    def _threads(self, count: int) -> None:
        frames = sys._current_frames()
        for thread in threading.enumerate():
            if thread.ident in self.threads or not thread.is_alive():
                continue
            self.threads.add(thread.ident)
            where = self._where(frames.get(thread.ident))
            target = getattr(getattr(thread, "_target", None), "__code__", None)
            if where is None and target is not None and self._cell_of(target) is not None:
                where = (self._cell_of(target), target.co_firstlineno)
            if where:  # (threads of libraries run no cell's code)
                self.note(*where, "thread", f"a background thread ({thread.name}) was still running after the cell")

    def _hooks(self, count: int) -> None:
        for name, hooks in (("sys.meta_path", sys.meta_path), ("sys.path_hooks", sys.path_hooks)):
            for hook in hooks:
                if id(hook) in self.hooks:
                    continue
                self.hooks.add(id(hook))
                for attr in ("find_spec", "find_module", "__call__", "__init__"):
                    code = getattr(getattr(hook, attr, None), "__code__", None) or getattr(hook, "__code__", None)
                    if code is not None and self._cell_of(code) is not None:
                        self.note(self._cell_of(code), code.co_firstlineno, "import hook",
                                  f"adds an import hook to {name} ({type(hook).__name__})")
                        break
        hooks = [("sys.settrace", sys.gettrace()), ("sys.setprofile", sys.getprofile()),
                 ("threading.settrace", getattr(threading, "_trace_hook", None)),
                 ("threading.setprofile", getattr(threading, "_profile_hook", None))]
        for name, hook in hooks:
            if hook is None or id(hook) in self.tracers:
                continue
            self.tracers.add(id(hook))
            code = getattr(hook, "__code__", None) or getattr(getattr(hook, "__func__", None), "__code__", None)
            where = (self._cell_of(code), code.co_firstlineno) if code is not None and self._cell_of(code) else (count, None)
            self.note(*where, "trace hook", f"left a {name} hook active after the cell")

    def _left_running(self, count: int) -> None:
        alive = [p for p in self._processes() if p not in self.processes]
        self.processes.update(alive)
        if not alive:
            return
        names = []
        for pid in alive[:3]:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    names.append(f.read().replace(b"\0", b" ").decode(errors="replace").strip()[:60])
            except OSError:
                pass
        count, line, event = (self.started or [self.last_start or (count, None, "")])[0]
        self.note(count, line, "process", f"{len(alive)} process(es) it started ({event or 'how: unknown'}) still "
                                          f"running after the cell: {'; '.join(names)}")


def start() -> None:
    """Watch this kernel's cells (nothing to do outside a grading kernel: no evidence folder)."""
    from grader.kernel import evidence

    folder = os.environ.get(evidence.ENV)
    shell = getattr(__import__("builtins"), "get_ipython", lambda: None)()
    if not folder or shell is None:
        return
    watch = Watch(shell, folder)
    sys.addaudithook(watch.audit)
    shell.events.register("post_run_cell", watch.after_cell)
