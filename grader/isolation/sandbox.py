"""Start one grading kernel confined and under resource limits, and say how it ended.

    python -m grader.isolation.sandbox --report FILE [--cpu-seconds N] [--memory-mb N] [--max-processes N]
                             [--max-file-mb N] [--no-network] [--conceal PATH ...] [--keep DIR ...]
                             -- <kernel command>

The kernelspec written for each graded submission (grader.isolation.kernelspec) points here. This process forks; the
child confines itself and becomes the kernel; the parent waits and writes the kernel's end (exit code or
signal) to FILE, so a dead kernel gets a status that names its cause (out of memory, CPU limit, os._exit,
segfault) instead of nbgrader's bare "kernel died".

What confines the kernel depends on what the machine allows (`mode()`; the grader prints it before grading):

  "bwrap-user" Linux with bubblewrap (`bwrap`), grader running as root: the kernel runs in a root filesystem of
               its own that holds only what it needs (an allow-list: its working folder and the --keep folders
               read-write; the Python runtime and packages, the --allow paths (the course package, the data
               set, the kernel-side grading modules) and the system's shared libraries read-only; a minimal
               /dev, its own /proc and a fresh /tmp), in pid, network, IPC and UTS namespaces of its own, as a
               user id of its own (1,500,000,000 + its pid) under the process limit. Every process it starts
               lives in its pid namespace and dies with it (bwrap --unshare-pid --die-with-parent).
  "bwrap"      the same without root (bubblewrap in an unprivileged user namespace): the grader's user id, so
               no process limit.
  "user"       (bubblewrap missing or not working; said before grading) Linux, grader running as root: the
               deny-list below, and the kernel runs as a user id of its own
               (3,000,000,000 + its pid), so it cannot write the grader's files and the process limit binds
               (a fork bomb stops at --max-processes).
  "namespace"  Linux, unprivileged user namespaces: a private mount namespace and network namespace, but the
               kernel keeps the grader's user id (it can write the grader's files outside the concealed
               paths, and the process limit counts all of that user's processes, so it is not set).
  "limits"     elsewhere (macOS, containers without namespaces): resource limits only.

RESNET_COURSE_SANDBOX=paths in the environment skips bubblewrap (bench/sandbox.py compares the two).

Without bubblewrap but with a mount namespace, each --conceal path (the course's instructor folders, the gradebook, the grader's
reference and judging code) is covered by an empty read-only folder or file; the temporary
folders (/tmp, /var/tmp, /dev/shm, $TMPDIR) are fresh and empty, so other submissions' scratch copies are out
of sight; the kernel's working folder and the --keep folders (its socket folder) are mounted back in.
"""

from __future__ import annotations

import argparse
import functools
import glob
import json
import os
import resource
import shutil
import signal
import sys

MB = 1024 * 1024


def _limit(which: int, soft: int, hard: int | None = None) -> None:
    """Lower a limit; never raise one above what this process was given (which would fail anyway)."""
    _, current_hard = resource.getrlimit(which)
    hard = soft if hard is None else hard
    if current_hard != resource.RLIM_INFINITY:
        soft, hard = min(soft, current_hard), min(hard, current_hard)
    resource.setrlimit(which, (soft, hard))


def apply_limits(args) -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a segfault must not write gigabytes of core dump
    if args.cpu_seconds:
        _limit(resource.RLIMIT_CPU, args.cpu_seconds, args.cpu_seconds + 5)  # SIGXCPU, then SIGKILL
    if args.memory_mb:
        _limit(resource.RLIMIT_AS, args.memory_mb * MB)  # large allocations fail with MemoryError
    if args.max_processes:
        _limit(resource.RLIMIT_NPROC, args.max_processes)  # per user: bites for the unprivileged grader
    if args.max_file_mb:
        _limit(resource.RLIMIT_FSIZE, args.max_file_mb * MB)


def die_with_parent() -> None:  # (cleared by a change of user id: call it again after confine())
    """Linux: be killed when the parent dies, so a grader killed midway leaves no kernel running."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


CLONE_NEWNET = 0x40000000


def cut_network() -> bool:
    """Linux: move into a new, empty network namespace (no interface but a down loopback). The kernel talks
    to nbgrader over Unix sockets, which still work. Needs root or unprivileged user namespaces."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    return ctypes.CDLL(None, use_errno=True).unshare(CLONE_NEWNET) == 0


