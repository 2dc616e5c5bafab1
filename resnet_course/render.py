"""Render a SIGNS-format hand-sign data set: photo-like 64x64 images of one hand showing 0-5 fingers.

Each image is a small 3D scene: the articulated hand of `resnet_course.hand` (capsules and ellipsoids,
posed for the sign) in front of a wall, seen by a pinhole camera. Rays are intersected with the shapes in
closed form (no marching), so a 128x128 frame costs a few dozen NumPy operations per shape. Shading is
what makes a hand look like one to a network: soft key light with cast shadows on the wall and on the hand,
ambient light darkened in creases (ambient occlusion from the shapes' distance fields), a little subsurface
warmth, nails, skin texture and creases. Everything a photographer would not control is randomised: skin
tone, hand size and proportions, fingers together or spread, left or right hand, yaw, tilt and roll,
distance and position in the frame, light direction and colour, wall colour, texture and brightness
gradient, blur, sensor noise, white balance and JPEG compression. Every image has its own seed derived
from (seed, split, index), so any single image can be re-rendered without rendering the others, and the
set is byte-identical for the same NumPy and Pillow.

    python -m resnet_course.render --out datasets/signs          # the committed default set
    python -m resnet_course.render --out datasets/signs --grid datasets/signs/samples.png \
        --sample-photo solutions/resnet50/images/my_hand.jpg
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from . import hand

SIZE = 64
SUPERSAMPLE = 2
CANVAS = SIZE * SUPERSAMPLE
CLASSES = tuple(range(6))
SPLIT_IDS = {"train": 0, "test": 1, "sample": 2, "val": 3}
VERSION = 10  # of the generator: 1 drew flat 2D outlines, 2 rendered a 3D hand, 3 a broader palm, shorter fingers,
# 4 slimmer fingers, fingers together as well as spread, hands turned and tilted further, creases, softer light,
# 5 the thumb of a 3 and a 5 pointed further up, a 2's V wider, 6 every 3 shown as thumb, index and middle,
# 7 three 1s and 2s in ten with the thumb relaxed, out to the side, 8 broader fingers and palm, one open hand in
# four with its fingers together, hands tilted up to 83 degrees, 9 half the scenes lit by one lamp (`light_levels`),
# 10 a validation split of its own (val_signs.h5, 20 per class; train and test as in 9)

# Skin albedos (0-1), light to dark; most of the original photos show light to medium skin.
SKIN_TONES = np.array([(0.95, 0.78, 0.66), (0.88, 0.68, 0.55), (0.80, 0.58, 0.44), (0.70, 0.48, 0.34),
                       (0.58, 0.38, 0.26), (0.45, 0.29, 0.20)])
SKIN_WEIGHTS = np.array([0.12, 0.28, 0.3, 0.18, 0.08, 0.04])


def image_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The generator that alone decides one image: stable across NumPy versions (PCG64 + SeedSequence)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, SPLIT_IDS[split], index])))


# --- geometry: rays against capsules, ellipsoids and the wall ----------------------------------------------


def _dot(u, v):
    return np.einsum("...k,...k->...", u, v)


def hit_capsule(ro, rd, a, b, r):
    """Distance along each ray to a capsule (segment a-b, radius r); inf where the ray misses it."""
    ba, oa = b - a, ro - a
    baba, bard, baoa = _dot(ba, ba), _dot(ba, rd), _dot(ba, oa)
    rdoa, oaoa = _dot(rd, oa), _dot(oa, oa)
    qa = baba - bard * bard
    qb = baba * rdoa - baoa * bard
    qc = baba * oaoa - baoa * baoa - r * r * baba
    h = qb * qb - qa * qc
    t = np.full(h.shape, np.inf)
    ok = h >= 0
    with np.errstate(invalid="ignore", divide="ignore"):
        body = (-qb - np.sqrt(np.where(ok, h, 0))) / qa
        y = baoa + body * bard
        t = np.where(ok & (y > 0) & (y < baba) & (body > 0), body, t)
        # The round ends: a sphere at whichever end the infinite cylinder's hit lies beyond.
        oc = np.where((y <= 0)[..., None], oa, ro - b)
        cb = _dot(rd, oc)
        hc = cb * cb - (_dot(oc, oc) - r * r)
        cap = -cb - np.sqrt(np.where(hc > 0, hc, 0))
        use_cap = ok & ~((y > 0) & (y < baba)) & (hc > 0) & (cap > 0)
    return np.where(use_cap & (cap < t), cap, t)


def hit_ellipsoid(ro, rd, centre, axes, radii):
    """Distance along each ray to an ellipsoid; inf where it misses."""
    o = np.einsum("...k,kj->...j", ro - centre, axes) / radii
    d = np.einsum("...k,kj->...j", rd, axes) / radii
    qa, qb, qc = _dot(d, d), _dot(o, d), _dot(o, o) - 1
    h = qb * qb - qa * qc
    with np.errstate(invalid="ignore"):
        t = (-qb - np.sqrt(np.where(h >= 0, h, 0))) / qa
    return np.where((h >= 0) & (t > 0), t, np.inf)


def capsule_normal(p, a, b, r):
    ba = b - a
    h = np.clip(_dot(p - a, ba) / _dot(ba, ba), 0, 1)
    return (p - a - ba * h[..., None]) / r, h


def ellipsoid_normal(p, centre, axes, radii):
    local = np.einsum("...k,kj->...j", p - centre, axes) / (radii * radii)
    n = np.einsum("...j,kj->...k", local, axes)
    return n / np.linalg.norm(n, axis=-1, keepdims=True)


def distance(p, shapes, reach: float = np.inf) -> np.ndarray:
    """Signed distance from points to the hand (capsules exact, ellipsoids approximate), capped at `reach`:
    shapes farther than that from every point are skipped."""
    best = np.full(p.shape[:-1], reach)
    for a, b, r in zip(shapes["a"], shapes["b"], shapes["r"]):
        near = _near(p, (a + b) / 2, np.linalg.norm(b - a) / 2 + r + reach)
        if near.size:
            n, _ = capsule_normal(p[near], a, b, r)
            best[near] = np.minimum(best[near], (np.linalg.norm(n, axis=-1) - 1) * r)
    for c, ax, rad in zip(shapes["centres"], shapes["axes"], shapes["radii"]):
        near = _near(p, c, rad.max() + reach)
        if near.size:
            local = np.einsum("nk,kj->nj", p[near] - c, ax)
            k0 = np.linalg.norm(local / rad, axis=-1)
            k1 = np.linalg.norm(local / (rad * rad), axis=-1)
            best[near] = np.minimum(best[near], k0 * (k0 - 1) / np.maximum(k1, 1e-9))
    return best


def _near(p, centre, radius) -> np.ndarray:
    d = p - centre
    return np.flatnonzero(_dot(d, d) < radius * radius)


def _shape_list(shapes):
    """(kind, parameters, points that bound it, radius around those points) for every shape."""
    for a, b, r in zip(shapes["a"], shapes["b"], shapes["r"]):
        yield hit_capsule, (a, b, r), np.stack([a, b]), r
    for c, ax, rad in zip(shapes["centres"], shapes["axes"], shapes["radii"]):
        yield hit_ellipsoid, (c, ax, rad), c[None], rad.max()


def first_hit(ro, rd, shapes, coords, project):
    """(distance, shape index) of the nearest shape along each of N rays (flat arrays); inf / -1 for none.

    Only rays whose 2D coordinates `coords` (N, 2) fall in a shape's box are tested against it;
    `project(points, radius)` gives the 2D centres and margin of a shape's bounding spheres in those
    coordinates. This culling is what makes ray casting in NumPy fast enough for thousands of images."""
    t = np.full(len(rd), np.inf)
    which = np.full(len(rd), -1)
    for i, (hit, params, points, radius) in enumerate(_shape_list(shapes)):
        centres, margin = project(points, radius)
        lo, hi = centres.min(0) - margin, centres.max(0) + margin
        sel = np.flatnonzero((coords[:, 0] >= lo[0]) & (coords[:, 0] <= hi[0]) & (coords[:, 1] >= lo[1])
                             & (coords[:, 1] <= hi[1]))
        if sel.size == 0:
            continue
        ti = hit(ro if ro.ndim == 1 else ro[sel], rd[sel], *params)
        closer = ti < t[sel]
        t[sel[closer]], which[sel[closer]] = ti[closer], i
    return t, which


# --- the scene: where the hand, the wall, the light and the camera are -------------------------------------


def _rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    cy, sy, cp, sp, cr, sr = (math.cos(yaw), math.sin(yaw), math.cos(pitch), math.sin(pitch), math.cos(roll),
                              math.sin(roll))
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return rz @ rx @ ry


def _place(prim: hand.Primitives, label: int, rng: np.random.Generator, fill: float | None = None):
    """Turn, size and move the hand in front of the camera so it fills part of the frame, wrist at the bottom."""
    if label == 0:  # the "O" is shown side-on, thumb side towards the camera, so the hole shows
        yaw = -rng.uniform(0.7, 1.35)
    else:  # often turned to the side, and tilted up to 83 degrees: real hands are, and fingers then overlap
        yaw = rng.normal(0, 0.4)
    # Tilt (roll): many of the photos' 4s and 5s point up to the side, some almost level.
    rotation = _rotation(yaw, rng.normal(0, 0.15), float(np.clip(rng.normal(0, 0.6), -1.45, 1.45)))
    if rng.random() < 0.5:  # a left hand: the mirror image of a right one
        rotation = rotation @ np.diag([-1.0, 1.0, 1.0])
    arr = prim.transformed(rotation, np.zeros(3))
    # Extent of the hand without the forearm (the last capsule), as seen from the front.
    ends = np.concatenate([arr["a"][:-1], arr["b"][:-1], arr["centres"]])
    pad = np.concatenate([arr["r"][:-1], arr["r"][:-1], arr["radii"].max(1)])
    lo, hi = (ends[:, :2] - pad[:, None]).min(0), (ends[:, :2] + pad[:, None]).max(0)
    wrist = arr["a"][-1][:2]
    extent = float(max(hi - lo))
    share = rng.uniform(0.72, 1.0)  # of the frame's width that the hand's larger extent takes up
    frame = extent / (fill or share)  # the frame's width at the hand's distance, cm
    distance_cm = rng.uniform(45, 80)
    # Horizontally anywhere that keeps the hand in the frame (a little may leave it); the wrist low.
    room = max(frame - (hi[0] - lo[0]), 0.0) / 2  # how far the hand can move sideways and stay inside
    cx = float(np.clip(rng.normal(0, 0.5), -1, 1)) * room
    shift_x = cx - (hi[0] + lo[0]) / 2
    # The wrist near the bottom edge (or just below it), the fingertips inside the frame.
    wrist_at = -frame / 2 + rng.uniform(0.0, 0.3) * frame
    shift_y = min(wrist_at - wrist[1], frame / 2 - 0.03 * frame - hi[1])
    shift = np.array([shift_x, shift_y, -distance_cm])
    return prim.transformed(rotation, shift), frame, distance_cm


def _skin(rng: np.random.Generator) -> np.ndarray:
    i = rng.choice(len(SKIN_TONES), p=SKIN_WEIGHTS)
    j = min(i + 1, len(SKIN_TONES) - 1)
    t = rng.uniform()
    tone = (1 - t) * SKIN_TONES[i] + t * SKIN_TONES[j] + rng.normal(0, 0.02, 3)
    grey = tone.mean()  # skin in indoor photos is less saturated than these albedos: mute it a little
    return np.clip(grey + (tone - grey) * rng.uniform(0.65, 1.0), 0.1, 1)


def light_levels(rng: np.random.Generator) -> tuple[float, float, float, float]:
    """A scene's key light, ambient light, how much the ambient light darkens creases, and a gain on the skin.

    Half the scenes are lit like a room with one lamp (version 9): little ambient light, a strong key, deep
    creases, the skin a little darker. In the real photos the hand is about 0.57 as bright as the wall (sd
    0.04); version 8, lit only the other way (flat and bright), gave 0.68, and its models read open hands
    worse (0.71-0.81 over five seeds, against 0.77-0.87; README). Lit only like this, 2s suffered instead.
    """
    if rng.random() < 0.5:
        return rng.uniform(0.5, 0.85), rng.uniform(0.22, 0.42), 1.0, 0.85
    return rng.uniform(0.35, 0.65), rng.uniform(0.45, 0.7), 0.6, 1.0


def _smooth_noise(rng: np.random.Generator, cells: int, size: int = CANVAS) -> np.ndarray:
    """Low-frequency noise in about [-1, 1]: random values on a coarse grid, smoothly enlarged."""
    coarse = (rng.uniform(0, 255, (cells, cells))).astype(np.uint8)
    big = Image.fromarray(coarse).resize((size, size), Image.BICUBIC)
    return np.asarray(big, float) / 127.5 - 1


def _creases(rng: np.random.Generator, size: int, hand_mask: np.ndarray) -> np.ndarray:
    """A darkening factor (0-1) of 4-13 thin, slightly curved strokes across the hand: palm lines, knuckle
    creases and wrinkles. Real hands are full of them; a network that has never seen one may count a crease
    as the gap between two fingers."""
    from PIL import ImageDraw

    ys, xs = np.nonzero(hand_mask)
    layer = Image.new("L", (size, size), 255)
    if len(xs) == 0:
        return np.ones((size, size))
    draw = ImageDraw.Draw(layer)
    for _ in range(int(rng.integers(4, 14))):
        k = int(rng.integers(len(xs)))  # each stroke is centred on a point of the hand
        x0, y0 = xs[k], ys[k]
        angle, length, bend = rng.uniform(0, np.pi), rng.uniform(0.04, 0.18) * size, rng.normal(0, 0.3)
        points = [(x0 + math.cos(angle + bend * t) * length * (t - 0.5),
                   y0 + math.sin(angle + bend * t) * length * (t - 0.5)) for t in np.linspace(0, 1, 6)]
        draw.line(points, fill=int(rng.uniform(150, 220)), width=max(1, round(rng.uniform(0.6, 1.8) * size / CANVAS)))
    return np.asarray(layer.filter(ImageFilter.GaussianBlur(0.5 * size / CANVAS)), float) / 255


def _gaussian_blur(a: np.ndarray, sigma: float) -> np.ndarray:
    """A Gaussian blur of a square 2D array as two matrix products (edges weighted by what lies inside)."""
    x = np.arange(a.shape[0])
    k = np.exp(-0.5 * ((x[:, None] - x[None, :]) / sigma) ** 2)
    k /= k.sum(1, keepdims=True)
    # einsum, not @: BLAS is no faster at this size and its results may depend on its threads.
    return np.einsum("ik,lk->il", np.einsum("ij,jk->ik", k, a), k)


def compose(label: int, rng: np.random.Generator, size: int = CANVAS, fill: float | None = None) -> np.ndarray:
    """The scene as float RGB in 0..1, `size` pixels square (128 before it becomes a 64x64 "photo");
    `fill` overrides how much of the frame the hand takes up (a wider shot for the sample photo)."""
    if label not in CLASSES:
        raise ValueError(f"label must be one of {CLASSES}, got {label!r}")
    shapes, frame, dist = _place(hand.build(hand.pose(label, rng)), label, rng, fill)
    n_caps = len(shapes["r"])

    # Camera rays through each pixel centre, as flat (N, 3) arrays; (u, v) is where a ray meets the image.
    half = frame / 2 / dist
    coords = (np.arange(size) + 0.5) / size * 2 - 1
    u, v = (g.ravel() for g in np.meshgrid(coords * half, -coords * half))
    rd = np.stack([u, v, -np.ones_like(u)], -1)
    rd /= np.linalg.norm(rd, axis=-1, keepdims=True)

    def seen(points, radius):  # where a sphere lands in the image, and how wide it looks there
        depth = -points[:, 2]
        return points[:, :2] / depth[:, None], radius / max(depth.min() - radius, 1e-3) * 1.05

    t_hand, which = first_hit(np.zeros(3), rd, shapes, np.stack([u, v], -1), seen)
    on_hand = np.isfinite(t_hand)
    wall = ~on_hand
    wall_z = -dist - rng.uniform(6, 45)  # the wall behind the hand, facing the camera
    t = np.where(on_hand, t_hand, wall_z / rd[:, 2])
    p = rd * t[:, None]

    # Normals (the wall's is +z) and, on capsules, where along the bone a point lies (0 at the palm end).
    normal = np.zeros_like(p)
    normal[:, 2] = 1
    along = np.zeros(len(t))
    for i in np.unique(which[on_hand]):
        m = which == i
        if i < n_caps:
            normal[m], along[m] = capsule_normal(p[m], shapes["a"][i], shapes["b"][i], shapes["r"][i])
        else:
            j = i - n_caps
            normal[m] = ellipsoid_normal(p[m], shapes["centres"][j], shapes["axes"][j], shapes["radii"][j])

    # Light: a soft key light from somewhere in front (mostly from above), plus ambient light from the room.
    light = np.array([rng.uniform(-0.8, 0.8), rng.uniform(-0.25, 0.9), rng.uniform(0.45, 1.0)])
    light /= np.linalg.norm(light)
    e1 = np.cross(light, [0.0, 1.0, 0.0])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(light, e1)
    across = lambda q: np.stack([q @ e1, q @ e2], -1)  # noqa: E731  (position seen from the light)
    origins = p + normal * 0.05
    t_shadow, _ = first_hit(origins, np.broadcast_to(light, p.shape), shapes, across(origins),
                            lambda points, radius: (across(points), radius))
    in_shadow = np.isfinite(t_shadow).astype(float).reshape(size, size)
    # Soften the shadows (a real lamp is not a point): wide on the wall, narrow on the hand.
    wall2, hand2 = wall.reshape(size, size).astype(float), on_hand.reshape(size, size).astype(float)
    soft = rng.uniform(2.5, 7.0) * size / CANVAS
    wall_shadow = _gaussian_blur(in_shadow * wall2, soft) / np.maximum(_gaussian_blur(wall2, soft), 1e-6)
    narrow = 0.8 * size / CANVAS
    hand_shadow = _gaussian_blur(in_shadow * hand2, narrow) / np.maximum(_gaussian_blur(hand2, narrow), 1e-6)
    shadow = np.where(wall, wall_shadow.ravel(), hand_shadow.ravel())

    # Ambient occlusion: how much of the space just outside the surface the hand itself takes up.
    occlusion = np.zeros(len(t))
    if on_hand.any():
        ph, nh = p[on_hand], normal[on_hand]
        ao = sum(np.clip(step - distance(ph + nh * step, shapes, reach=step), 0, None) / step
                 for step in (0.35, 0.8, 1.5))
        occlusion[on_hand] = np.clip(ao / 3, 0, 1)

    wrap = rng.uniform(0.15, 0.35)  # light reaching round the terminator: skin scatters light under its surface
    diffuse = np.clip((normal @ light + wrap) / (1 + wrap), 0, 1)
    key, ambient, crease_shade, skin_gain = light_levels(rng)
    direct = key * diffuse * (1 - rng.uniform(0.25, 0.65) * shadow)
    lit = ambient * (1 - crease_shade * occlusion) + direct
    light_colour = 1 + rng.normal(0, 0.008, 3) + np.array([0.02, 0.0, -0.03]) * rng.uniform(0, 1)

    # The wall: light warm grey with a faint texture. The skin: a tone, a mottled texture, creases, nails.
    wall_albedo = rng.uniform(0.74, 0.95) * (np.array([1.0, 0.965, 0.915]) + rng.normal(0, 0.006, 3))
    wall_tex = 1 + rng.uniform(0.0, 0.025) * _smooth_noise(rng, int(rng.integers(4, 16)), size).ravel()
    skin = _skin(rng) * skin_gain
    skin_tex = 1 + rng.uniform(0.015, 0.04) * _smooth_noise(rng, int(rng.integers(12, 30)), size).ravel()
    skin_tex *= _creases(rng, size, on_hand.reshape(size, size)).ravel()
    albedo = np.where(wall[:, None], wall_albedo * wall_tex[:, None], skin * skin_tex[:, None])
    on_bone = on_hand & (which < n_caps)
    albedo *= np.where(on_bone & ((along < 0.05) | (along > 0.95)), rng.uniform(0.93, 0.98), 1.0)[:, None]
    nail = np.zeros(len(t), bool)
    for i in (i for i in range(n_caps) if shapes["nail"][i]):
        m = np.flatnonzero((which == i) & (along > 0.45))
        nail[m] = normal[m] @ shapes["dorsal"][i] > 0.55
    albedo[nail] = np.clip(skin * 0.6 + np.array([0.42, 0.33, 0.32]), 0, 1)

    colour = albedo * lit[:, None] * light_colour
    # Subsurface warmth: skin turned from the light is redder, not only darker.
    colour += (on_hand * (1 - diffuse) * rng.uniform(0.03, 0.08))[:, None] * np.array([1.0, 0.35, 0.15]) * skin
    # A faint highlight (half-vector), stronger on nails.
    half_vec = (light + np.array([0, 0, 1.0])) / np.linalg.norm(light + np.array([0, 0, 1.0]))
    spec = np.clip(normal @ half_vec, 0, 1) ** rng.uniform(12, 30) * (1 - shadow)
    colour += ((on_hand * rng.uniform(0.02, 0.08) + nail * 0.15) * spec)[:, None]
    # Brighter at the top of the frame (light from above), darker into the corners.
    gradient = 1 + rng.uniform(0.0, 0.16) * v / half * (1 if rng.random() < 0.8 else -1)
    vignette = 1 - rng.uniform(0.0, 0.15) * ((u / half) ** 2 + (v / half) ** 2) / 2
    colour *= (gradient * vignette)[:, None]
    # Exposure as a camera sets it: the lit wall comes out at a chosen brightness.
    wall_level = wall_albedo.mean() * (ambient + key * max(light[2], 0))
    exposure = rng.uniform(0.74, 0.92) / wall_level
    return np.clip(colour * exposure, 0, 1).reshape(size, size, 3)


def render_hand(label: int, rng: np.random.Generator) -> np.ndarray:
    """One 64x64x3 uint8 image of a hand showing `label` raised fingers, made like a phone photo."""
    scene = compose(label, rng)
    # White balance and gamma of the camera, then reduce to 64x64 with a little blur, noise and JPEG.
    scene = np.clip(scene * (1 + rng.normal(0, 0.015, 3)), 0, 1) ** rng.uniform(0.9, 1.1)
    big = Image.fromarray(np.round(scene * 255).astype(np.uint8))
    small = big.resize((SIZE, SIZE), Image.LANCZOS).filter(ImageFilter.GaussianBlur(rng.uniform(0.15, 0.75)))
    pixels = np.asarray(small, float) + rng.normal(0, rng.uniform(0.5, 3.5), (SIZE, SIZE, 3))
    photo = Image.fromarray(np.clip(np.round(pixels), 0, 255).astype(np.uint8))
    buffer = io.BytesIO()
    photo.save(buffer, format="JPEG", quality=int(rng.integers(55, 96)))
    return np.asarray(Image.open(buffer).convert("RGB"), np.uint8)


# --- the data set -----------------------------------------------------------------------------------------


def _render_one(job):
    label, seed, split, index = job
    return render_hand(label, image_rng(seed, split, index))


def split_labels(split: str, n_per_class: int, seed: int = 0) -> np.ndarray:
    """Balanced labels for one split; image i has label order[i] % 6 (a seeded shuffle)."""
    n = n_per_class * len(CLASSES)
    order = np.random.Generator(np.random.PCG64([seed, SPLIT_IDS[split], 10**6])).permutation(n)
    return (order % len(CLASSES)).astype(np.int64)


def render_split(split: str, n_per_class: int, seed: int = 0, progress: bool = False, workers: int | None = None):
    """Images and labels for one split, rendered on `workers` processes (default: all cores)."""
    labels = split_labels(split, n_per_class, seed)
    jobs = [(int(label), seed, split, i) for i, label in enumerate(labels)]
    workers = workers or os.cpu_count() or 1
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(jobs), desc=f"rendering {split}", unit="img")
    images = np.empty((len(jobs), SIZE, SIZE, 3), np.uint8)
    if workers == 1:
        results = map(_render_one, jobs)
        pool = None
    else:
        pool = ProcessPoolExecutor(workers)
        results = pool.map(_render_one, jobs, chunksize=16)
    try:
        for i, image in enumerate(results):
            images[i] = image
            if bar is not None:
                bar.update()
    finally:
        if pool is not None:
            pool.shutdown()
        if bar is not None:
            bar.close()
    return images, labels


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def write_signs(out: Path, seed: int = 0, n_train: int = 180, n_test: int = 20, n_val: int = 20,
                progress: bool = True, workers: int | None = None) -> dict:
    """Write train_signs.h5 and test_signs.h5 in the original course's layout, val_signs.h5 beside them (as
    the CS230 copy has val_signs/; n_val=0 writes none), and a manifest of checksums.

    With its own validation images the recipe trains on all 1080 training images instead of holding out a
    tenth of them (`data.with_validation`), as it would with the CS230 copy; on real photos that made no
    clear difference over three seeds (README).
    """
    import h5py
    import PIL

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    x_train, y_train = render_split("train", n_train, seed, progress, workers)
    x_test, y_test = render_split("test", n_test, seed, progress, workers)
    x_val, y_val = render_split("val", n_val, seed, progress, workers) if n_val else (None, None)
    seconds = time.perf_counter() - start
    # Fixed gzip level and no timestamps, so the bytes depend only on the pixels.
    with h5py.File(out / "train_signs.h5", "w", libver="earliest") as f:
        f.create_dataset("train_set_x", data=x_train, compression="gzip", compression_opts=6, track_times=False)
        f.create_dataset("train_set_y", data=y_train, track_times=False)
    with h5py.File(out / "test_signs.h5", "w", libver="earliest") as f:
        f.create_dataset("test_set_x", data=x_test, compression="gzip", compression_opts=6, track_times=False)
        f.create_dataset("test_set_y", data=y_test, track_times=False)
        f.create_dataset("list_classes", data=np.array(CLASSES, dtype=np.int64), track_times=False)
    files = ["train_signs.h5", "test_signs.h5"]
    pixels = {"train": (x_train, y_train), "test": (x_test, y_test)}
    if n_val:
        with h5py.File(out / "val_signs.h5", "w", libver="earliest") as f:
            f.create_dataset("val_set_x", data=x_val, compression="gzip", compression_opts=6, track_times=False)
            f.create_dataset("val_set_y", data=y_val, track_times=False)
        files.append("val_signs.h5")
        pixels["val"] = (x_val, y_val)
    elif (out / "val_signs.h5").exists():
        (out / "val_signs.h5").unlink()  # left by an earlier run, it would be read as this set's validation split
    manifest = {
        "generator": "resnet_course.render",
        "version": VERSION,
        "seed": seed,
        "n_per_class": {"train": n_train, "test": n_test, "val": n_val},
        "pillow": PIL.__version__,
        "numpy": np.__version__,
        # Pixel checksums do not depend on h5py/HDF5 versions; file checksums catch corruption.
        "pixels_sha256": {split: hashlib.sha256(x.tobytes() + y.tobytes()).hexdigest() for split, (x, y) in pixels.items()},
        "files_sha256": {name: sha256(out / name) for name in files},
    }
    (out / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return {**manifest, "seconds": seconds}


def write_sample_photo(path: Path, label: int = 3, seed: int = 2032) -> Path:
    """A 640x480 "phone photo" of a hand showing `label`: rendered at full size, the hand smaller in the
    frame and off-centre as in a snapshot, for the notebook's "try it on your own photo" section."""
    rng = image_rng(seed, "sample", label)
    scene = compose(label, rng, size=640, fill=0.5)
    photo = Image.fromarray(np.round(scene[100:580] * 255).astype(np.uint8))  # 4:3, the hand's wrist kept
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
    parser.add_argument("--val-per-class", type=int, default=20, help="0: no validation split (val_signs.h5)")
    parser.add_argument("--workers", type=int, default=None, help="processes to render with (default: all cores)")
    parser.add_argument("--sample-photo", type=Path, help="also write a 640x480 sample photo of a hand here")
    parser.add_argument("--grid", type=Path, help="also save a PNG grid of 10 training images per class here")
    args = parser.parse_args(argv)
    # Checked before rendering, so a mistyped argument costs no minutes and leaves the set as it was.
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"--out {args.out} is a file, not a folder: give the folder the h5 files go in")
    for name in ("train_per_class", "test_per_class", "workers"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.val_per_class < 0:
        parser.error(f"--val-per-class must be 0 (no validation split) or more, got {args.val_per_class}")
    info = write_signs(args.out, args.seed, args.train_per_class, args.test_per_class, args.val_per_class,
                       workers=args.workers)
    print(f"wrote {', '.join(f'{args.out}/{name}' for name in info['files_sha256'])} in {info['seconds']:.1f} s")
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
