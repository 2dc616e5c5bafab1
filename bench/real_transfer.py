"""Does a model trained on the project's rendered hands read real photos of hands?

Trains the notebook's ResNet50 (or, for quick iterations, a small CNN) with the notebook's recipe
(`resnet_course.training.train`) on a data set, then prints, for each seed, the accuracy on that set's own
test split and on a folder of real photos, the per-class recall on the real photos and their confusion
matrix, and a summary table at the end. Images are read as the notebook reads them, each together with its
mirror image (`training.predict_probabilities`); the accuracy on the real photos without the mirror image
is printed beside it.

    python bench/real_transfer.py ../shared/real_signs_dev/val_signs              # ResNet50, seeds 0 1 2
    python bench/real_transfer.py PHOTOS --model small --seeds 0                  # a quick look
    python bench/real_transfer.py PHOTOS --data /tmp/my_render                    # another rendered set
    python bench/real_transfer.py PHOTOS --grid bench/out/shipped_vs_real.png --seeds   # the picture only
    python bench/real_transfer.py PHOTOS --model small --seeds 0 --misread bench/out/misread.png

PHOTOS is a folder of photos named N_*.jpg (N = raised fingers) or sorted into subfolders 0/ .. 5/. The
real photos are only ever measured on: nothing is trained, tuned or selected on them. The pictures
(--grid, --misread) show real photos: write them under bench/out/ (ignored by git), never into the project.
ResNet50 takes about 7-9 minutes per seed on a 2-core CPU; the small CNN under a minute.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import resnet_course  # noqa: E402,F401  (quiet TensorFlow first)
import numpy as np  # noqa: E402

from resnet_course import data, plots, training  # noqa: E402



def notebook_resnet50():
    """The solution notebook's own ResNet50 function (its import cell and three exercise cells, executed)."""
    from grader.mutants import Suite, notebook_imports

    suite = Suite("resnet50")
    imports, _ = suite.graded_cells()
    namespace: dict = {}
    with notebook_imports(suite.unit):  # its `import checks`, as in the notebook's folder
        exec(imports.replace("print(backend.report())", ""), namespace)
    sources = suite.solution_sources()
    for exercise in suite.exercises:
        exec(sources[exercise], namespace)
    return namespace["ResNet50"]


def small_cnn():
    """Four conv + BatchNorm + ReLU stages, global pooling, softmax: about 0.1 M parameters."""
    import keras

    def stage(filters):
        return [keras.layers.Conv2D(filters, 3, padding="same", use_bias=False),
                keras.layers.BatchNormalization(), keras.layers.ReLU(), keras.layers.MaxPooling2D()]

    return keras.Sequential([keras.Input((64, 64, 3)), *stage(16), *stage(32), *stage(64), *stage(96),
                             keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(6, activation="softmax")])


def measure(model_name: str, signs: data.Signs, real: tuple, seed: int, epochs: int | None) -> dict:
    import keras

    keras.utils.set_random_seed(seed)
    model = notebook_resnet50()(input_shape=(64, 64, 3), classes=6) if model_name == "resnet50" else small_cnn()
    recipe = training.Recipe(seed=seed, **({"epochs": epochs} if epochs else {}))
    start = time.perf_counter()
    history = training.train(model, signs, recipe, verbose=2)
    seconds = time.perf_counter() - start
    x_real, y_real = real
    predicted = training.predict_labels(model, x_real)  # as the notebook reads images: each with its mirror image
    counts = plots.confusion_matrix(y_real, predicted)
    return {
        "seed": seed, "seconds": seconds, "epochs": len(history.history["loss"]),
        "val": float(max(history.history["val_accuracy"])),
        "test": training.accuracy(model, signs.x_test, signs.y_test),
        "real": float((predicted == y_real).mean()),
        "real_one_look": training.accuracy(model, x_real, y_real, mirrored=False),
        "recall": counts.diagonal() / np.maximum(counts.sum(1), 1), "confusion": counts, "predicted": predicted,
    }


def print_result(r: dict) -> None:
    print(f"\nseed {r['seed']}: {r['epochs']} epochs in {r['seconds']:.0f} s; shipped test {r['test']:.3f}, "
          f"real photos {r['real']:.3f} (gap {r['test'] - r['real']:+.3f}; {r['real_one_look']:.3f} without the "
          "mirror image)")
    print("  recall on real photos per class: " + "  ".join(f"{k}: {v:.2f}" for k, v in enumerate(r["recall"])))
    print("  confusion on real photos (row = true label, column = predicted):")
    print("       " + " ".join(f"{k:>4}" for k in range(6)))
    for k, row in enumerate(r["confusion"]):
        print(f"    {k}: " + " ".join(f"{v:>4}" for v in row))
    sys.stdout.flush()


