"""What the grading sandbox costs per submission: a grading kernel started the way grader.pipeline.execute starts it,
one trivial cell, shut down; with the allow-list root (bubblewrap) and with the deny-list sandbox
(RESNET_COURSE_SANDBOX=paths), alternately, in fresh processes.

    python bench/sandbox.py            # 5 kernels per mode
    python bench/sandbox.py --runs 10
    python bench/sandbox.py --listing  # also print what a kernel in the allow-list root sees under /

Prints, per mode: median and min wall seconds from starting the kernel to its end (start, ready, cell, shutdown)
and the seconds of the kernel's own CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LISTING = """import os
for d in ['/', '/work', '/root', '/tmp', '/etc', '/dev', '/var', os.path.dirname(os.getcwd())]:
    try:
        print(d, sorted(os.listdir(d)))
    except OSError as e:
        print(d, type(e).__name__)
import grader, resnet_course
print('grader/', sorted(os.listdir(os.path.dirname(grader.__file__))))
print('course root', sorted(os.listdir(os.path.dirname(os.path.dirname(resnet_course.__file__)))))
"""


def one_kernel(code: str) -> dict:
    """In this process: a scratch folder and kernelspec as grader.isolation.kernelspec writes them, one kernel, one cell."""
    from jupyter_client.manager import KernelManager

    from grader import course

    from grader.isolation import kernelspec
    from grader.pipeline.jobs import Limits

    with tempfile.TemporaryDirectory(prefix="grade-") as tmp:
        root = Path(tmp)
        for kept in ("ipc", "evidence", "autograded"):
            (root / kept).mkdir()
        report = root / "kernel-end.json"
        kernelspec.write_kernelspec(root, report, "resnet50", Limits(), [root / "ipc", root / "evidence"])
        os.environ["JUPYTER_PATH"] = str(root)
        course.kernel_environment()
        start = time.monotonic()
        km = KernelManager(kernel_name=kernelspec.KERNEL_NAME, transport="ipc", ip=str(root / "ipc" / "kernel"))
        km.start_kernel(cwd=str(root / "autograded"))
        kc = km.client()
        kc.start_channels()
        kc.wait_for_ready(timeout=120)
        ready = time.monotonic()
        outputs = []
        kc.execute_interactive(code, output_hook=lambda m: outputs.append(m["content"].get("text", "")), timeout=60)
        ran = time.monotonic()
        kc.stop_channels()
        km.shutdown_kernel(now=False)
        end = time.monotonic()
        kernel = json.loads(report.read_text()) if report.exists() else {}
        return {"mode": kernelspec.confinement(), "start_s": ready - start, "cell_s": ran - ready, "stop_s": end - ran,
                "total_s": end - start, "kernel_cpu_s": kernel.get("cpu_s"), "output": "".join(outputs)}


def run(mode: str, code: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "RESNET_COURSE_SANDBOX"}
    if mode == "paths":
        env["RESNET_COURSE_SANDBOX"] = "paths"
    done = subprocess.run([sys.executable, __file__, "--one", code], env=env, capture_output=True, text=True,
                          timeout=300)
    if done.returncode:
        sys.exit(f"bench/sandbox.py: the {mode} kernel failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/sandbox.py")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--listing", action="store_true")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one is not None:
        print(json.dumps(one_kernel(args.one)))
        return 0
    if args.runs < 1:
        parser.error("--runs must be 1 or more")
    from grader.isolation import kernelspec

    if not kernelspec.confinement().startswith("bwrap"):
        print(f"bubblewrap does not work here (sandbox mode {kernelspec.confinement()}): nothing to compare")
        return 1
    results: dict[str, list[dict]] = {"bwrap": [], "paths": []}
    run("bwrap", "1 + 1")  # warm the file cache
    for _ in range(args.runs):
        for mode in results:
            results[mode].append(run(mode, "1 + 1"))
    print(f"{'sandbox':<34}{'runs':>5}{'median s':>10}{'min s':>8}{'start s':>9}{'cell s':>8}{'stop s':>8}"
          f"{'kernel CPU s':>14}")
    for mode, rows in results.items():
        total = [r["total_s"] for r in rows]
        print(f"{rows[0]['mode'] + (' (allow-list root)' if mode == 'bwrap' else ' (deny-list)'):<34}{len(rows):>5}"
              f"{statistics.median(total):>10.2f}{min(total):>8.2f}"
              f"{statistics.median(r['start_s'] for r in rows):>9.2f}{statistics.median(r['cell_s'] for r in rows):>8.3f}"
              f"{statistics.median(r['stop_s'] for r in rows):>8.2f}"
              f"{statistics.median(r['kernel_cpu_s'] or 0 for r in rows):>14.2f}")
    extra = statistics.median(r["total_s"] for r in results["bwrap"]) - statistics.median(
        r["total_s"] for r in results["paths"])
    print(f"allow-list root minus deny-list, per submission (one kernel each): {extra:+.2f} s")
    if args.listing:
        print("\nWhat a grading kernel in the allow-list root lists:")
        print(run("bwrap", LISTING)["output"].rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
