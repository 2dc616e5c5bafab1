"""Your own photo: the hand is found in a large phone photo and framed like the training images.

The phone photos are synthetic, drawn here: a skin-coloured hand (palm, four fingers, thumb) whose forearm
enters from an edge, off-centre on a wall with a brightness gradient, blotches and the hand's soft shadow.
"""

import functools
import io
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from resnet_course import data, photo

REAL_DEV = Path(__file__).resolve().parent.parent.parent / "shared" / "real_signs_dev" / "val_signs"
WALL = np.array([206, 198, 188], float)  # the light warm grey of the original photos' walls (FACTS.md)
SKIN = np.array([212, 158, 126], float)
DRAW_SCALE = 4  # shapes are drawn at a quarter of the photo's size, then enlarged like a soft phone photo


def draw_hand(size, palm_centre, palm_width, arm_to):
    """(mask of hand and forearm, mask of the hand alone) as 'L' images: palm, four fingers, a thumb."""
    cx, cy = palm_centre
    pw = palm_width
    hand = Image.new("L", size, 0)
    draw = ImageDraw.Draw(hand)

    def capsule(a, b, width):
        draw.line([a, b], fill=255, width=int(width))
        for x, y in (a, b):
            draw.ellipse([x - width / 2, y - width / 2, x + width / 2, y + width / 2], fill=255)

    draw.ellipse([cx - pw / 2, cy - 0.55 * pw, cx + pw / 2, cy + 0.55 * pw], fill=255)
    for i, (length, angle) in enumerate(zip((0.75, 0.88, 0.8, 0.6), (-12, -4, 4, 12))):
        base = (cx + (i - 1.5) * 0.26 * pw, cy - 0.3 * pw)
        tip = (base[0] + length * pw * np.sin(np.radians(angle)), base[1] - length * pw * np.cos(np.radians(angle)))
        capsule(base, tip, 0.21 * pw)
    capsule((cx - 0.35 * pw, cy + 0.15 * pw), (cx - 0.85 * pw, cy - 0.3 * pw), 0.25 * pw)
    hand_only = hand.copy()
    wrist = (cx, cy + 0.45 * pw)
    capsule(wrist, arm_to, 0.68 * pw)  # the forearm, ending beyond the photo's edge
    return hand, hand_only


def phone_photo(size=(3000, 4000), palm_at=(0.35, 0.45), palm_width=0.16, arm="bottom", skin=SKIN, clutter=False,
                seed=0):
    """(a synthetic RGB phone photo of a hand on a wall, the hand's box without the forearm).

    palm_at is the palm's centre as fractions of width and height; palm_width a fraction of the width;
    clutter adds a wooden door frame along the left edge and a blue poster.
    """
    rng = np.random.default_rng(seed)
    w, h = size[0] // DRAW_SCALE, size[1] // DRAW_SCALE
    cx, cy, pw = palm_at[0] * w, palm_at[1] * h, palm_width * w
    arm_to = {"bottom": (cx + 0.3 * pw, h + pw), "bottom right": (cx + 2.2 * pw, h + pw),
              "right": (w + pw, cy + 1.2 * pw)}[arm]  # where the forearm ends, beyond the photo's edge
    hand, hand_only = draw_hand((w, h), (cx, cy), pw, arm_to)
    yy, xx = np.mgrid[0:h, 0:w]
    light = 1.05 - 0.12 * xx / w - 0.12 * yy / h  # brighter at the top left, as by a window
    blotches = np.asarray(Image.fromarray(rng.normal(0, 1, (6, 8)).astype(np.float32)).resize((w, h), Image.BICUBIC))
    shadow = np.asarray(hand.filter(ImageFilter.GaussianBlur(0.12 * pw)), float) / 255
    dy, dx = int(0.15 * pw), int(0.2 * pw)  # the shadow is cast down and to the right
    shadow = np.pad(shadow, ((dy, 0), (dx, 0)))[:h, :w]
    wall = np.broadcast_to(WALL, (h, w, 3)).copy()
    if clutter:
        wall[:, : int(0.06 * w)] = (125, 88, 62)  # a wooden door frame: as red as skin, but spans the photo
        wall[int(0.08 * h) : int(0.3 * h), int(0.6 * w) : int(0.85 * w)] = (70, 110, 170)  # a blue poster
    wall *= (light * (1 + 0.025 * blotches) * (1 - 0.3 * shadow))[..., None]
    skin = np.asarray(skin, float) * (0.93 + 0.1 * (1 - yy / h))[..., None]  # a little darker towards the bottom
    cover = np.asarray(hand.filter(ImageFilter.GaussianBlur(1)), float)[..., None] / 255
    pixels = wall * (1 - cover) + skin * cover + rng.normal(0, 2, (h, w, 3))
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).resize(size, Image.BILINEAR)
    box = tuple(v * DRAW_SCALE for v in hand_only.getbbox())
    return image, box