def _works_in_child(attempt) -> bool:
    """Whether attempt() returns True in a throw-away child process (namespaces cannot be left again)."""
    if not hasattr(os, "fork") or not sys.platform.startswith("linux"):
        return False
    child = os.fork()
    if child == 0:
        try:
            os._exit(0 if attempt() else 1)
        finally:
            os._exit(1)
    _, status = os.waitpid(child, 0)
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def network_isolation_available() -> bool:
    return _works_in_child(cut_network)


# ---------------------------------------------------------------------------------------------------------
# Mount namespace and user id

CLONE_NEWNS, CLONE_NEWUSER = 0x00020000, 0x10000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18
KERNEL_UID_BASE = 3_000_000_000  # far above real accounts; one id per kernel (its pid added)
TMP_DIRS = ("/tmp", "/var/tmp", "/dev/shm")


def _libc():
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    import ctypes

    libc = _libc()
    if libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None, flags,
                  data.encode() if data else None) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"mount {source} on {target}: {os.strerror(errno)}")


def _new_mount_namespace(more: int = 0) -> bool:
    """Enter a private mount namespace (and the namespaces in `more`): as root directly, otherwise inside a
    new user namespace."""
    libc = _libc()
    if os.geteuid() == 0:
        return libc.unshare(CLONE_NEWNS | more) == 0
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | more) != 0:
        return False
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        with open(f"/proc/self/{name}", "w") as f:
            f.write(text)
    return True


def mode() -> str:
    """"bwrap-user", "bwrap", "user", "namespace" or "limits": see the module's docstring."""
    if _bwrap_works():
        return "bwrap-user" if os.geteuid() == 0 else "bwrap"
    if not _works_in_child(lambda: _new_mount_namespace() and _mount("none", "/", None, MS_REC | MS_PRIVATE) is None):
        return "limits"
    return "user" if os.geteuid() == 0 else "namespace"


# ---------------------------------------------------------------------------------------------------------
# The allow-list root (bubblewrap)

SANDBOX_ENV = "RESNET_COURSE_SANDBOX"  # "paths": do without bubblewrap (the deny-list sandbox)
BWRAP_UID_BASE = 1_500_000_000  # bwrap writes its uid map as a signed int: stay below 2**31
INSIDE_UID = 1000  # the kernel's user id as it sees it ("student")
SYSTEM = ("/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin")  # the system's programs and libraries
ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "nsswitch.conf", "fonts")
HOME = "/tmp/home"


def _runtime_paths() -> list[str]:
    """The Python runtime and its installed packages, and nothing on sys.path outside them (PYTHONPATH may
    name a whole checkout: what a kernel needs of one comes in through --allow)."""
    import site
    import sysconfig

    prefixes = [os.path.dirname(os.path.dirname(os.path.realpath(sys.executable))), sys.base_prefix, sys.prefix,
                sys.base_exec_prefix, sys.exec_prefix, *site.getsitepackages(), site.getusersitepackages(),
                *(sysconfig.get_paths().values())]
    return list(dict.fromkeys(os.path.realpath(p) for p in prefixes if p and os.path.isdir(p)))


def bwrap_path() -> str | None:
    return None if os.environ.get(SANDBOX_ENV) == "paths" else shutil.which("bwrap")


def python_executable() -> str:
    """sys.executable with the links in its folders resolved (a virtual environment reached through a linked
    folder), not the file's own link: a virtual environment's python links to the base interpreter, which
    started directly would leave the environment. The allow-list root binds real paths only."""
    return os.path.join(os.path.realpath(os.path.dirname(sys.executable)), os.path.basename(sys.executable))


def _bwrap_works() -> bool:
    return bwrap_failure() is None


@functools.cache
def bwrap_failure() -> str | None:
    """None where bwrap can start a process here the way kernels are started (as the kernel's user id when
    root); otherwise why not: bwrap's own last words, or that it is missing."""
    if not sys.platform.startswith("linux") or not bwrap_path():
        return "bubblewrap (bwrap) is not installed" if sys.platform.startswith("linux") else "not Linux"
    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            os.close(read)
            argv, _ = bwrap_argv([python_executable(), "-c", "pass"], ro=[], rw=[], tmp_mb=1, network=False)
            if os.geteuid() == 0:
                _prepare_as_root([], [], BWRAP_UID_BASE + os.getpid())
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(write, 2)
            os.execv(argv[0], argv)
        except BaseException as e:  # noqa: BLE001
            os.write(write, f"{type(e).__name__}: {e}".encode())
        finally:
            os._exit(1)
    os.close(write)
    with os.fdopen(read, "rb") as said:
        words = said.read().decode(errors="replace").strip()
    _, status = os.waitpid(child, 0)
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        return None
    return words.splitlines()[-1] if words else f"bwrap ended with status {status}"