def side_by_side(real: tuple, signs: data.Signs, out: Path, per_class: int = 8) -> Path:
    from PIL import Image

    def strip(x, y, label):
        picked = list(x[y == label][:per_class])
        picked += [np.full_like(x[0], 255)] * (per_class - len(picked))
        return np.concatenate(picked, 1)

    gap = np.full((64, 16, 3), 255, np.uint8)
    rows = [np.concatenate([strip(*real, c), gap, strip(signs.x_train, signs.y_train, c)], 1) for c in range(6)]
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, 0)).save(out)
    return out


def misread_grid(x: np.ndarray, y: np.ndarray, predicted: np.ndarray, out: Path, per_class: int = 12) -> Path:
    """A PNG of the photos a model misread: a row per true label (up to `per_class` photos, enlarged to 96
    pixels), each marked with the label the model gave it in red. What the misread photos have in common
    (a pose, a tilt, a light) is what the training images lack."""
    from PIL import Image, ImageDraw, ImageFont

    tile = 96
    font = ImageFont.load_default(size=16)
    rows = []
    for label in range(data.NUM_CLASSES):
        tiles = []
        for i in np.flatnonzero((y == label) & (predicted != label))[:per_class]:
            im = Image.fromarray(x[i]).resize((tile, tile), Image.Resampling.NEAREST)
            ImageDraw.Draw(im).text((4, 2), f"{label}->{predicted[i]}", fill=(255, 0, 0), font=font)
            tiles.append(np.asarray(im))
        blank = np.full((tile, tile, 3), 255, np.uint8)
        if not tiles:  # one tile says so; the rest of the row stays blank
            none = Image.fromarray(blank)
            ImageDraw.Draw(none).text((4, 2), f"{label}: none", fill=(0, 128, 0), font=font)
            tiles.append(np.asarray(none))
        tiles += [blank] * (per_class - len(tiles))
        rows.append(np.concatenate(tiles, 1))
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, 0)).save(out)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("photos", type=Path, help="folder of real photos (N_*.jpg or subfolders 0/ .. 5/)")
    parser.add_argument("--data", default=None, help="training data source (default: the shipped set)")
    parser.add_argument("--model", choices=("resnet50", "small"), default="resnet50")
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2], help="none: only --grid")
    parser.add_argument("--epochs", type=int, default=None, help="default: the notebook's recipe")
    parser.add_argument("--grid", type=Path, help="also save a PNG: 8 real photos per class beside 8 training images")
    parser.add_argument("--misread", type=Path, help="also save, per seed, a PNG of the real photos the model "
                        "misread, marked true->predicted (PATH gets _seedN before its suffix)")
    args = parser.parse_args(argv)
    if not args.photos.is_dir():
        print(f"{args.photos} is not a folder of photos (real SIGNS-style photos named N_*.jpg).", file=sys.stderr)
        return 2
    for picture in filter(None, (args.grid, args.misread)):  # say so now, not after minutes of training
        try:
            picture.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            print(f"cannot write pictures to {picture.parent}: {e.strerror}", file=sys.stderr)
            return 2
    signs = data.load_signs(args.data)
    real = data.load_photo_folder(args.photos)
    print(f"training data: {signs}; real photos: {len(real[1])} from {args.photos} "
          f"(per class {np.bincount(real[1], minlength=6).tolist()})", flush=True)
    if args.grid:
        print(f"wrote {side_by_side(real, signs, args.grid)} (left: real photos, right: training images; a row a class)")
    if not args.seeds:
        return 0
    results = []
    for seed in args.seeds:
        results.append(measure(args.model, signs, real, seed, args.epochs))
        print_result(results[-1])
        if args.misread:
            path = args.misread.with_name(f"{args.misread.stem}_seed{seed}{args.misread.suffix or '.png'}")
            print(f"  wrote {misread_grid(*real, results[-1]['predicted'], path)} (the misread real photos, "
                  "a row per true label, marked true->predicted)", flush=True)
    print("\n| model | seed | epochs | train s | val acc | shipped test | real photos | gap | min class recall (real) "
          "| real, image only |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {args.model} | {r['seed']} | {r['epochs']} | {r['seconds']:.0f} | {r['val']:.3f} | {r['test']:.3f} | "
              f"{r['real']:.3f} | {r['test'] - r['real']:+.3f} | {r['recall'].min():.2f} "
              f"(class {int(r['recall'].argmin())}) | {r['real_one_look']:.3f} |")
    real_acc = np.array([r["real"] for r in results])
    print(f"\nreal photos: mean {real_acc.mean():.3f}, min {real_acc.min():.3f}, max {real_acc.max():.3f} over "
          f"{len(results)} seed(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
