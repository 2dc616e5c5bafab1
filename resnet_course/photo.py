"""Your own photo of a hand, framed like the training images before the one preprocessing step.

A phone photo (12 megapixels, an orientation tag, the hand anywhere in the frame) cropped to its centre
square shows a small hand somewhere in a large wall; the training images show one hand filling about 60% of
a square, centred, with the wrist at the bottom edge. So before `data.preprocess_image` reduces a photo to
64x64, `prepare_photo` finds the hand and crops a square around it:

1. `find_hand` works on a small copy (256 pixels across): it models the wall's colour from the photo's
   border (a plane per channel, so gradients are fine), marks pixels whose chroma differs from the wall's
   (shadows change brightness far more than chroma) and that are redder than the wall, as skin is, closes
   small gaps, keeps the largest connected piece that does not span the photo (the hand with its forearm)
   and cuts the forearm off at the wrist.
2. `frame_hand` turns the hand's box into a square in which the hand fills `HAND_FILL` of the side, centred
   across the hand, with the wrist near the bottom edge so the forearm enters the frame there.
3. The square is cropped (padded with the wall's colour where it leaves the photo) and handed to
   `data.preprocess_image`, the same function every training photo goes through.

Only NumPy and Pillow: no OpenCV, no model to download. When no clear hand is found (a plain photo, a
busy background, a hand that already fills the frame) the centre square is used and `frame_photo` says why.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data import IMAGE_SIZE, DataError, open_image, preprocess_image

Box = tuple[int, int, int, int]  # (left, top, right, bottom) in pixels, right and bottom exclusive, as in Pillow

# A photo whose shorter side is at most twice the model's input is already framed (the data set's own
# 64x64 photos, a 100x100 thumbnail): finding a hand in it would only move a crop by a pixel or two, so it
# goes through `preprocess_image` untouched and stays exactly what a training photo of that size becomes.
PASS_THROUGH_SIDE = 2 * IMAGE_SIZE
WORK_SIDE = 256  # the longer side of the copy the hand is searched in: fast, and a finger is still 3+ pixels
HAND_FILL = 0.8  # the hand's larger extent (fingertips to wrist) as a share of the square's side, as rendered
BELOW_WRIST = 0.1  # the share of the side below the wrist: the forearm enters from the bottom edge
MIN_CONTRAST = 10.0  # chroma distance (0-255 scale) below which nothing "stands out" from the wall
MIN_AREA, MAX_AREA = 0.0015, 0.6  # a hand covers between 0.15% and 60% of the photo to be worth cropping


class NoHandFound(ValueError):
    """`find_hand` saw no clear hand; the message says why (the photo is then cropped to its centre)."""


@dataclass(frozen=True)
class Framing:
    """How a photo was framed: the upright photo, the square cropped from it, the hand and why."""

    photo: object  # the upright RGB PIL image
    square: Box  # may reach outside the photo; that part is filled with `background`
    hand: Box | None  # None when no hand was found (or looked for)
    background: tuple[int, int, int]
    reason: str

    def crop(self):
        """The part of the photo handed to `data.preprocess_image`.

        Without a hand that is the whole photo: preprocess_image crops the centre square itself, so the
        result is exactly what a training photo of that size becomes.
        """
        if self.hand is None:
            return self.photo
        return crop_square(self.photo, self.square, self.background)


# --- opening -------------------------------------------------------------------------------------------

def open_photo(image):
    """A path, the bytes of a file, a PIL image or an array -> an upright (EXIF applied) RGB PIL image."""
    return open_image(image)


# --- finding the hand ----------------------------------------------------------------------------------

def find_hand(image) -> Box:
    """The box (left, top, right, bottom) of the hand in an upright RGB PIL image; raises NoHandFound."""
    return _search(image)[0]


def _search(image) -> tuple[Box, tuple[int, int, int]]:
    """(the hand's box, the wall's colour) in the photo's pixels; raises NoHandFound."""
    small, scale = _working_copy(image)
    ycc = np.asarray(small.convert("YCbCr"), np.float32)
    wall = _fit_wall(ycc)
    mask = _clean(_hand_pixels(ycc, wall))
    hand = _pick_hand(mask)
    if hand.mean() > MAX_AREA:
        raise NoHandFound("what stands out fills most of the photo, so it is framed already")
    left, top, right, bottom = _cut_at_wrist(hand)
    box = (int(left * scale), int(top * scale), min(image.width, int(np.ceil(right * scale))),
           min(image.height, int(np.ceil(bottom * scale))))
    return box, _wall_rgb(small, mask)


