"""Render a SIGNS-format hand-sign data set: photos-like 64x64 images of one hand showing 0-5 fingers.

Each image is drawn at 4x resolution (palm, curled or raised fingers, thumb, wrist entering from the bottom
edge, soft shadow, light gradient), then reduced to 64x64 with an anti-aliasing filter, blurred slightly and
given sensor noise, so edges look like a down-scaled photo. Every image has its own seed derived from
(seed, split, index), so any single image can be re-rendered without rendering the others.

    python -m resnet_course.render --out datasets/signs          # the committed default set
    python -m resnet_course.render --out datasets/signs --grid datasets/signs/samples.png \
        --sample-photo solutions/resnet50/images/my_hand.jpg
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SIZE = 64
SUPERSAMPLE = 4
CANVAS = SIZE * SUPERSAMPLE
CLASSES = tuple(range(6))
SPLIT_IDS = {"train": 0, "test": 1}

# Light to medium-dark skin tones (RGB), sampled between neighbours for continuous variation.
SKIN_TONES = np.array(
    [(236, 200, 176), (226, 184, 156), (214, 170, 140), (200, 152, 120), (184, 134, 104), (160, 112, 84)],
    dtype=float,
)
# Plain light walls, warm grey on average as in the original photos.
WALLS = np.array([(212, 204, 194), (205, 197, 187), (198, 192, 186), (214, 206, 190), (190, 184, 178)], float)


@dataclass
class Finger:
    base: np.ndarray  # where the finger leaves the palm, canvas pixels
    angle: float  # direction from base, radians, 0 = straight up
    length: float
    width: float
    raised: bool


def image_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The generator that alone decides one image: stable across NumPy versions (PCG64 + SeedSequence)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, SPLIT_IDS[split], index])))


def _rotate(points: np.ndarray, angle: float, centre: np.ndarray) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    rot = np.array([[c, -s], [s, c]])
    return (points - centre) @ rot.T + centre


def _capsule(draw: ImageDraw.ImageDraw, p0, p1, width: float, fill) -> None:
    """A thick line with round ends: how a finger or a forearm looks from the front."""
    draw.line([tuple(p0), tuple(p1)], fill=fill, width=max(1, int(round(width))))
    r = width / 2
    for x, y in (p0, p1):
        draw.ellipse([x - r, y - r, x + r, y + r], fill=fill)


def _shade(colour: np.ndarray, factor: float) -> tuple[int, int, int]:
    return tuple(int(v) for v in np.clip(colour * factor, 0, 255))


def _which_fingers(label: int, rng: np.random.Generator) -> tuple[list[bool], bool]:
    """Raised (index, middle, ring, little) and whether the thumb is out, for a label."""
    if label == 3 and rng.random() < 0.35:
        return [True, True, False, False], True  # thumb-index-middle, the other common "three"
    table = {
        0: ([False] * 4, False),
        1: ([True, False, False, False], False),
        2: ([True, True, False, False], False),
        3: ([True, True, True, False], False),
        4: ([True, True, True, True], False),
        5: ([True, True, True, True], True),
    }
    return table[label]


def render_hand(label: int, rng: np.random.Generator) -> np.ndarray:
    """One 64x64x3 uint8 image of a hand showing `label` raised fingers."""
    canvas = compose(label, rng)
    small = Image.fromarray(canvas).resize((SIZE, SIZE), Image.LANCZOS)
    small = small.filter(ImageFilter.GaussianBlur(rng.uniform(0.2, 0.7)))
    pixels = np.asarray(small, float) * rng.uniform(0.92, 1.06) + rng.normal(0, rng.uniform(1.5, 4.0), (SIZE, SIZE, 3))
    return np.clip(np.round(pixels), 0, 255).astype(np.uint8)


def compose(label: int, rng: np.random.Generator) -> np.ndarray:
    """The full-resolution (256x256) scene before it is reduced to a 64x64 "photo"."""
    if label not in CLASSES:
        raise ValueError(f"label must be one of {CLASSES}, got {label!r}")
    S = CANVAS
    wall = WALLS[rng.integers(len(WALLS))] + rng.normal(0, 6) + rng.normal(0, 2, 3)
    img = Image.new("RGB", (S, S), _shade(wall, 1.0))
    # A soft light gradient across the wall.
    grad = np.linspace(-1, 1, S)
    gx, gy = np.meshgrid(grad, grad)
    light_dir = rng.uniform(0, 2 * math.pi)
    light = 1 + rng.uniform(0.03, 0.10) * (math.cos(light_dir) * gx + math.sin(light_dir) * gy)
    background = np.asarray(img, float) * light[..., None]

    t = rng.uniform(0, 1)
    i = rng.integers(len(SKIN_TONES) - 1)
    skin = (1 - t) * SKIN_TONES[i] + t * SKIN_TONES[i + 1] + rng.normal(0, 4, 3)
    edge = _shade(skin, 0.72)  # creases and outlines
    palm_fill = _shade(skin, 1.0)

    scale = rng.uniform(1.0, 1.3) * S / 256
    palm_w, palm_h = rng.uniform(62, 74) * scale, rng.uniform(64, 76) * scale
    centre = np.array([S / 2 + rng.uniform(-20, 20), S * 0.66 + rng.uniform(-10, 8)])
    tilt = rng.normal(0, 0.15)
    tilt = float(np.clip(tilt, -0.5, 0.5))  # up to about 29 degrees, two thirds within 9
    mirror = rng.random() < 0.5  # left or right hand
    raised, thumb_out = _which_fingers(label, rng)

    # Shapes are laid out upright in canvas pixels, then rotated about the palm's centre.
    hand = Image.new("L", (S, S), 0)  # silhouette, for the shadow
    layer = Image.new("RGBA", (S, S), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    mdraw = ImageDraw.Draw(hand)

    def put(points):
        pts = np.asarray(points, float)
        if mirror:
            pts = pts.copy()
            pts[:, 0] = 2 * centre[0] - pts[:, 0]
        return _rotate(pts, tilt, centre)

    def capsule(p0, p1, width, fill):
        q0, q1 = put([p0, p1])
        _capsule(draw, q0, q1, width, fill)
        _capsule(mdraw, q0, q1, width, 255)

    def polygon(points, fill, outline=None):
        q = [tuple(p) for p in put(points)]
        draw.polygon(q, fill=fill, outline=outline)
        mdraw.polygon(q, fill=255)

    cx, cy = centre
    top = cy - palm_h / 2
    # Forearm and wrist: from below the frame up into the palm.
    wrist_w = palm_w * rng.uniform(0.70, 0.82)
    capsule((cx, cy + palm_h * 0.2), (cx + rng.uniform(-6, 6), S + 60), wrist_w, palm_fill)
    # Palm: a rounded pentagon, a little wider at the knuckles.
    polygon(
        [
            (cx - palm_w * 0.50, top + palm_h * 0.12),
            (cx - palm_w * 0.42, top),
            (cx + palm_w * 0.42, top),
            (cx + palm_w * 0.50, top + palm_h * 0.12),
            (cx + palm_w * 0.44, cy + palm_h * 0.45),
            (cx, cy + palm_h * 0.58),
            (cx - palm_w * 0.44, cy + palm_h * 0.45),
        ],
        palm_fill,
    )

    # Four fingers across the top of the palm: index on the thumb side.
    lengths = np.array([0.92, 1.0, 0.94, 0.74]) * rng.uniform(68, 80) * scale * rng.uniform(0.94, 1.06, 4)
    width = palm_w / 4.3 * rng.uniform(0.92, 1.05)
    spread = rng.uniform(0.07, 0.17)
    fingers = []
    for k in range(4):
        # k=0 is the index finger; the thumb side is +x before mirroring.
        bx = cx + palm_w * (0.36 - 0.24 * k)
        angle = (1.5 - k) * spread + rng.normal(0, 0.03)
        fingers.append(Finger(np.array([bx, top + width * 0.3]), angle, lengths[k], width * (1 - 0.05 * k), raised[k]))
    if label == 2:  # a clear V
        fingers[0].angle += rng.uniform(0.12, 0.26)
        fingers[1].angle -= rng.uniform(0.08, 0.2)

    # Curled fingers first: their knuckles show as bumps along the palm's top edge.
    for f in fingers:
        if not f.raised and label != 0:
            tip = f.base + np.array([0.0, f.length * 0.18])
            capsule(f.base - np.array([0, width * 0.25]), tip, f.width * 1.02, edge)
            capsule(f.base - np.array([0, width * 0.2]), tip, f.width * 0.86, _shade(skin, 0.93))
    for f in fingers:
        if f.raised:
            d = np.array([math.sin(f.angle), -math.cos(f.angle)])
            tip = f.base + d * f.length
            capsule(f.base, tip, f.width * 1.08, edge)
            capsule(f.base, tip, f.width * 0.92, palm_fill)
            # A knuckle crease two thirds up.
            crease = f.base + d * f.length * 0.62
            n = np.array([d[1], -d[0]]) * f.width * 0.3
            q = put([crease - n, crease + n])
            draw.line([tuple(q[0]), tuple(q[1])], fill=_shade(skin, 0.85), width=max(1, int(scale * 2)))

    # Thumb: out to the side, or folded across the palm.
    thumb_base = np.array([cx + palm_w * 0.46, cy + palm_h * 0.18])
    thumb_len = rng.uniform(50, 62) * scale
    if label == 0:
        # "O": fingers bend over to meet the thumb, leaving a hole of wall showing through.
        r = palm_w * rng.uniform(0.36, 0.44)
        ring_c = np.array([cx + palm_w * 0.08, top - r * 0.55])
        ring_w = width * 1.05
        bbox = put([ring_c - r, ring_c + r])
        lo, hi = bbox.min(0), bbox.max(0)
        draw.ellipse([*lo, *hi], outline=edge, width=int(ring_w * 1.1))
        draw.ellipse([*(lo + ring_w * 0.08), *(hi - ring_w * 0.08)], outline=palm_fill, width=int(ring_w * 0.9))
        mdraw.ellipse([*lo, *hi], outline=255, width=int(ring_w))
        capsule(thumb_base, ring_c + np.array([r * 0.7, r * 0.7]), width * 1.1, palm_fill)
        for k in (2, 3):  # the remaining fingers curl behind
            f = fingers[k]
            capsule(f.base, f.base + np.array([0.0, -f.length * 0.35]), f.width, edge)
            capsule(f.base, f.base + np.array([0.0, -f.length * 0.33]), f.width * 0.85, _shade(skin, 0.95))
    elif thumb_out:
        a = rng.uniform(0.75, 1.15)
        tip = thumb_base + np.array([math.sin(a), -math.cos(a)]) * thumb_len
        capsule(thumb_base, tip, width * 1.15, edge)
        capsule(thumb_base, tip, width * 1.0, palm_fill)
    else:
        tip = np.array([cx - palm_w * rng.uniform(0.05, 0.25), cy - palm_h * rng.uniform(0.0, 0.2)])
        capsule(thumb_base, tip, width * 1.12, edge)
        capsule(thumb_base, tip, width * 0.96, _shade(skin, 0.96))

    # Shade the hand: darker away from the light, to look lit rather than flat.
    hand_rgba = np.asarray(layer, float)
    shading = 1 + 0.5 * (light - 1) + rng.uniform(-0.04, 0.02)
    hand_rgb = hand_rgba[..., :3] * shading[..., None]
    alpha = hand_rgba[..., 3:4] / 255

    # A soft shadow cast on the wall, offset away from the light.
    offset = (np.array([-math.cos(light_dir), -math.sin(light_dir)]) * rng.uniform(4, 12)).astype(int)
    shadow = np.asarray(
        hand.transform(hand.size, Image.AFFINE, (1, 0, -offset[0], 0, 1, -offset[1])).filter(
            ImageFilter.GaussianBlur(rng.uniform(6, 12))
        ),
        float,
    )[..., None] / 255
    background = background * (1 - rng.uniform(0.10, 0.22) * shadow)
    out = background * (1 - alpha) + hand_rgb * alpha
    return np.clip(out, 0, 255).astype(np.uint8)


def render_split(split: str, n_per_class: int, seed: int = 0, progress: bool = False):
    """Balanced images and labels for one split; image i has label i % 6 before the seeded shuffle."""
    n = n_per_class * len(CLASSES)
    order = np.random.Generator(np.random.PCG64([seed, SPLIT_IDS[split], 10**6])).permutation(n)
    labels = np.array([order[i] % len(CLASSES) for i in range(n)], dtype=np.int64)
    images = np.empty((n, SIZE, SIZE, 3), np.uint8)
    indices = range(n)
    if progress:
        from tqdm.auto import tqdm

        indices = tqdm(indices, desc=f"rendering {split}", unit="img")
    for i in indices:
        images[i] = render_hand(int(labels[i]), image_rng(seed, split, i))
    return images, labels


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def write_signs(out: Path, seed: int = 0, n_train: int = 180, n_test: int = 20, progress: bool = True) -> dict:
    """Write train_signs.h5 and test_signs.h5 in the original course's layout, plus a manifest of checksums."""
    import h5py
    import PIL

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    x_train, y_train = render_split("train", n_train, seed, progress)
    x_test, y_test = render_split("test", n_test, seed, progress)
    seconds = time.perf_counter() - start
    # Fixed gzip level and no timestamps, so the bytes depend only on the pixels.
    with h5py.File(out / "train_signs.h5", "w", libver="earliest") as f:
        f.create_dataset("train_set_x", data=x_train, compression="gzip", compression_opts=6, track_times=False)
        f.create_dataset("train_set_y", data=y_train, track_times=False)
    with h5py.File(out / "test_signs.h5", "w", libver="earliest") as f:
        f.create_dataset("test_set_x", data=x_test, compression="gzip", compression_opts=6, track_times=False)
        f.create_dataset("test_set_y", data=y_test, track_times=False)
        f.create_dataset("list_classes", data=np.array(CLASSES, dtype=np.int64), track_times=False)
    manifest = {
        "generator": "resnet_course.render",
        "seed": seed,
        "n_per_class": {"train": n_train, "test": n_test},
        "pillow": PIL.__version__,
        "numpy": np.__version__,
        # Pixel checksums do not depend on h5py/HDF5 versions; file checksums catch corruption.
        "pixels_sha256": {
            "train": hashlib.sha256(x_train.tobytes() + y_train.tobytes()).hexdigest(),
            "test": hashlib.sha256(x_test.tobytes() + y_test.tobytes()).hexdigest(),
        },
        "files_sha256": {name: sha256(out / name) for name in ("train_signs.h5", "test_signs.h5")},
    }
    (out / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return {**manifest, "seconds": seconds}


def write_sample_photo(path: Path, label: int = 3, seed: int = 2026) -> Path:
    """A larger, non-square "phone photo" of a hand, for the predict-on-your-own-photo section."""
    rng = image_rng(seed, "test", 10**6 + label)
    canvas = Image.fromarray(compose(label, rng)).resize((480, 480), Image.BICUBIC)
    # Widen to 4:3 with wall colour, as a phone would frame it; the loader crops the centre square back.
    photo = Image.new("RGB", (640, 480), tuple(int(v) for v in np.asarray(canvas)[:, :8].reshape(-1, 3).mean(0)))
    photo.paste(canvas, (80, 0))
    photo = photo.filter(ImageFilter.GaussianBlur(0.8))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    photo.save(path, quality=92)
    return path


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("datasets/signs"), help="folder for the h5 files")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-per-class", type=int, default=180)
    parser.add_argument("--test-per-class", type=int, default=20)
    parser.add_argument("--sample-photo", type=Path, help="also write a 640x480 sample photo of a hand here")
    parser.add_argument("--grid", type=Path, help="also save a PNG grid of 10 training images per class here")
    args = parser.parse_args(argv)
    info = write_signs(args.out, args.seed, args.train_per_class, args.test_per_class)
    print(f"wrote {args.out}/train_signs.h5 and test_signs.h5 in {info['seconds']:.1f} s")
    if args.grid:
        import matplotlib

        matplotlib.use("Agg")
        from .data import load_signs
        from .plots import sample_grid

        signs = load_signs(args.out)
        sample_grid(signs.x_train, signs.y_train, per_class=10).savefig(args.grid, dpi=100)
        print("wrote", args.grid)
    if args.sample_photo:
        print("wrote", write_sample_photo(args.sample_photo))


if __name__ == "__main__":
    main()