def _pipe_with(data: bytes) -> int:
    """A read end holding `data` (bwrap copies it into the sandbox)."""
    read, write = os.pipe()
    os.write(write, data)
    os.close(write)
    os.set_inheritable(read, True)
    return read


def bwrap_argv(command: list[str], ro: list[str], rw: list[str], tmp_mb: int, network: bool,
               files: dict[str, bytes] | None = None) -> tuple[list[str], list[int]]:
    """The bwrap command line that runs `command` in an allow-list root: `rw` (the first is the working
    folder) read-write, `ro`, the Python runtime and the system's libraries read-only, `files` (path inside:
    bytes) as read-only files; and the pipe ends it reads them from."""
    argv = [bwrap_path(), "--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            *([] if network else ["--unshare-net"]), "--die-with-parent", "--as-pid-1", "--uid", str(INSIDE_UID),
            "--gid", str(INSIDE_UID), "--hostname", "grading"]
    for path in SYSTEM:
        if os.path.islink(path):  # merged /usr: /lib -> usr/lib
            argv += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            argv += ["--ro-bind", path, path]
    for name in ETC:
        argv += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    argv += ["--proc", "/proc", "--dev", "/dev", "--size", str(tmp_mb * MB), "--tmpfs", "/tmp",
             "--size", str(tmp_mb * MB), "--tmpfs", "/dev/shm", "--dir", "/var", "--symlink", "/tmp", "/var/tmp"]
    for device in sorted(glob.glob("/dev/nvidia*")):  # a GPU, where there is one
        argv += ["--dev-bind", device, device]
    if glob.glob("/dev/nvidia*"):
        argv += ["--ro-bind", "/sys", "/sys"]
    readable = list(dict.fromkeys([*_runtime_paths(), *ro]))
    for path in readable:
        if not any(path.startswith(other + os.sep) for other in readable):  # (a folder below one bound already)
            argv += ["--ro-bind", path, path]
    for path in dict.fromkeys(rw):
        argv += ["--bind", path, path]
    fds = []
    files = {"/etc/passwd": f"student:x:{INSIDE_UID}:{INSIDE_UID}:student:{HOME}:/usr/sbin/nologin\n".encode(),
             "/etc/group": f"student:x:{INSIDE_UID}:\n".encode(), **(files or {})}
    for path, data in files.items():
        fds.append(_pipe_with(data))
        argv += ["--perms", "0444", "--ro-bind-data", str(fds[-1]), path]
    argv += ["--dir", HOME, "--chdir", rw[0] if rw else HOME,
             "--setenv", "HOME", HOME, "--setenv", "USER", "student", "--setenv", "LOGNAME", "student",
             "--setenv", "TMPDIR", "/tmp",
             # ipykernel would take its parent (outside the pid namespace: 0) for gone and quit; --die-with-parent
             # does it. (--as-pid-1: bwrap waits for the kernel itself, so its CPU time and memory reach the report.)
             "--unsetenv", "JPY_PARENT_PID",
             "--remount-ro", "/",  # the root's own folders (made for the mounts above) take no new files
             "--", *command]
    return argv, fds


def _prepare_as_root(ro: list[str], rw: list[str], uid: int) -> None:
    """As root, before becoming `uid` and starting bwrap: a private mount namespace in which folders `uid`
    could not enter on the way to `ro` and `rw` (Python under /root, a scratch folder under a private
    temporary one) are replaced by ones holding just those paths; `rw` handed to `uid`."""
    if _libc().unshare(CLONE_NEWNS) != 0:
        raise OSError("no mount namespace")
    _mount("none", "/", None, MS_REC | MS_PRIVATE)
    needed = list(dict.fromkeys(os.path.realpath(p) for p in [*_runtime_paths(), *ro, *rw] if os.path.exists(p)))
    closed = _closed_ancestors(needed)
    for folder in sorted(closed, key=len):
        reopen = hold_in(closed[folder], [folder])  # folders and files
        _mount("tmpfs", folder, "tmpfs", MS_NOSUID | MS_NODEV, "size=16k,mode=0755")
        _bind_back(reopen)
    for path in rw:
        _chown_tree(path, uid)
    _become(uid)