def _working_copy(image):
    """A copy whose longer side is about WORK_SIDE pixels, and the factor back to the photo's pixels."""
    factor = max(1, max(image.size) // WORK_SIDE)
    # reduce() averages factor x factor blocks: quick on 12 megapixels, and the averaging removes noise.
    return (image.reduce(factor) if factor > 1 else image.copy()), float(factor)


def _border(shape: tuple[int, int], bottom: bool) -> np.ndarray:
    """A mask of the outer ~4% of the image: top, left and right edges, plus the bottom if asked."""
    h, w = shape
    k = max(1, round(0.04 * min(h, w)))
    band = np.zeros((h, w), bool)
    band[:k], band[:, :k], band[:, -k:] = True, True, True
    if bottom:
        band[-k:] = True
    return band


def _fit_wall(ycc: np.ndarray) -> np.ndarray:
    """The wall's Y, Cb, Cr at every pixel: a plane per channel fitted to the border, ignoring what is not wall.

    Start from the median of the top, left and right edges (the forearm usually crosses the bottom one),
    then fit planes to the border pixels close to that colour and refit twice, each time keeping the pixels
    close to the current planes: a hand or an arm touching an edge is left out, a gradient is followed.
    """
    h, w, _ = ycc.shape
    yy, xx = np.mgrid[0:h, 0:w]
    design = np.stack([np.ones(h * w), xx.ravel() / w, yy.ravel() / h], axis=1)
    pixels = ycc.reshape(-1, 3)
    border = _border((h, w), bottom=True).ravel()
    wall = np.broadcast_to(np.median(pixels[_border((h, w), bottom=False).ravel()], axis=0), pixels.shape)
    for _ in range(3):
        distance = _chroma_distance(pixels, wall)
        keep = border & (distance <= max(MIN_CONTRAST / 2, 2.5 * np.median(distance[border])))
        coef, *_ = np.linalg.lstsq(design[keep], pixels[keep], rcond=None)
        wall = design @ coef
    return wall.reshape(h, w, 3)


def _chroma_distance(ycc: np.ndarray, wall: np.ndarray) -> np.ndarray:
    """How far a pixel's colour is from the wall's: chroma counts fully, brightness a fifth.

    A shadow on a grey wall is darker but hardly changes Cb and Cr, so it stays "wall"; skin differs in
    chroma (redder, less blue) even from a warm wall.
    """
    d = ycc - wall
    return np.sqrt(d[..., 1] ** 2 + d[..., 2] ** 2 + (0.2 * d[..., 0]) ** 2)


def _hand_pixels(ycc: np.ndarray, wall: np.ndarray) -> np.ndarray:
    """Pixels that stand out from the wall (above an Otsu threshold, at least MIN_CONTRAST) and are skin-red.

    Skin is redder and less blue than any wall it is photographed against (Cr - Cb higher), which keeps out
    a blue poster, a grey door or a green plant that would otherwise be the largest thing in the photo.
    """
    distance = _chroma_distance(ycc, wall)
    threshold = max(MIN_CONTRAST, _otsu(distance))
    redder = (ycc[..., 2] - ycc[..., 1]) - (wall[..., 2] - wall[..., 1]) > MIN_CONTRAST / 2
    return (distance > threshold) & redder


def _otsu(values: np.ndarray) -> float:
    """The threshold that best splits `values` into two groups (Otsu's method on a 0-128 histogram)."""
    counts, edges = np.histogram(np.clip(values, 0, 128), bins=128, range=(0, 128))
    centres = (edges[:-1] + edges[1:]) / 2
    below = np.cumsum(counts)
    above = below[-1] - below
    mean_below = np.cumsum(counts * centres) / np.maximum(below, 1)
    mean_above = (np.sum(counts * centres) - np.cumsum(counts * centres)) / np.maximum(above, 1)
    between = below * above * (mean_below - mean_above) ** 2
    return float(edges[1:][np.argmax(between)])


def _clean(mask: np.ndarray) -> np.ndarray:
    """Close gaps of a pixel or two (a ring, a shadowed knuckle, a crease) so the hand is one piece.

    No opening: at this size a finger may be only three pixels wide, and specks on the wall do not matter
    once the largest piece is kept.
    """
    from PIL import Image, ImageFilter

    image = Image.fromarray(mask.astype(np.uint8) * 255)
    return np.asarray(image.filter(ImageFilter.MaxFilter(3)).filter(ImageFilter.MinFilter(3))) > 127


def _label(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """8-connected pieces of `mask`: (a label per pixel, 0 outside, and each label's size in pixels).

    Each row's runs of pixels join the runs they touch in the row above (union-find over runs), so the
    Python loop sees a few hundred runs rather than tens of thousands of pixels.
    """
    parent: list[int] = [0]  # run ids start at 1; 0 is "no piece"

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    runs: list[tuple[int, int, int, int]] = []  # (row, start, stop, run id)
    above: list[tuple[int, int, int]] = []
    for y, row in enumerate(mask):
        edges = np.flatnonzero(np.diff(np.concatenate(([0], row.astype(np.int8), [0]))))
        here = []
        for start, stop in zip(edges[::2], edges[1::2]):
            run = len(parent)
            parent.append(run)
            for a_start, a_stop, a_run in above:
                if a_start <= stop and a_stop >= start:  # overlapping, or touching diagonally
                    parent[root(a_run)] = root(run)
            here.append((start, stop, run))
            runs.append((y, start, stop, run))
        above = here
    labels = np.zeros(mask.shape, np.int32)
    for y, start, stop, run in runs:
        labels[y, start:stop] = root(run)
    return labels, np.bincount(labels.ravel(), minlength=len(parent))


def _pick_hand(mask: np.ndarray) -> np.ndarray:
    """The largest piece that can be a hand with its forearm (one that does not span the photo), or NoHandFound.

    A piece touching both the top and the bottom edge, or three edges, is a door frame, a curtain, a
    table or the learner's body, not a hand held up in front of a wall.
    """
    labels, sizes = _label(mask)
    sizes[0] = 0
    for label in np.argsort(sizes)[::-1][:8]:
        if sizes[label] < MIN_AREA * mask.size:
            break
        piece = labels == label
        bottom, left, top, right = piece[-1].any(), piece[:, 0].any(), piece[0].any(), piece[:, -1].any()
        if not (top and bottom) and bottom + left + top + right < 3:
            return piece
    if sizes.max() >= MIN_AREA * mask.size:
        raise NoHandFound("what stands out reaches across the photo (a door frame? a hand filling the frame?)")
    raise NoHandFound("nothing hand-like stands out from the background")


def _cut_at_wrist(hand: np.ndarray) -> Box:
    """The box of the hand without its forearm, in the mask's pixels.

    The forearm leaves the photo through one edge (the one the piece touches most); turned so that edge is
    at the bottom, the piece's width row by row grows from the fingertips to the palm and narrows at the
    wrist. Its narrowest row below the widest one, within a hand's length of the tip, is taken as the wrist.
    A piece touching no edge is all hand.
    """
    turns = _turns_to_bottom(hand)
    upright = np.rot90(hand, turns or 0)
    rows = np.flatnonzero(upright.any(axis=1))
    top, bottom = rows[0], rows[-1] + 1
    if turns is not None:
        bottom = top + _wrist_row(upright.sum(axis=1)[top:bottom])
    cols = np.flatnonzero(upright[top:bottom].any(axis=0))
    box_upright = np.zeros_like(upright)
    box_upright[top:bottom, cols[0]:cols[-1] + 1] = True
    box = np.rot90(box_upright, -(turns or 0))  # back to the photo's orientation
    ys, xs = np.flatnonzero(box.any(axis=1)), np.flatnonzero(box.any(axis=0))
    return int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1


def _turns_to_bottom(hand: np.ndarray) -> int | None:
    """Quarter turns (np.rot90, counter-clockwise) that bring the edge the forearm crosses most to the bottom.

    None when the piece touches no edge (a hand whose forearm is hidden by a sleeve, say).
    """
    # Turning counter-clockwise 0, 1, 2 or 3 times brings the bottom, left, top or right edge to the bottom.
    touching = {0: hand[-1].sum(), 1: hand[:, 0].sum(), 2: hand[0].sum(), 3: hand[:, -1].sum()}
    turns = max(touching, key=touching.get)
    if touching[turns] == 0:
        return None
    # Arms mostly come from below; a palm or thumb cut by a side edge can touch it along more pixels.
    return 0 if touching[0] >= touching[turns] / 2 else turns


def _wrist_row(widths: np.ndarray) -> int:
    """Where the wrist is, counting rows from the fingertips, given the piece's width in each row."""
    smooth = np.convolve(widths, np.ones(3) / 3, mode="same")
    palm = int(np.argmax(smooth[: max(1, len(smooth) // 2)]))
    palm_width = smooth[palm]
    # A hand is at most about twice as long as its palm is wide: the wrist lies between the palm's widest
    # row and 1.4 palm widths below it. Take the first row there that is as narrow as the narrowest (the
    # forearm below the wrist is about as wide as the wrist, and wider towards the elbow).
    window = smooth[palm : palm + max(2, int(1.4 * palm_width))]
    if window.min() > 0.85 * palm_width:
        return min(len(smooth), palm + len(window))  # no narrowing: a fist seen end on, or a sleeve
    return palm + int(np.argmax(window <= 1.1 * window.min())) + 1


def _wall_rgb(small, mask: np.ndarray) -> tuple[int, int, int]:
    """The wall's colour for padding: the median of the top, left and right edges' wall pixels."""
    pixels = np.asarray(small)[_border(mask.shape, bottom=False) & ~mask]
    if len(pixels) == 0:
        pixels = np.asarray(small).reshape(-1, 3)
    return tuple(int(v) for v in np.median(pixels, axis=0))


# --- framing -------------------------------------------------------------------------------------------

def frame_hand(image, box: Box, fill: float = HAND_FILL) -> Box:
    """A square around the hand's box, framed like the training images (it may reach outside the photo).

    The hand's larger extent fills `fill` of the side, the square is centred across the hand, and its bottom
    edge lies BELOW_WRIST of the side below the wrist, so the forearm enters from the bottom as in the
    training images. If that would leave the photo at the bottom, the square moves up to the photo's bottom
    edge instead: the forearm really ends there, and padding it with wall would cut the arm off.
    """
    left, top, right, bottom = box
    side = max(1, round(max(right - left, bottom - top) / fill))
    x0 = round((left + right - side) / 2)
    y1 = min(round(bottom + BELOW_WRIST * side), image.height)
    return x0, y1 - side, x0 + side, y1


def centre_square(image) -> Box:
    side = min(image.size)
    x0, y0 = (image.width - side) // 2, (image.height - side) // 2
    return x0, y0, x0 + side, y0 + side


def crop_square(image, square: Box, background: tuple[int, int, int]):
    """The square cut from the photo; where it leaves the photo, the wall's colour fills in."""
    from PIL import Image

    left, top, right, bottom = square
    if left >= 0 and top >= 0 and right <= image.width and bottom <= image.height:
        return image.crop(square)
    canvas = Image.new("RGB", (right - left, bottom - top), background)
    inside = (max(left, 0), max(top, 0), min(right, image.width), min(bottom, image.height))
    canvas.paste(image.crop(inside), (inside[0] - left, inside[1] - top))
    return canvas


def frame_photo(image, find: bool = True, fill: float = HAND_FILL) -> Framing:
    """Open a photo upright and decide which square of it the model sees (see the module's docstring)."""
    photo = open_photo(image)
    if min(photo.size) <= PASS_THROUGH_SIDE:
        return Framing(photo, centre_square(photo), None, (0, 0, 0), "small photo: taken as it is framed")
    if not find:
        return Framing(photo, centre_square(photo), None, (0, 0, 0), "centre square (no hand search asked)")
    try:
        hand, background = _search(photo)
    except NoHandFound as e:
        return Framing(photo, centre_square(photo), None, (0, 0, 0), f"centre square: {e}")
    return Framing(photo, frame_hand(photo, hand, fill), hand, background, "hand found")


def prepare_photo(image, find: bool = True, fill: float = HAND_FILL) -> np.ndarray:
    """Any photo (path, bytes, PIL image or array) -> the uint8 (64, 64, 3) image the model sees.

    The hand is found and framed like the training images, then `data.preprocess_image` (the one
    preprocessing step of every training photo) reduces the square to 64x64.
    """
    return preprocess_image(frame_photo(image, find, fill).crop())


# --- the notebook's side -------------------------------------------------------------------------------

def show_crop(image, find: bool = True, fill: float = HAND_FILL):
    """A figure: the photo with the square the model sees drawn on it (and the hand's box), and that 64x64."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    framing = frame_photo(image, find, fill)
    aspect = framing.photo.width / framing.photo.height
    fig, (ax_photo, ax_model) = plt.subplots(1, 2, figsize=(9, 4.5), width_ratios=(aspect, 1))
    ax_photo.imshow(framing.photo)
    left, top, right, bottom = framing.square
    ax_photo.add_patch(Rectangle((left, top), right - left, bottom - top, fill=False, color="tab:blue", lw=2))
    if framing.hand is not None:
        left, top, right, bottom = framing.hand
        ax_photo.add_patch(Rectangle((left, top), right - left, bottom - top, fill=False, color="tab:orange", ls="--"))
    ax_photo.set_title(f"your photo ({framing.reason})", fontsize=10)
    ax_model.imshow(preprocess_image(framing.crop()))
    ax_model.set_title("what the model sees (64x64)", fontsize=10)
    for ax in (ax_photo, ax_model):
        ax.set_xticks([]), ax.set_yticks([])
    fig.tight_layout()
    return fig


class PhotoUpload:
    """A file-upload button and an output area; `.photo` is the last uploaded photo (upright PIL image)."""

    def __init__(self, widgets):
        self.photo = None
        self.name = None
        self.button = widgets.FileUpload(accept="image/*", multiple=False, description="Upload a photo")
        self.output = widgets.Output()
        self.button.observe(self._on_upload, names="value")
        self.widget = widgets.VBox([self.button, self.output])

    def _on_upload(self, change):
        uploads = change["new"]
        if not uploads:
            return
        # ipywidgets 8: a tuple of dicts with 'name' and 'content' (a memoryview); ipywidgets 7: a dict by name.
        upload = uploads[0] if isinstance(uploads, (tuple, list)) else next(iter(uploads.values()))
        self.output.clear_output()
        with self.output:
            try:
                self.photo, self.name = open_photo(upload["content"]), upload.get("name", "photo")
            except DataError as e:
                self.photo = None
                # Pillow cannot read HEIC, the iPhone's default format.
                print(f"Could not read that file: {e}\nUpload a JPEG or PNG (on an iPhone: Settings > Camera > "
                      "Formats > Most Compatible, or share the photo as JPEG).")
                return
            print(f"{self.name}: {self.photo.width}x{self.photo.height} pixels. Run the next cell to predict.")

    def _repr_mimebundle_(self, **kwargs):  # a notebook cell ending in the picker shows its widgets
        return self.widget._repr_mimebundle_(**kwargs)


def upload_widget() -> PhotoUpload:
    """A photo picker for the notebook: show it, upload a photo, then pass `.photo` to predict_photo."""
    try:
        import ipywidgets
    except ImportError as e:
        raise ImportError(
            "The upload button needs ipywidgets (pip install ipywidgets, then reload the page); "
            "or give predict_photo the path of your photo instead."
        ) from e
    return PhotoUpload(ipywidgets)
