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


def test_the_bench_refuses_a_picture_path_it_cannot_write_before_training(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    photos = tmp_path / "photos"
    photos.mkdir()
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "real_transfer.py"), str(photos), "--misread",
                          str(blocker / "misread.png")], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 2 and f"cannot write pictures to {blocker}" in out.stderr, out.stderr[-1500:]
    assert "Traceback" not in out.stderr and "Training" not in out.stdout


def test_the_misread_picture_shows_exactly_the_misread_photos_in_their_true_labels_row(tmp_path):
    sys.path.insert(0, str(ROOT / "bench"))
    import numpy as np
    from PIL import Image

    import real_transfer

    # Six photos, each one flat grey level, so that a tile tells which photo it is.
    levels = [10, 40, 70, 100, 130, 160]
    x = np.stack([np.full((64, 64, 3), v, np.uint8) for v in levels])
    y = np.array([0, 0, 1, 2, 2, 5])
    predicted = np.array([0, 3, 1, 4, 1, 5])  # photos 1 (0 read as 3), 3 and 4 (2 read as 4 and 1) misread
    out = real_transfer.misread_grid(x, y, predicted, tmp_path / "m.png", per_class=3)
    grid = np.asarray(Image.open(out).convert("RGB"))
    assert grid.shape == (6 * 96, 3 * 96, 3)

    def tile(row, col):  # a tile's lower half: below its red label
        return grid[row * 96 + 60 : row * 96 + 90, col * 96 + 10 : col * 96 + 90]

    assert (tile(0, 0) == levels[1]).all()  # row of true 0: only the 0 read as 3
    assert (tile(0, 1) == 255).all()
    assert (tile(2, 0) == levels[3]).all() and (tile(2, 1) == levels[4]).all()  # row of true 2: both misread
    for row in (1, 3, 4, 5):  # nothing misread there: a blank row
        assert (tile(row, 0) == 255).all()
    marks = grid[:, :, 0].astype(int) - grid[:, :, 1]  # red text: the true->predicted labels
    assert (marks[0:20, 0:96] > 100).any() and not (marks[96:192] > 100).any()
    said_none = grid[:, :, 1].astype(int) - grid[:, :, 0] > 60  # green text: "N: none", once per row
    assert said_none[96:120, 0:96].any() and not said_none[96:192, 96:].any()