def confine_bwrap(allow: list[str], keep: list[str], command: list[str], tmp_mb: int, network: bool) -> list[str]:
    """The command that starts the kernel in its allow-list root (see the module's docstring); as root, this
    process first becomes the kernel's user id. Its connection file is copied in."""
    rw = list(dict.fromkeys([os.getcwd(), *keep]))
    command = list(command)
    files = {}
    if "-f" in command:  # the kernel's connection file sits in the grader's runtime folder, out of its reach
        connection = command.index("-f") + 1
        with open(command[connection], "rb") as f:
            files[f"{HOME}/kernel-connection.json"] = f.read()
        command[connection] = f"{HOME}/kernel-connection.json"
    argv, _ = bwrap_argv(command, allow, rw, tmp_mb, network, files)
    if os.geteuid() == 0:
        _prepare_as_root(allow, rw, BWRAP_UID_BASE + os.getpid())
    # Interrupts go to the whole process group: bwrap must survive them (the kernel would die with it); the
    # kernel installs its own handler while a cell runs.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return argv


def _temp_dirs() -> list[str]:
    import tempfile

    return list(dict.fromkeys(d for d in (*TMP_DIRS, tempfile.gettempdir()) if os.path.isdir(d)))


def hold_in(paths, folders) -> dict[str, int]:
    """Handles on those of `paths` (files or folders) that lie in one of `folders`, about to be covered (to
    mount them back with _bind_back)."""
    return {p: os.open(p, os.O_PATH) for p in dict.fromkeys(os.path.realpath(a) for a in paths)
            if os.path.exists(p) and any(p.startswith(f + os.sep) for f in folders)}


def _kept_flags(path: str) -> int:
    """The mount flags a read-only remount of `path` must keep (in a user namespace they are locked)."""
    flag = os.statvfs(path).f_flag
    pairs = ((os.ST_NOSUID, MS_NOSUID), (os.ST_NODEV, MS_NODEV), (os.ST_NOEXEC, 8), (os.ST_NOATIME, 1024),
             (os.ST_NODIRATIME, 2048), (os.ST_RELATIME, 1 << 21))
    return sum(ms for st, ms in pairs if flag & st)


def _chown_tree(path: str, uid: int) -> None:
    os.chown(path, uid, uid)
    for folder, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(os.path.join(folder, name), uid, uid, follow_symlinks=False)


def _python_paths() -> list[str]:
    """Where the kernel's Python lives: the interpreter, the standard library, the environment, sys.path."""
    paths = [os.path.dirname(os.path.dirname(os.path.realpath(sys.executable))), sys.base_prefix, sys.prefix,
             *(p for p in sys.path if p and os.path.isdir(p))]
    return list(dict.fromkeys(os.path.realpath(p) for p in paths))


def _closed_ancestors(paths: list[str]) -> dict[str, list[str]]:
    """{folder others cannot enter: [paths below it]} (e.g. Python installed under /root by pyenv)."""
    closed: dict[str, list[str]] = {}
    for path in paths:
        parts = path.split(os.sep)
        for i in range(2, len(parts)):
            ancestor = os.sep.join(parts[:i])
            if not os.stat(ancestor).st_mode & 0o001:
                closed.setdefault(ancestor, []).append(path)
                break
    return closed


def _hold(paths) -> dict[str, int]:
    """Handles on folders that a mount is about to cover, to mount them back with _bind_back."""
    return {path: os.open(path, os.O_PATH | os.O_DIRECTORY) for path in paths}


