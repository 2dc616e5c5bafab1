"""Warm kernels: one process per worker imports Keras (and TensorFlow) once, inside the same allow-list root a
kernel gets (bubblewrap), and forks a fresh kernel for each submission.

Importing Keras on TensorFlow costs a grading kernel about 2.9 of its 5 CPU seconds; forked from a process that
has done it, a kernel starts with everything imported and nothing run. What each kernel gets stays what
grader.isolation.sandbox gives one started alone, with one difference said below:

  - the allow-list root (the "zygote" runs in it: bwrap, as for a single kernel), no network;
  - its own pid namespace, whose init is the kernel: nothing it starts outlives it;
  - fresh /tmp, /dev/shm and home; the worker's scratch base covered, only this submission's working folder
    and kept folders (its sockets, its evidence) mounted back; those mounts locked (made in a user namespace
    the kernel does not own);
  - its resource limits (CPU, memory, file size, processes), and a fork bomb stopped at a quarter of them;
  - one user id per worker, not per kernel (the one difference): kernels of one worker run one after another,
    each in its own pid namespace, and the zygote is not dumpable, so a kernel can neither see nor trace it.

    python -m grader.isolation.warm SOCKET PLAN            (run by Zygote inside bwrap: the zygote)
    python -m grader.isolation.warm --report FILE ... --warm SOCKET -- <kernel command>   (the kernelspec's)

The kernelspec's command asks the zygote for a kernel, passes on interrupts and writes the same end report as
grader.isolation.sandbox writes for a kernel started alone.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
import types
from pathlib import Path

from grader.isolation import sandbox

CLONE_NEWPID, CLONE_NEWIPC = 0x20000000, 0x08000000
MAX_LINE = 1 << 20  # a longer message (from a kernel that got hold of a socket?) ends the conversation
PR_SET_DUMPABLE = 4
HOME = sandbox.HOME
# What a grading kernel imports first (the notebook's import cell), done once per worker.
# (ipykernel first: resnet_course then imports TensorFlow as in a kernel, its start-up lines kept off stderr)
PRELOAD = ("ipykernel.kernelapp", "resnet_course", "numpy", "keras", "matplotlib.pyplot")


def _send(conn: socket.socket, message: dict) -> None:
    conn.sendall(json.dumps(message).encode() + b"\n")


def _lines(conn: socket.socket, buffer: bytes = b""):
    """The JSON messages on `conn`, one per line, until it closes (or sends a line longer than MAX_LINE)."""
    while True:
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            yield json.loads(line)
        if len(buffer) > MAX_LINE:
            return
        data = conn.recv(65536)
        if not data:
            return
        buffer += data


# ----------------------------------------------------------------------------------------------- the zygote


def serve(path: str, preload: list[str], reveal: list[str]) -> None:
    """The zygote: import `preload`, then fork one kernel per request on the socket at `path`, one at a time.
    `reveal`: what a kernel may read that lies in a temporary folder (which each kernel gets afresh)."""
    for name in preload:
        importlib.import_module(name)
    sandbox._libc().prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)  # no kernel may trace it or read its memory
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path + ".new")
    os.rename(path + ".new", path)  # (the worker waits for the name: it appears once we listen)
    listener.listen(4)
    while True:
        conn, _ = listener.accept()
        try:
            conn.settimeout(30)
            first, fds, _, _ = socket.recv_fds(conn, 65536, 3)
            request = next(_lines(conn, first))  # (a stream: a large request may come in several pieces)
            conn.settimeout(None)
        except (OSError, ValueError, StopIteration):
            conn.close()
            continue
        if request.get("exit"):  # (Zygote.stop: ending, bwrap reaps it and the worker bwrap, so its CPU time counts)
            _reap_all()
            os._exit(0)
        attendant = os.fork()
        if attendant == 0:
            listener.close()
            _child("attend the kernel", 1, _attend, conn, request | {"reveal": reveal}, fds)
        for fd in fds:
            os.close(fd)
        conn.close()
        os.waitpid(attendant, 0)
        _reap_all()


def _child(what: str, code: int, run, *args) -> None:
    """In a forked child: run(*args), say on stderr why it failed, and never return (exit `code`)."""
    try:
        run(*args)
    except BaseException as e:  # noqa: BLE001
        print(f"grader.isolation.warm: cannot {what}: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
    finally:
        os._exit(code)


def _reap_all() -> None:
    """As the init of bwrap's pid namespace: kill and reap whatever is left (nothing, normally)."""
    try:
        os.kill(-1, signal.SIGKILL)  # (pid 1: every other process of the namespace)
    except ProcessLookupError:
        pass
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                time.sleep(0.01)
                continue
        except ChildProcessError:
            return


