"""Start one grading kernel under resource limits and say how it ended.

    python -m grader.sandbox --report FILE [--cpu-seconds N] [--memory-mb N] [--max-processes N]
                             [--max-file-mb N] [--no-network] -- <kernel command>

The kernelspec written for each graded submission (grader.execute) points here. This process forks; the
child sets the limits (inherited by everything the student's code starts) and becomes the kernel; the
parent waits and writes the kernel's end (exit code or signal) to FILE, so a dead kernel gets a status that
names its cause (out of memory, CPU limit, os._exit, segfault) instead of nbgrader's bare "kernel died".
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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


def die_with_parent() -> None:
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


def network_isolation_available() -> bool:
    """Whether cut_network works here (tried in a throw-away child process)."""
    if not hasattr(os, "fork") or not sys.platform.startswith("linux"):
        return False
    child = os.fork()
    if child == 0:
        os._exit(0 if cut_network() else 1)
    _, status = os.waitpid(child, 0)
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def describe(status: int) -> dict:
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        return {"signal": number, "name": signal.Signals(number).name}
    return {"exit_code": os.WEXITSTATUS(status)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.sandbox")
    parser.add_argument("--report", required=True)
    parser.add_argument("--cpu-seconds", type=int)
    parser.add_argument("--memory-mb", type=int)
    parser.add_argument("--max-processes", type=int)
    parser.add_argument("--max-file-mb", type=int)
    parser.add_argument("--no-network", action="store_true")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no kernel command after --")

    die_with_parent()
    child = os.fork()
    if child == 0:
        try:
            die_with_parent()
            if args.no_network:
                cut_network()  # the coordinator checked (and warned) whether this works here
            apply_limits(args)
            os.execvp(command[0], command)
        finally:
            os._exit(127)
    # The kernel shares our process group, so interrupts (SIGINT to the group) reach it directly; pass on
    # the polite shutdown signals jupyter_client sends to us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda number, _frame: os.kill(child, number))
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except InterruptedError:
            continue
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    end = describe(status) | {"cpu_s": usage.ru_utime + usage.ru_stime, "max_rss_mb": usage.ru_maxrss / 1024}
    with open(args.report, "w") as f:
        json.dump(end, f)
    return end.get("exit_code", 128 + end.get("signal", 0))


if __name__ == "__main__":
    sys.exit(main())