def _bind_back(held: dict[str, int], read_only: bool = False) -> None:
    """Mount each held folder or file (`_hold`, `hold_in`) back where it was, each alone (not the folder around
    it); read-only ones keep the mount flags a user namespace locks (a remount dropping them is refused)."""
    for path, handle in held.items():
        if os.path.isdir(f"/proc/self/fd/{handle}"):
            os.makedirs(path, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            open(path, "a").close()
        _mount(f"/proc/self/fd/{handle}", path, None, MS_BIND | MS_REC)
        if read_only:
            _mount("none", path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | _kept_flags(path))
        os.close(handle)


def _become(uid: int) -> None:
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


def confine(conceal: list[str], keep: list[str], command: list[str], tmp_mb: int, network: bool,
            allow: list[str] = ()) -> list[str]:
    """Hide `conceal`, give the kernel fresh temporary folders with its working folder and `keep` mounted
    back in (and, read-only, whatever of `allow` lies in a temporary folder: a worker's unit files), and (as
    root) switch to the kernel's own user id. Returns the command to run (its connection file moved to where
    the kernel can read it). Raises OSError when a step fails."""
    if not _new_mount_namespace(0 if network else CLONE_NEWNET):
        raise OSError("no mount namespace")
    _mount("none", "/", None, MS_REC | MS_PRIVATE)  # nothing done here leaks back to the host
    keep = list(dict.fromkeys([os.getcwd(), *keep]))
    kept = _hold(keep)
    python = _python_paths()
    # A kernel with its own user id must still reach Python: a folder it cannot enter is replaced by one
    # it can, holding just the Python folders (read-only to it: they belong to root).
    closed = _closed_ancestors(python) if os.geteuid() == 0 else {}
    reopen = _hold(path for paths in closed.values() for path in paths)
    for folder in closed:
        _mount("tmpfs", folder, "tmpfs", MS_NOSUID | MS_NODEV, "size=16k,mode=0755")
    _bind_back(reopen)
    command = list(command)
    connection = command.index("-f") + 1 if "-f" in command else None
    secret = None
    if connection:  # the kernel's connection file sits in the grader's runtime folder, out of its reach
        with open(command[connection], "rb") as f:
            secret = f.read()
    temp = _temp_dirs()
    # Python, the course package or this checkout may live in a temporary folder (a CI clone in /tmp):
    # those come back, read-only, into the fresh ones.
    in_temp = _hold(path for path in python if any(path.startswith(t + os.sep) for t in temp))
    # So may what the kernel must read (a remote worker writes the unit's files to a temporary folder): each
    # path alone comes back, not the folder around it (that holds the unit's judges too).
    allowed_in_temp = hold_in(allow, temp)
    for path in temp:
        _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, f"size={tmp_mb}m,mode=1777")
    _bind_back(in_temp, read_only=True)
    _bind_back(allowed_in_temp, read_only=True)
    empty = os.path.join(temp[0], ".concealed")  # what a concealed file shows: nothing, and read-only
    with open(empty, "wb"):
        pass
    for path in conceal:
        if os.path.isdir(path) and not os.path.islink(path):
            _mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=16k,mode=0755")
        elif os.path.isfile(path) and not os.path.islink(path):
            _mount(empty, path, None, MS_BIND)
            _mount("none", path, None, MS_REMOUNT | MS_BIND | MS_RDONLY)
    _bind_back(kept)
    home = os.path.join(temp[0], "home")
    os.makedirs(home, mode=0o700, exist_ok=True)
    os.environ.update(HOME=home, USER="student", LOGNAME="student")
    if connection:
        command[connection] = os.path.join(home, "kernel-connection.json")
        with open(command[connection], "wb") as f:
            f.write(secret)
    if os.geteuid() == 0:
        uid = KERNEL_UID_BASE + os.getpid()
        for path in [*keep, home]:
            _chown_tree(path, uid)
        _become(uid)
    os.chdir(keep[0])  # re-enter the working folder through the mount just made
    return command


def describe(status: int) -> dict:
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        return {"signal": number, "name": signal.Signals(number).name}
    return {"exit_code": os.WEXITSTATUS(status)}


def _processes_of(uid: int) -> int:
    count = 0
    with os.scandir("/proc") as entries:
        for entry in entries:
            try:
                count += entry.name.isdigit() and entry.stat().st_uid == uid
            except OSError:
                pass  # gone meanwhile
    return count


def _kill_all_of(uid: int) -> None:
    """SIGKILL every process of `uid`: a helper takes that user id and signals -1 (all it may signal)."""
    helper = os.fork()
    if helper == 0:
        try:
            _become(uid)
            os.kill(-1, signal.SIGKILL)
        finally:
            os._exit(0)
    os.waitpid(helper, 0)


