"""Grade a synthetic class with our autograder and with plain sequential nbgrader, same run, and compare.

    python bench/autograde.py             # the whole class (solution, mutants, variants, release, partial)
    python bench/autograde.py --size 12   # a quicker, evenly spread subset
    python bench/autograde.py --dask      # also through a Dask LocalCluster with the same workers

Our grader runs twice: with warm kernels (forked from one process per worker that imported Keras once:
grader.isolation.warm) and with every kernel started afresh (--skip-cold leaves that out).

Prints, per path: submissions, wall seconds, CPU-seconds (all processes, kernels included), CPU-seconds per
submission, peak memory of one worker (its process plus the kernel it runs), throughput, ratio to plain
nbgrader; then whether every grade agrees across paths.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader import course  # noqa: E402
from grader.isolation.kernelspec import WARM_ENV  # noqa: E402

from grader.pipeline import autograde, collect, record
from grader.pipeline.executors import default_workers  # noqa: E402
from tests.corpus import classroom  # noqa: E402

ASSIGNMENT = classroom.ASSIGNMENT
STEM = Path(classroom.NOTEBOOK).stem


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime + own.ru_utime + own.ru_stime


class PeakWorkerMemory:
    """Samples the resident memory of each child process tree (a worker and the kernel it runs)."""

    def __init__(self, interval: float = 0.25):
        self.interval, self.peak_mb, self._stop = interval, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        import psutil

        me = psutil.Process()
        while not self._stop.is_set():
            for child in me.children():
                try:
                    tree = [child, *child.children(recursive=True)]
                    self.peak_mb = max(self.peak_mb, sum(p.memory_info().rss for p in tree) / 2**20)
                except psutil.Error:
                    pass
            time.sleep(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def make_course(folder: Path, subs) -> Path:
    for part in ("solutions", "assignments"):
        shutil.copytree(ROOT / part / ASSIGNMENT, folder / part / ASSIGNMENT)
    classroom.write(subs, folder / "incoming")
    collect.collect(folder / "incoming", ASSIGNMENT, folder, [STEM])
    return folder


def ours(folder: Path, subs, workers: int, scheduler: str | None = None) -> dict:
    root = make_course(folder, subs)
    template = course.template(ASSIGNMENT, root)
    autograde.ensure_released(ASSIGNMENT, root, course.load_config(root).CourseDirectory.db_url)
    cpu = children_cpu()
    with PeakWorkerMemory() as memory:
        start = time.perf_counter()
        summary = autograde.run(ASSIGNMENT, root, workers=workers, scheduler=scheduler, template=template)
        wall = time.perf_counter() - start
    records = record.load(root, ASSIGNMENT)
    grades = {s: r["scores"].get(STEM, {}) for s, r in records.items()}
    kernel_cpu = sum(r["cpu_s"] for r in records.values())
    return {"wall": wall, "cpu": children_cpu() - cpu if not scheduler else kernel_cpu, "n": len(summary.graded),
            "each_cpu": {s: r["cpu_s"] for s, r in records.items()},
            "memory": memory.peak_mb if not scheduler else max(r["kernel_rss_mb"] for r in records.values()),
            "grades": grades, "statuses": dict(summary.statuses)}


def plain_nbgrader(folder: Path, subs) -> dict:
    """`nbgrader autograde` as an instructor runs it: one process, one submission after another."""
    root = make_course(folder, subs)
    (root / "nbgrader_config.py").write_text(
        f"c = get_config()\nload_subconfig({str(ROOT / 'grader' / 'nbgrader_config.py')!r})\n"
        f"c.CourseDirectory.root = {str(root)!r}\nc.CourseDirectory.db_url = 'sqlite:///{root}/gradebook.db'\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    nbgrader = [str(Path(sys.executable).parent / "nbgrader")]
    subprocess.run(nbgrader + ["generate_assignment", ASSIGNMENT, "--force"], cwd=root, env=env, check=True,
                   capture_output=True)
    cpu = children_cpu()
    with PeakWorkerMemory() as memory:
        start = time.perf_counter()
        done = subprocess.run(nbgrader + ["autograde", ASSIGNMENT], cwd=root, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
    from nbgrader.api import Gradebook

    grades = {}
    with Gradebook(f"sqlite:///{root}/gradebook.db") as gb:
        for sub in subs:
            try:
                submission = gb.find_submission_notebook(STEM, ASSIGNMENT, sub.student)
                grades[sub.student] = {g.name: g.auto_score for g in submission.grades}
            except Exception:
                grades[sub.student] = None
    return {"wall": wall, "cpu": children_cpu() - cpu, "n": len(subs), "memory": memory.peak_mb, "grades": grades,
            "statuses": {"exit code": done.returncode}}


def spread(items: list, size: int | None) -> list:
    if not size or size >= len(items):
        return items
    step = len(items) / size
    return [items[int(i * step)] for i in range(size)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, help="grade an evenly spread subset of this many submissions")
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--dask", action="store_true", help="also grade through a Dask LocalCluster")
    parser.add_argument("--skip-plain", action="store_true", help="skip plain nbgrader (the slow baseline)")
    parser.add_argument("--skip-cold", action="store_true",
                        help="skip our grader with every kernel started afresh (as before warm kernels)")
    args = parser.parse_args()
    subs = spread(classroom.build(course.cell_points(ASSIGNMENT)), args.size)
    print(f"{len(subs)} submissions; {args.workers} workers; {os.cpu_count()} cores; backend "
          f"{os.environ.get('KERAS_BACKEND', 'tensorflow')}", flush=True)
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-autograde-") as tmp:
        results["ours (local pool)"] = ours(Path(tmp) / "ours", subs, args.workers)
        if not args.skip_cold:  # (the workers read it when they start a kernel: set for this run only)
            os.environ[WARM_ENV] = "0"
            try:
                results["ours, cold kernels"] = ours(Path(tmp) / "cold", subs, args.workers)
            finally:
                os.environ.pop(WARM_ENV)
        if args.dask:
            from distributed import LocalCluster

            with LocalCluster(n_workers=args.workers, threads_per_worker=1, host="127.0.0.1",
                              dashboard_address=None) as cluster:
                results["ours (Dask LocalCluster)"] = ours(Path(tmp) / "dask", subs, args.workers,
                                                           cluster.scheduler_address)
        if not args.skip_plain:
            results["plain nbgrader"] = plain_nbgrader(Path(tmp) / "plain", subs)
    baseline = results.get("plain nbgrader")
    print(f"\n{'path':26} {'subs':>4} {'wall s':>8} {'CPU s':>8} {'CPU s/sub':>9} {'worker MB':>9} "
          f"{'subs/min':>8} {'x plain':>7}")
    for name, r in results.items():
        ratio = f"{baseline['wall'] / r['wall']:.2f}" if baseline else "-"
        print(f"{name:26} {r['n']:>4} {r['wall']:>8.1f} {r['cpu']:>8.1f} {r['cpu'] / r['n']:>9.2f} "
              f"{r['memory']:>9.0f} {60 * r['n'] / r['wall']:>8.1f} {ratio:>7}")
    groups = {"correct (solution, variants)": lambda kind: kind in ("solution", "variant"),
              "mutants": lambda kind: kind == "mutant",
              "others (release, partial, hostile)": lambda kind: kind not in ("solution", "variant", "mutant")}
    for name in ("ours (local pool)", "ours, cold kernels"):
        if name not in results:
            continue
        each = results[name]["each_cpu"]
        print(f"\n{name}, CPU-seconds per submission as its worker measured it (the kernel and the worker's own "
              "work for it; not the worker's one-time start):")
        for label, belongs in groups.items():
            cpu = [each[s.student] for s in subs if belongs(s.kind) and s.student in each]
            if cpu:
                print(f"  {label:36} {len(cpu):>3}: mean {sum(cpu) / len(cpu):.2f}, {min(cpu):.2f} to {max(cpu):.2f}")
    reference = results["ours (local pool)"]["grades"]
    for name, r in results.items():
        differ = [s for s in reference if r["grades"].get(s) != reference[s]]
        print(f"grades of {name} vs ours (local pool): {'identical' if not differ else 'DIFFER for ' + ', '.join(differ)}"
              f"; statuses {r['statuses']}")
    if "ours (Dask LocalCluster)" in results:
        print("(Dask row: CPU-seconds and memory are what the workers reported: the Dask processes are not ours)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