def _attend(conn: socket.socket, request: dict, fds: list[int]) -> None:
    """One kernel: start it as the init of a new pid namespace, pass on signals, report how it ended."""
    uid, gid = os.getuid(), os.getgid()
    libc = sandbox._libc()
    # (dumpable again, or /proc/self/uid_map is not ours to write; neither this process nor the zygote has a
    # pid in the kernel's namespace, so the kernel cannot name either of them)
    libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)
    # Its own IPC namespace (no shared-memory segment outlives it) and, without network, its own empty network
    # namespace, as bwrap gives a kernel started alone.
    more = CLONE_NEWIPC | (0 if request.get("network") else sandbox.CLONE_NEWNET)
    if libc.unshare(sandbox.CLONE_NEWUSER | sandbox.CLONE_NEWNS | CLONE_NEWPID | more) != 0:
        raise OSError("cannot make the kernel's namespaces")
    _map_ids(uid, gid)
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    kernel = os.fork()
    if kernel == 0:
        _child("start the kernel", 127, _become_kernel, request, fds, uid, gid)  # (127: the report's "cannot start")
    for fd in fds:
        os.close(fd)
    _send(conn, {"started": kernel})
    most = max(request.get("max_processes") or 0, 0) // 4
    messages = _lines(conn)
    bomb = 0
    conn.setblocking(True)
    while True:
        pid, status, usage = os.wait4(kernel, os.WNOHANG)
        if pid:
            break
        ready, _, _ = select.select([conn, wake_read], [], [], 1.0)
        if wake_read in ready:
            os.read(wake_read, 4096)
        if conn in ready:
            try:
                message = next(messages)
            except (StopIteration, OSError, ValueError):  # the kernel's command is gone: so is the kernel
                os.kill(kernel, signal.SIGKILL)
                os.wait4(kernel, 0)
                os._exit(0)
            if "signal" in message:
                os.kill(kernel, int(message["signal"]))
        # (/proc here is the kernel's own, mounted in the mount namespace this process shares until it locks it)
        if most and not bomb and (count := len([p for p in os.listdir("/proc") if p.isdigit()])) >= most:
            bomb = count
            os.kill(kernel, signal.SIGKILL)  # (the init of its namespace: every process in it dies)
    end = sandbox.describe(status) | {"cpu_s": usage.ru_utime + usage.ru_stime, "max_rss_mb": usage.ru_maxrss / 1024}
    if bomb:
        end["processes"] = bomb
    _send(conn, {"ended": end})
    os._exit(0)


def _map_ids(uid: int, gid: int) -> None:
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        with open(f"/proc/self/{name}", "w") as f:
            f.write(text)


def _become_kernel(request: dict, fds: list[int], uid: int, gid: int) -> None:
    """In the new namespaces: the kernel's own view of the files, its limits, then ipykernel in this process."""
    os.setsid()
    for target, fd in zip((0, 1, 2), fds):
        os.dup2(fd, target)
    # Nothing else of the zygote's or the attendant's: not the connection to the kernel's command (a process
    # outside the sandbox), not the attendant's wake-up pipe.
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))
    signal.set_wakeup_fd(-1)
    for number in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_DFL)
    mount = sandbox._mount
    mount("none", "/", None, sandbox.MS_REC | sandbox.MS_PRIVATE)
    mount("proc", "/proc", "proc", sandbox.MS_NOSUID | sandbox.MS_NODEV | 8)  # 8: MS_NOEXEC
    kept = sandbox._hold(dict.fromkeys([request["cwd"], *request["keep"]]))
    fresh = ("/tmp", "/dev/shm")
    revealed = sandbox.hold_in(request["reveal"], fresh)
    size = f"size={request['tmp_mb']}m,mode=1777"
    for folder in fresh:
        mount("tmpfs", folder, "tmpfs", sandbox.MS_NOSUID | sandbox.MS_NODEV, size)
    sandbox._bind_back(revealed, read_only=True)
    # /dev is the zygote's (bwrap's tmpfs): read-only here, so no kernel leaves anything in it for the next.
    mount("none", "/dev", None, sandbox.MS_REMOUNT | sandbox.MS_BIND | sandbox.MS_RDONLY | sandbox._kept_flags("/dev"))
    base = request["base"]
    if os.path.isdir(base):  # (not under /tmp: still there) the other scratch folders and the zygote's socket
        mount("tmpfs", base, "tmpfs", sandbox.MS_NOSUID | sandbox.MS_NODEV, "size=16k,mode=0755")
    sandbox._bind_back(kept)
    os.makedirs(HOME, mode=0o700)
    # Lock those mounts: made in a namespace the kernel will not own, they cannot be undone from inside it.
    if sandbox._libc().unshare(sandbox.CLONE_NEWUSER | sandbox.CLONE_NEWNS) != 0:
        raise OSError("cannot lock the kernel's mounts")
    _map_ids(uid, gid)
    os.chdir(request["cwd"])
    if request.get("probe"):  # (Zygote.wait_ready: all of the above works here)
        os._exit(0)
    connection = f"{HOME}/kernel-connection.json"
    with open(connection, "w") as f:
        f.write(request["connection"])
    argv = list(request["argv"])
    argv[argv.index("-f") + 1] = connection
    os.environ.clear()
    os.environ.update(request["env"])
    os.environ.update(HOME=HOME, USER="student", LOGNAME="student", TMPDIR="/tmp")
    os.environ.pop("JPY_PARENT_PID", None)
    sandbox.apply_limits(types.SimpleNamespace(**request["limits"]))
    import numpy as np

    np.random.seed()  # (forked: every kernel would start from the zygote's state; a fresh one starts afresh)
    sys.argv = ["ipykernel_launcher", *argv]
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()
    os._exit(0)