def _wait(child: int, uid: int | None, most: int) -> tuple[int, int]:
    """Wait for the kernel. With its own user id, also watch its process count (once a second: a scan of
    /proc): the process limit stops a fork bomb from growing, but the processes it made would still share
    the CPU with every other kernel until the submission's time runs out, so at `most` processes all of
    them are killed at once. Returns (wait status, processes found when a fork bomb was stopped, else 0)."""
    watch = uid is not None and most > 0
    if watch:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})  # so that sigtimedwait wakes when it ends
    bomb = 0
    while True:
        try:
            pid, status = os.waitpid(child, os.WNOHANG if watch else 0)
        except InterruptedError:
            continue
        if pid:
            return status, bomb
        if not bomb and (count := _processes_of(uid)) >= most:
            bomb = count
            _kill_all_of(uid)
        signal.sigtimedwait({signal.SIGCHLD}, 1.0)


def build_parser(prog: str = "python -m grader.isolation.sandbox") -> argparse.ArgumentParser:
    """The kernel command's options (also read by grader.isolation.warm's)."""
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--report", required=True)
    parser.add_argument("--cpu-seconds", type=int)
    parser.add_argument("--memory-mb", type=int)
    parser.add_argument("--max-processes", type=int)
    parser.add_argument("--max-file-mb", type=int)
    parser.add_argument("--no-network", action="store_true")
    parser.add_argument("--conceal", action="append", default=[], help="a path the kernel must not see")
    parser.add_argument("--keep", action="append", default=[], help="a folder the kernel needs (besides its cwd)")
    parser.add_argument("--allow", action="append", default=[],
                        help="a path the kernel may read (bwrap: all it reads besides the runtime and the system's)")
    parser.add_argument("--tmp-mb", type=int, default=1024, help="size of each fresh temporary folder")
    parser.add_argument("--confine", nargs="?", const="paths", choices=["paths", "bwrap"],
                        help="bwrap: the allow-list root; paths: mount namespace hiding --conceal (see mode())")
    parser.add_argument("--warm", metavar="SOCKET", help="grader.isolation.warm: its worker's warm-kernel process")
    parser.add_argument("--warm-uid", type=int, help="its user id (as root: the kernel's folders are handed to it)")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    return parser


def parse(argv, prog: str = "python -m grader.isolation.sandbox"):
    """(options, kernel command) of a kernel command line."""
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no kernel command after --")
    return args, command


def main(argv=None) -> int:
    args, command = parse(argv)

    die_with_parent()
    child = os.fork()
    if child == 0:
        try:
            if args.confine == "bwrap":  # the coordinator checked (and said) what works here
                command = confine_bwrap(args.allow, args.keep, command, args.tmp_mb, network=not args.no_network)
            elif args.confine:
                command = confine(args.conceal, args.keep, command, args.tmp_mb, network=not args.no_network,
                                  allow=args.allow)
            elif args.no_network:
                cut_network()
            die_with_parent()
            apply_limits(args)
            os.execvp(command[0], command)
        except BaseException as e:  # noqa: BLE001  (say why on the kernel's stderr; the report shows 127)
            print(f"grader.isolation.sandbox: cannot start the kernel: {e}", file=sys.stderr, flush=True)
        finally:
            os._exit(127)
    # The kernel shares our process group, so interrupts (SIGINT to the group) reach it directly; pass on
    # the polite shutdown signals jupyter_client sends to us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda number, _frame: os.kill(child, number))
    base = BWRAP_UID_BASE if args.confine == "bwrap" else KERNEL_UID_BASE
    uid = base + child if args.confine and os.geteuid() == 0 else None
    status, bomb = _wait(child, uid, (args.max_processes or 0) // 4)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    if args.confine == "bwrap" and os.WIFEXITED(status) and 128 < os.WEXITSTATUS(status) < 128 + signal.NSIG:
        status = os.WEXITSTATUS(status) - 128  # bwrap exits 128 + N for a kernel killed by signal N
    end = describe(status) | {"cpu_s": usage.ru_utime + usage.ru_stime, "max_rss_mb": usage.ru_maxrss / 1024}
    if bomb:
        end["processes"] = bomb
    with open(args.report, "w") as f:
        json.dump(end, f)
    return end.get("exit_code", 128 + end.get("signal", 0))


if __name__ == "__main__":
    sys.exit(main())
