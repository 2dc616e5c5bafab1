"""Figures for the "Why residual networks?" notebook on this machine.

    python bench/why_residual.py              # run the solution notebook top to bottom (not in grading mode)
    python bench/why_residual.py --out DIR    # where to save the notebook's plots (default bench/out/why_residual)

Prints the wall time per cell and in total (target: 3 minutes on a 2-core CPU), the three figures the
notebook's story rests on (first-layer gradient ratio of the deepest plain and residual nets at initialisation,
training error by depth for plain and residual nets), and saves every plot the notebook draws as PNG.
Set KERAS_BACKEND to measure another backend.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import resource
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SOURCE = ROOT / "solutions" / "why_residual" / "Why_Residual_Networks.ipynb"

from bench.assignment import run_notebook  # noqa: E402  (the same timed executor as the ResNet50 bench)


def outputs_text(nb) -> str:
    return "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


def figures(text: str) -> dict:
    """The three figures, read from what the notebook printed."""
    ratio = re.search(r"First layer of the (\d+)-block networks: plain ([0-9.e+-]+), residual ([0-9.e+-]+), "
                      r"ratio ([0-9.e+-]+)", text)
    errors = {}
    for kind, depth, error in re.findall(r"(plain|residual), (\d+) blocks \(\d+ layers\): training error ([0-9.]+)", text):
        errors.setdefault(kind, {})[int(depth)] = float(error)
    return {"ratio": ratio.groups() if ratio else None, "errors": errors}


def save_plots(nb, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    saved = []
    for k, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        for j, output in enumerate(cell.get("outputs", [])):
            data = output.get("data", {})
            if "image/png" in data:
                path = out / f"cell{k:02d}_{j}.png"
                path.write_bytes(base64.b64decode(data["image/png"]))
                saved.append(path)
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "why_residual")
    args = parser.parse_args()
    print(f"backend: {os.environ.get('KERAS_BACKEND', 'tensorflow')}, cores: {os.cpu_count()}, "
          f"load average: {', '.join(f'{v:.1f}' for v in os.getloadavg())}", flush=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / SOURCE.parent.name
        shutil.copytree(SOURCE.parent, folder)
        nb, timings, total = run_notebook(folder / SOURCE.name)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    for seconds, label in timings:
        print(f"  {seconds:7.1f} s  {label}")
    text = outputs_text(nb)
    found = figures(text)
    print(f"solution notebook, top to bottom: {total:.0f} s ({total / 60:.1f} min; target 3 min); the kernel used "
          f"{cpu:.0f} s of CPU time (all its threads; less sensitive than wall time to other jobs on the machine)")
    if found["ratio"]:
        depth, plain, res, ratio = found["ratio"]
        print(f"first-layer gradient at initialisation, {depth} blocks: plain {plain}, residual {res}, ratio {ratio}")
    for kind in ("plain", "residual"):
        by_depth = found["errors"].get(kind, {})
        print(f"final training error, {kind}: " + ", ".join(f"{d} blocks {e:.3f}" for d, e in sorted(by_depth.items())))
    summary = re.search(r"At initialisation the first layer.*?(?=\n\n|\Z)", text, re.S)
    if summary:
        print(summary.group(0).strip())
    for line in text.splitlines():
        if line.startswith(("one more ", "residual block gives back", "plain block gives zeros")):
            print(line)
    saved = save_plots(nb, args.out)
    print(f"saved {len(saved)} plots under {args.out}")
    print(f"load average now: {', '.join(f'{v:.1f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