# ------------------------------------------------------------------------------------------ the worker's side


class Zygote:
    """A worker's zygote for one kind of kernel (what it may read, its backend, its network): started on first
    use, replaced when the kind changes or it died, stopped (and waited for) when the worker ends."""

    def __init__(self, allow: list[str], env: dict[str, str], network: bool, tmp_mb: int = 1024):
        import tempfile

        self.key = _key(allow, env, network)
        sweep_stale_bases(Path(tempfile.gettempdir()))
        self.base = Path(tempfile.mkdtemp(prefix=f"grading-worker-{os.getpid()}-"))
        self.socket = str(self.base / ".zygote")
        plan = json.dumps({"preload": PRELOAD, "reveal": allow})
        argv, fds = sandbox.bwrap_argv([sandbox.python_executable(), "-m", "grader.isolation.warm", self.socket, plan],
                                       ro=allow, rw=[str(self.base)], tmp_mb=tmp_mb, network=network)
        as_root = os.geteuid() == 0

        def confine():  # (in the child, before bwrap: as grader.isolation.sandbox.confine_bwrap does)
            sandbox.die_with_parent()
            if as_root:
                sandbox._prepare_as_root(allow, [str(self.base)], sandbox.BWRAP_UID_BASE + os.getpid())

        self.process = subprocess.Popen(argv, pass_fds=fds, env={**os.environ, **env}, preexec_fn=confine,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
        for fd in fds:
            os.close(fd)
        self.uid = sandbox.BWRAP_UID_BASE + self.process.pid if as_root else None

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Wait until it listens, then have it make one kernel's namespaces and mounts and stop there: a machine
        where that fails (no nested user namespaces) must not find out on every submission."""
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.socket):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the warm-kernel process did not start (exit {self.process.poll()})")
            time.sleep(0.02)
        probe = {"probe": True, "cwd": str(self.base), "keep": [], "base": str(self.base), "tmp_mb": 1}
        with self._asking(probe, timeout) as conn:
            end = next((m["ended"] for m in _lines(conn) if "ended" in m), {})
        if end.get("exit_code") != 0:
            raise RuntimeError(f"a warm kernel's namespaces cannot be made here ({end or 'no answer'})")

    @contextlib.contextmanager
    def _asking(self, request: dict, timeout: float):
        """A connection to the zygote that has sent it `request` with /dev/null as the standard streams a kernel
        would get (the zygote reads a request as one line with three descriptors)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn, open(os.devnull, "r+b") as null:
            conn.settimeout(timeout)
            conn.connect(self.socket)
            socket.send_fds(conn, [json.dumps(request).encode() + b"\n"], [null.fileno()] * 3)
            yield conn

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """Ask it to end (killed, its CPU time would be lost to the worker's accounting), then wait for it."""
        if self.process.poll() is None:
            try:
                with self._asking({"exit": True}, timeout=5):
                    pass
                self.process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
        self.process.wait()
        import shutil

        shutil.rmtree(self.base, ignore_errors=True)


STALE_AFTER_S = 3600  # a live worker's folder changes with every submission it grades


def sweep_stale_bases(tmp: Path) -> list[Path]:
    """Remove the scratch folders of workers that are gone: a worker killed outright (SIGKILL, out of memory)
    cannot remove its own, and each holds its kernels' files. Only a folder whose worker's pid is not running
    and which nothing has changed for an hour goes (a /tmp shared across pid namespaces can name a live worker
    by a pid not seen here); other users' are left alone. Returns what was removed."""
    import shutil

    removed = []
    for folder in tmp.glob("grading-worker-*-*"):
        pid = folder.name.split("-")[2]
        try:
            info = folder.stat()
            if not pid.isdigit() or info.st_uid != os.geteuid() or time.time() - info.st_mtime < STALE_AFTER_S:
                continue
            os.kill(int(pid), 0)
        except ProcessLookupError:  # (no such process: its worker is gone)
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
        except OSError:  # alive but another user's, or the folder went meanwhile
            continue
    return removed


_ZYGOTE: Zygote | None = None


def _key(allow: list[str], env: dict[str, str], network: bool) -> tuple:
    """What makes one zygote's kernels differ from another's: a different key needs a new zygote."""
    return tuple(allow), tuple(sorted(env.items())), network


def zygote(allow: list[str], env: dict[str, str], network: bool) -> Zygote:
    """This worker's zygote for kernels that may read `allow` with `env`: the running one, or a new one."""
    global _ZYGOTE
    if _ZYGOTE is not None and (_ZYGOTE.key != _key(allow, env, network) or not _ZYGOTE.alive()):
        _ZYGOTE.stop()
        _ZYGOTE = None
    if _ZYGOTE is None:
        _ZYGOTE = Zygote(allow, env, network)
        atexit.register(stop)
        try:  # (a pool's worker ends through os._exit: atexit does not run there, its finalizers do)
            from multiprocessing import util

            util.Finalize(None, stop, exitpriority=10)
        except ImportError:
            pass
        try:
            _ZYGOTE.wait_ready()
        except BaseException:
            stop()
            raise
    return _ZYGOTE


def stop() -> None:
    global _ZYGOTE
    if _ZYGOTE is not None:
        _ZYGOTE.stop()
        _ZYGOTE = None


def pids() -> set[int]:
    """The zygote processes of this worker (bwrap and its init), which must outlive each kernel."""
    if _ZYGOTE is None or not _ZYGOTE.alive():
        return set()
    import psutil

    try:
        top = psutil.Process(_ZYGOTE.process.pid)
        return {top.pid, *(p.pid for p in top.children() if p.ppid() == top.pid)}
    except psutil.Error:
        return set()


# ------------------------------------------------------------------------------- the kernelspec's command


def run_kernel(socket_path: str, args, command: list[str]) -> dict:
    """Ask the zygote at `socket_path` for a kernel running `command` (python -m ipykernel_launcher -f ...),
    pass on SIGINT, SIGTERM and SIGHUP, and return how it ended (grader.isolation.sandbox's report)."""
    argv = command[1:]
    with open(argv[argv.index("-f") + 1]) as f:
        connection = f.read()
    keep = list(dict.fromkeys(os.path.realpath(p) for p in args.keep))
    cwd = os.path.realpath(os.getcwd())
    if os.geteuid() == 0 and args.warm_uid:  # (the zygote's user id writes them, as a kernel's own would)
        for path in [cwd, *keep]:
            sandbox._chown_tree(path, args.warm_uid)
    request = {"cwd": cwd, "keep": keep, "base": str(Path(socket_path).parent), "argv": argv,
               "connection": connection, "env": dict(os.environ), "tmp_mb": args.tmp_mb,
               "max_processes": args.max_processes, "network": not args.no_network,
               # (the process limit counts a user id's processes: it binds where the zygote has one of its own)
               "limits": {"cpu_seconds": args.cpu_seconds, "memory_mb": args.memory_mb,
                          "max_processes": args.max_processes if args.warm_uid else None,
                          "max_file_mb": args.max_file_mb}}
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    pending = []  # signals that came before the kernel was asked for

    def forward(number, _frame):
        try:
            _send(conn, {"signal": number})
        except OSError:  # not connected yet, or the zygote's side is gone (then so is the kernel)
            pending.append(number)

    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, forward)
    conn.settimeout(30)  # (the zygote serves this worker's kernels one at a time: it is free, or wedged)
    conn.connect(socket_path)
    socket.send_fds(conn, [json.dumps(request).encode() + b"\n"], [0, 1, 2])
    conn.settimeout(None)
    for number in pending:
        forward(number, None)
    for message in _lines(conn):
        end = message.get("ended") if isinstance(message, dict) else None
        if isinstance(end, dict) and isinstance(end.get("exit_code", end.get("signal")), int):
            return end
    return {"signal": signal.SIGKILL, "name": "SIGKILL", "cpu_s": 0.0, "max_rss_mb": 0.0}


def proxy(argv: list[str]) -> int:
    """The kernelspec's command: grader.isolation.sandbox's options, the kernel forked by the zygote (--warm)."""
    args, command = sandbox.parse(argv, prog="python -m grader.isolation.warm")
    sandbox.die_with_parent()
    end = run_kernel(args.warm, args, command)
    with open(args.report, "w") as f:
        json.dump(end, f)
    return end.get("exit_code", 128 + end.get("signal", 0))


if __name__ == "__main__":
    if sys.argv[1].startswith("--"):  # a kernel's command (grader.isolation.kernelspec)
        sys.exit(proxy(sys.argv[1:]))
    plan = json.loads(sys.argv[2])  # the zygote (Zygote.start)
    serve(sys.argv[1], plan["preload"], plan["reveal"])