def iou(a, b) -> float:
    inter_w = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    inter_h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = inter_w * inter_h
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def with_orientation_tag(upright: Image.Image) -> bytes:
    """A JPEG stored as a phone stores a portrait photo: pixels turned sideways, EXIF orientation 6."""
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    buffer = io.BytesIO()
    upright.transpose(Image.Transpose.ROTATE_90).save(buffer, "JPEG", quality=90, exif=exif)
    return buffer.getvalue()


CASES = {
    "portrait, arm from the bottom": dict(size=(3000, 4000), palm_at=(0.32, 0.5), arm="bottom"),
    "landscape, arm from the bottom": dict(size=(4000, 3000), palm_at=(0.68, 0.45), palm_width=0.11, arm="bottom"),
    "portrait, arm from the right": dict(size=(3000, 4000), palm_at=(0.4, 0.35), arm="right"),
    "small hand high up": dict(size=(4000, 3000), palm_at=(0.25, 0.3), palm_width=0.06, arm="bottom"),
    "dark skin, arm from the bottom right": dict(size=(3000, 4000), palm_at=(0.45, 0.55), arm="bottom right",
                                                 skin=(118, 78, 58)),
    "door frame and poster": dict(size=(4000, 3000), palm_at=(0.4, 0.55), palm_width=0.1, arm="bottom", clutter=True),
}


@functools.lru_cache(maxsize=None)
def case_photo(case):
    """Each case's photo, drawn once for the three tests that read it (none of them changes it)."""
    return phone_photo(**CASES[case])


@pytest.mark.parametrize("case", CASES)
def test_finds_the_hand_without_its_forearm(case):
    image, truth = case_photo(case)
    box = photo.find_hand(image)
    assert iou(box, truth) >= 0.7, (box, truth)


@pytest.mark.parametrize("case", CASES)
def test_frames_the_hand_like_a_training_image(case):
    image, truth = case_photo(case)
    framing = photo.frame_photo(image)
    left, top, right, bottom = framing.square
    assert framing.reason == "hand found"
    assert right - left == bottom - top
    assert left <= truth[0] and top <= truth[1] and right >= truth[2] and bottom >= truth[3], (framing.square, truth)
    # Centred across the hand, and the forearm leaves through the square's bottom edge (or the side it enters).
    assert abs((left + right) / 2 - (truth[0] + truth[2]) / 2) <= 0.1 * (right - left)
    skin = _skin_mask(np.asarray(framing.crop()))
    edge = skin[:, -1] if CASES[case]["arm"] == "right" else skin[-1]
    assert edge.mean() > 0.05


def _skin_mask(pixels: np.ndarray) -> np.ndarray:
    """Pixels clearly redder than the wall (R - B is 18 there): the hand and forearm in these photos."""
    rgb = pixels.astype(float)
    return (rgb[..., 0] - rgb[..., 2]) > 35


@pytest.mark.parametrize("case", CASES)
def test_the_64x64_image_shows_the_hand_at_training_size(case):
    image, truth = case_photo(case)
    framing = photo.frame_photo(image)
    left, top, right, _ = framing.square
    out = photo.prepare_photo(image)
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    # The true hand's larger extent fills as much of the side as in the rendered training images (72-100% of
    # the frame's width for the hand with its wrist), and the 64x64 image is that square: the fingertips are
    # where the square puts them, with some wall above.
    assert 0.6 <= max(truth[2] - truth[0], truth[3] - truth[1]) / (right - left) <= 0.95
    tip = np.flatnonzero(_skin_mask(out).any(axis=1))[0]
    assert abs(tip - (truth[1] - top) / (right - left) * 64) <= 2
    assert 2 <= tip <= 0.45 * 64


def test_a_square_leaving_the_photo_is_filled_with_the_wall():
    image, truth = phone_photo(size=(4000, 3000), palm_at=(0.06, 0.5), palm_width=0.1)
    framing = photo.frame_photo(image)
    assert framing.square[0] < 0 and framing.hand[0] <= truth[0] + 40
    filled = np.asarray(framing.crop())[:, : -framing.square[0]].reshape(-1, 3)
    assert np.all(filled == framing.background)
    assert np.abs(np.array(framing.background) - np.median(np.asarray(image)[0], axis=0)).max() < 8


