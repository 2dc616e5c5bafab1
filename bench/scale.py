"""How the coordinator copes with a big class: 1,000 submissions through the real grader CLI, kernels replayed.

    python bench/scale.py                      # classes of 100 and 1000
    python bench/scale.py --sizes 1000 --feedback-sample 20
    python bench/scale.py --sizes 1000 --compare cd9a651   # also the grader of an earlier commit, same run

Grading a submission for real costs seconds of kernel time; what this bench measures is everything around
it, which must stay small for one coordinator to feed many workers. So: two submissions (the solution and the
untouched release) are graded once for real; then, for each class size, a fresh course is built in a temporary
folder and taken through `collect`, `autograde` (the worker pool replaced by REPLAYING those two recorded
results, renamed to each student: nothing else is faked: skip logic, status files, error records and the
gradebook are the real ones), a no-op re-run, `export` and `report`, each through `python -m grader`'s own
entry point. Feedback runs nbconvert per student (on a process pool), so it is timed on a sample and the total
extrapolated; a second feedback run of the sample, with no grade changed, shows that nothing is remade.

Prints, per class size: wall seconds and coordinator CPU (its own and its child processes') for each step, coordinator CPU milliseconds per
submission, peak memory of the coordinator process, gradebook size, and how many workers at 8 s per
submission one coordinator can keep busy. Each class size runs in its own process, so peak memory is that
size's own.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import pickle
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ASSIGNMENT = "resnet50"
NOTEBOOK = "Residual_Networks.ipynb"
SECONDS_PER_SUBMISSION = 8.0  # a worker's time for one real submission (bench/autograde.py measures it)
RECORDED = ROOT / "bench" / "out" / "scale-recorded.pkl"


def make_course(folder: Path) -> Path:
    for part in ("solutions", "assignments"):
        shutil.copytree(ROOT / part / ASSIGNMENT, folder / part / ASSIGNMENT)
    return folder


def cli(*argv: str) -> tuple[int, str]:
    """Run one `python -m grader` command in this process (so its CPU time is the coordinator's)."""
    from grader.__main__ import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(list(argv))
    return code, out.getvalue()


def record_real(tmp: Path) -> dict:
    """Grade the solution and the untouched release for real, once; keep their worker results."""
    from grader.pipeline import executors

    root = make_course(tmp / "recording")
    incoming = root / "incoming"
    for who, part in (("solution", "solutions"), ("release", "assignments")):
        (incoming / who).mkdir(parents=True)
        shutil.copy(root / part / ASSIGNMENT / NOTEBOOK, incoming / who / NOTEBOOK)
    cli("--course", str(root), "collect", ASSIGNMENT, str(incoming))
    seen, real_local = {}, executors.local

    def keep(jobs, template, limits, workers):
        for outcome in real_local(jobs, template, limits, workers):
            seen[outcome.student] = outcome
            yield outcome

    executors.local = keep
    try:
        code, text = cli("--course", str(root), "autograde", ASSIGNMENT, "--workers", "2")
    finally:
        executors.local = real_local
    if code != 0 or set(seen) != {"solution", "release"}:
        raise SystemExit(f"recording the two real gradings failed (exit {code}):\n{text}")
    return {who: {"outcome": o, "notebook": (incoming / who / NOTEBOOK).read_bytes()} for who, o in seen.items()}


def cpu_s() -> float:
    """CPU seconds of this process and of the processes it started (nbgrader's helpers, alembic)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def one_size(n: int, feedback_sample: int) -> dict:
    from grader.pipeline import executors

    recorded = pickle.loads(RECORDED.read_bytes())
    by_digest = {}
    rows = {}
    with tempfile.TemporaryDirectory(prefix=f"bench-scale-{n}-") as tmp:
        root = make_course(Path(tmp))
        incoming = root / "incoming"
        for i in range(n):
            who = "solution" if i % 5 < 3 else "release"  # three in five hand in a working notebook
            folder = incoming / f"student{i:05d}"
            folder.mkdir(parents=True)
            (folder / NOTEBOOK).write_bytes(recorded[who]["notebook"])

        def replay(jobs, template, limits, workers):
            for job in jobs:
                if job.digest not in by_digest:
                    raise RuntimeError(f"{job.student}: a submission this bench never recorded")
                yield dataclasses.replace(by_digest[job.digest], student=job.student, digest=job.digest,
                                          timestamp=job.timestamp)

        def step(name, *argv):
            wall, cpu = time.perf_counter(), cpu_s()
            code, text = cli("--course", str(root), *argv)
            rows[name] = {"wall_s": time.perf_counter() - wall, "cpu_s": cpu_s() - cpu, "exit": code}
            if code != 0:
                raise SystemExit(f"{name} failed (exit {code}):\n{text[-3000:]}")
            return text

        step("collect", "collect", ASSIGNMENT, str(incoming))
        from grader.pipeline.jobs import Job

        for item in recorded.values():  # (a student's folder holds just the notebook: the same digest)
            by_digest[Job("", {NOTEBOOK: item["notebook"]}).digest] = item["outcome"]
        executors.local = replay
        step("autograde (replayed)", "autograde", ASSIGNMENT, "--workers", "2")
        step("autograde again (no-op)", "autograde", ASSIGNMENT, "--workers", "2")
        step("export", "export", ASSIGNMENT)
        step("report", "report", ASSIGNMENT)
        sample = [f"student{i:05d}" for i in range(min(feedback_sample, n))]
        step("feedback (sample)", "feedback", ASSIGNMENT, *sample)
        step("feedback again (no change)", "feedback", ASSIGNMENT, *sample)  # (incremental: nothing to remake)
        gradebook_mb = (root / "gradebook.db").stat().st_size / 2**20
        status_mb = sum(p.stat().st_size for p in (root / "grading").rglob("*") if p.is_file()) / 2**20
    return {"n": n, "rows": rows, "gradebook_mb": gradebook_mb, "status_mb": status_mb,
            "feedback_sample": len(sample),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


@contextlib.contextmanager
def worktree(rev: str):
    """A checkout of `rev` (git worktree) in a temporary folder, with this run's recorded results, removed after."""
    with tempfile.TemporaryDirectory(prefix="bench-scale-rev-") as tmp:
        folder = Path(tmp) / "checkout"
        made = subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(folder), rev],
                              capture_output=True, text=True)
        if made.returncode != 0:
            why = (made.stderr.strip().splitlines() or ["no reason given"])[-1]
            raise SystemExit(f"--compare {rev}: git cannot check it out ({why})")
        try:
            copy = folder / RECORDED.relative_to(ROOT)
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(RECORDED, copy)
            yield folder
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(folder)], capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--feedback-sample", type=int, default=10, help="students whose feedback is timed")
    parser.add_argument("--record", action="store_true", help="grade the two real submissions again")
    parser.add_argument("--compare", metavar="REV", help="also measure the grader of this git commit, same run")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # (one class size, in a child process)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_size(args.one, args.feedback_sample)))
        return 0
    if args.record or not RECORDED.exists():
        print("grading the solution and the untouched release once, for real, to replay them ...", flush=True)
        with tempfile.TemporaryDirectory(prefix="bench-scale-rec-") as tmp:
            recorded = record_real(Path(tmp))
        RECORDED.parent.mkdir(parents=True, exist_ok=True)
        RECORDED.write_bytes(pickle.dumps(recorded))
    recorded = pickle.loads(RECORDED.read_bytes())
    real = {who: item["outcome"] for who, item in recorded.items()}
    print("recorded: " + "; ".join(f"{who} {o.status}, {sum(v or 0 for s in o.scores.values() for v in s.values()):g} "
                                    f"points, {o.cpu_s:.1f} CPU-s in the worker" for who, o in real.items()))
    print("KERNELS ARE REPLAYED: every figure below is the coordinator's work only (collect, skip logic, record, "
          "gradebook, status files, export, report; feedback on a sample)\n")
    versions = [("this checkout", Path(__file__))]
    with contextlib.ExitStack() as stack:
        if args.compare:
            versions.insert(0, (args.compare, stack.enter_context(worktree(args.compare)) / "bench" / "scale.py"))
        results = []
        for label, script in versions:
            for n in args.sizes:
                done = subprocess.run([sys.executable, str(script), "--one", str(n), "--feedback-sample",
                                       str(args.feedback_sample)], capture_output=True, text=True)
                if done.returncode != 0:
                    print(f"{label}, n={n} failed:", done.stdout[-3000:], done.stderr[-3000:])
                    return 1
                results.append((label, json.loads(done.stdout.strip().splitlines()[-1])))
    steps = list(results[0][1]["rows"])
    names = [f"{label + ': ' if args.compare else ''}n={r['n']}" for label, r in results]
    width = max(16, *(len(name) + 9 for name in names))
    print(f"{'step':26}" + "".join(f"{name + ' wall s':>{width}}{'CPU ms/sub':>12}" for name in names))
    for name in steps:
        line = f"{name:26}"
        for _, r in results:
            row = r["rows"][name]
            per = r["feedback_sample"] if name.startswith("feedback") else r["n"]
            line += f"{row['wall_s']:>{width}.2f}{1000 * row['cpu_s'] / per:>12.1f}"
        print(line)
    print()
    for name, (_, r) in zip(names, results):
        grading = r["rows"]["autograde (replayed)"]
        per_sub = grading["cpu_s"] / r["n"]
        feedback = r["rows"]["feedback (sample)"]
        fb_each = feedback["wall_s"] / max(r["feedback_sample"], 1)
        print(f"{name}: coordinator {1000 * per_sub:.1f} CPU ms per graded submission -> one coordinator keeps "
              f"{SECONDS_PER_SUBMISSION / per_sub:.0f} workers busy at {SECONDS_PER_SUBMISSION:g} s per submission; "
              f"peak memory {r['peak_rss_mb']:.0f} MB; gradebook {r['gradebook_mb']:.1f} MB, grading/ folder "
              f"(status files, template) {r['status_mb']:.1f} MB; feedback {fb_each:.2f} s per student (sample of {r['feedback_sample']}), "
              f"{fb_each * r['n'] / 60:.1f} min for the class on this machine's feedback pool")
    return 0


if __name__ == "__main__":
    sys.exit(main())
