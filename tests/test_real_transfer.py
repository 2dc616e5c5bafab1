"""A small CNN trained on the shipped hand signs reads real photos of hands far better than chance.

Reads the real SIGNS-style photos in ../shared/real_signs_dev/ (never trained on; see its README) and
skips where that folder is absent, as it is in a learner's clone. The full measurement (the notebook's
ResNet50, three seeds) is `bench/real_transfer.py`; this runs the same script with a quick setting so it
cannot rot, and checks what it prints.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT.parent / "shared" / "real_signs_dev" / "val_signs"


@pytest.mark.slow
@pytest.mark.skipif(not REAL.is_dir(), reason=f"no real photos at {REAL} (only the project's own machines have them)")
def test_a_small_cnn_trained_on_rendered_hands_reads_real_hands():
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "real_transfer.py"), str(REAL), "--model", "small", "--seeds", "0",
         "--epochs", "6"],
        capture_output=True, text=True, timeout=900, cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    text = out.stdout
    real = float(re.search(r"real photos ([0-9.]+) \(gap", text).group(1))
    recall = [float(v) for v in re.findall(r"\d: ([0-9.]+)", text.split("recall on real photos per class:")[1].splitlines()[0])]
    assert len(recall) == 6
    assert real > 0.35, f"real-photo accuracy {real} is near chance (0.17):\n{text[-1500:]}"
    assert sum(r > 0.2 for r in recall) >= 4, f"most classes are never recognised on real photos: {recall}"
    assert "| small | 0 |" in text  # the summary table


def test_the_bench_refuses_a_missing_photo_folder(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "real_transfer.py"), str(tmp_path / "none")],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 2 and "is not a folder of photos" in out.stderr
    assert "Traceback" not in out.stderr