def test_orientation_tag_is_applied_before_the_search():
    upright, truth = case_photo("portrait, arm from the bottom")
    stored = with_orientation_tag(upright)
    assert Image.open(io.BytesIO(stored)).size == (4000, 3000)
    framing = photo.frame_photo(stored)
    assert framing.photo.size == (3000, 4000)
    assert iou(framing.hand, truth) >= 0.7
    assert np.abs(photo.prepare_photo(stored).astype(int) - photo.prepare_photo(upright).astype(int)).mean() < 3


def test_a_plain_photo_falls_back_to_the_centre_square_and_says_why():
    plain = Image.new("RGB", (4000, 3000), tuple(int(v) for v in WALL))
    framing = photo.frame_photo(plain)
    assert framing.hand is None and framing.square == (500, 0, 3500, 3000)
    assert framing.reason.startswith("centre square: ")
    with pytest.raises(photo.NoHandFound):
        photo.find_hand(plain)
    assert np.array_equal(photo.prepare_photo(plain), data.preprocess_image(plain))


def test_small_photos_pass_through_the_one_preprocessing_step():
    rng = np.random.default_rng(1)
    for shape in ((64, 64, 3), (100, 120, 3)):
        pixels = rng.integers(0, 256, shape, dtype=np.uint8)
        assert np.array_equal(photo.prepare_photo(pixels), data.preprocess_image(pixels))
    assert photo.frame_photo(np.zeros((64, 64, 3), np.uint8)).reason.startswith("small photo")


def test_without_search_it_is_the_centre_square():
    image, _ = case_photo("portrait, arm from the bottom")
    assert np.array_equal(photo.prepare_photo(image, find=False), data.preprocess_image(image))


def test_opens_paths_bytes_and_arrays_alike(tmp_path):
    image, _ = phone_photo(size=(800, 600), palm_at=(0.5, 0.5), palm_width=0.15)
    image.save(tmp_path / "hand.png")
    from_path = photo.prepare_photo(tmp_path / "hand.png")
    assert np.array_equal(from_path, photo.prepare_photo((tmp_path / "hand.png").read_bytes()))
    assert np.array_equal(from_path, photo.prepare_photo(np.asarray(image)))
    with pytest.raises(data.DataError):
        photo.prepare_photo(b"not an image")


def test_twelve_megapixel_photo_time():
    image, _ = phone_photo(size=(3024, 4032), palm_at=(0.4, 0.5))
    stored = with_orientation_tag(image)
    photo.prepare_photo(image)
    start = time.perf_counter()
    photo.prepare_photo(image)
    in_memory = time.perf_counter() - start
    start = time.perf_counter()
    photo.prepare_photo(stored)
    from_jpeg = time.perf_counter() - start
    print(f"\nprepare_photo on 12 megapixels: {in_memory:.3f} s from memory, {from_jpeg:.3f} s from a tagged JPEG")


def test_show_crop_draws_the_square_on_the_photo():
    import matplotlib.pyplot as plt

    image, _ = phone_photo(size=(1200, 1600))
    fig = photo.show_crop(image)
    assert len(fig.axes) == 2 and len(fig.axes[0].patches) == 2
    assert "hand found" in fig.axes[0].get_title()
    plt.close(fig)


def test_upload_widget_reads_an_ipywidgets_8_upload():
    pytest.importorskip("ipywidgets")
    image, _ = phone_photo(size=(600, 800))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG")
    picker = photo.upload_widget()
    picker._on_upload({"new": ({"name": "hand.jpg", "content": memoryview(buffer.getvalue())},)})
    assert picker.photo.size == (600, 800) and picker.name == "hand.jpg"
    picker._on_upload({"new": ({"name": "notes.txt", "content": memoryview(b"hello")},)})
    assert picker.photo is None


@pytest.mark.skipif(not REAL_DEV.is_dir(), reason=f"real dev photos not here ({REAL_DEV}); a user's clone has none")
def test_real_64x64_photos_pass_through_unchanged():
    paths = sorted(REAL_DEV.glob("*.jpg"))
    assert paths
    for path in paths:
        assert np.array_equal(photo.prepare_photo(path), data.preprocess_image(path)), path
