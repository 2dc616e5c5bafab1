"""The one loader: every notebook, tool and test reads hand signs through this module.

Sources, chosen by argument or by the SIGNS_DATA environment variable:
- a folder with `train_signs.h5` and `test_signs.h5` in the original course's layout, and optionally
  `val_signs.h5` (`val_set_x`, `val_set_y`): the project's default set under datasets/signs has all three,
  the original SIGNS files the first two;
- a folder of photos with a train and a test folder (`train_signs/`, `test_signs/` and optionally
  `val_signs/` as in the CS230 copy; or `train/`, `test/`, `val/`), each holding files named `N_*.jpg`
  or one subfolder per label `0/` ... `5/`. Any size and format Pillow reads; all go through
  `photo.prepare_photo` (which frames the hand in a large photo, then calls `preprocess_image`), the same
  function that prepares "your own photo".
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

IMAGE_SIZE = 64
NUM_CLASSES = 6
ENV_VAR = "SIGNS_DATA"
H5_FILES = {"train": ("train_signs.h5", "train_set_x", "train_set_y"), "test": ("test_signs.h5", "test_set_x", "test_set_y"),
            "val": ("val_signs.h5", "val_set_x", "val_set_y")}  # val is optional
SPLIT_FOLDERS = {"train": ("train_signs", "train"), "val": ("val_signs", "val"), "test": ("test_signs", "test")}
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


class DataError(ValueError):
    """A data source that cannot be used, with a message saying what was expected."""


@dataclass(frozen=True)
class Signs:
    """Images as uint8 (m, 64, 64, 3) and labels as int64 (m,) with values 0..5."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: np.ndarray
    source: str
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None

    def __repr__(self) -> str:
        val = "" if self.x_val is None else f", val={len(self.x_val)}"
        return f"Signs(train={len(self.x_train)}, test={len(self.x_test)}{val}, source={self.source!r})"


def project_root() -> Path | None:
    """The repository this package was installed from (editable install), if any."""
    root = Path(__file__).resolve().parent.parent
    return root if (root / "datasets").is_dir() else None


def default_dataset_dir() -> Path:
    """Where the project's own hand-sign set lives: datasets/signs in the repository."""
    candidates = []
    if (root := project_root()) is not None:
        candidates.append(root / "datasets" / "signs")
    here = Path.cwd().resolve()
    candidates += [parent / "datasets" / "signs" for parent in (here, *here.parents)]
    for c in candidates:
        if (c / "train_signs.h5").exists():
            return c
    raise DataError(
        "Could not find the project's hand-sign data set (datasets/signs/train_signs.h5). Looked in:\n  "
        + "\n  ".join(dict.fromkeys(str(c) for c in candidates))
        + f"\nSet {ENV_VAR} to a folder with train_signs.h5/test_signs.h5 or with train/test photo folders."
    )


def load_signs(source: str | os.PathLike | None = None) -> Signs:
    """Load a hand-sign data set: `source`, else $SIGNS_DATA, else the project's default set."""
    chosen = source if source is not None else os.environ.get(ENV_VAR) or None
    path = Path(chosen).expanduser() if chosen is not None else default_dataset_dir()
    if not path.exists():
        how = "argument" if source is not None else f"${ENV_VAR}"
        raise DataError(f"Hand-sign data source {str(path)!r} (from the {how}) does not exist.")
    if path.is_file() and path.suffix == ".h5":
        path = path.parent
    if (path / H5_FILES["train"][0]).exists() or (path / H5_FILES["test"][0]).exists():
        return _load_h5_pair(path)
    splits = {name: _find_split(path, name) for name in SPLIT_FOLDERS}
    if splits["train"] and splits["test"]:
        loaded = {name: load_photo_folder(p) for name, p in splits.items() if p is not None}
        val = loaded.get("val", (None, None))
        return Signs(*loaded["train"], *loaded["test"], np.arange(NUM_CLASSES), str(path), *val)
    raise DataError(
        f"No hand-sign data found in {str(path)!r}. Expected either train_signs.h5 and test_signs.h5, or a "
        "train folder (train_signs/ or train/) and a test folder (test_signs/ or test/) of photos named "
        "N_*.jpg or sorted into subfolders 0/ .. 5/."
    )


def _find_split(root: Path, split: str) -> Path | None:
    for name in SPLIT_FOLDERS[split]:
        if (root / name).is_dir():
            return root / name
    return None


def _load_h5_pair(folder: Path) -> Signs:
    import h5py

    for split in ("train", "test"):
        filename = H5_FILES[split][0]
        if not (folder / filename).exists():
            raise DataError(f"{folder / filename} is missing: a SIGNS-format folder needs both train_signs.h5 and test_signs.h5.")
    arrays = {}
    for split, (filename, x_key, y_key) in H5_FILES.items():
        path = folder / filename
        if split == "val" and not path.exists():
            continue
        try:
            with h5py.File(path, "r") as f:
                missing = [k for k in (x_key, y_key) if k not in f]
                if missing:
                    raise DataError(f"{path} has no dataset {missing[0]!r}; it has {sorted(f.keys())}.")
                x, y = np.asarray(f[x_key]), np.asarray(f[y_key])
                if split == "test":
                    classes = np.asarray(f["list_classes"]) if "list_classes" in f else np.arange(NUM_CLASSES)
        except OSError as e:
            raise DataError(f"{path} is not a readable HDF5 file ({e}).") from e
        arrays[split] = _validate(x, y.reshape(-1), str(path))
    return Signs(*arrays["train"], *arrays["test"], classes.reshape(-1), str(folder), *arrays.get("val", (None, None)))


def _validate(x: np.ndarray, y: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    if x.ndim != 4 or x.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE, 3):
        raise DataError(f"{where}: images must have shape (m, 64, 64, 3); got {x.shape}.")
    if x.dtype != np.uint8:
        raise DataError(f"{where}: images must be uint8 pixels 0..255; got dtype {x.dtype}.")
    if len(y) != len(x):
        raise DataError(f"{where}: {len(x)} images but {len(y)} labels.")
    if not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{where}: labels must be integers; got dtype {y.dtype}.")
    bad = sorted(set(np.unique(y).tolist()) - set(range(NUM_CLASSES)))
    if bad:
        raise DataError(f"{where}: unknown labels {bad}; labels must be 0..{NUM_CLASSES - 1} (raised fingers).")
    return x, y.astype(np.int64)


def open_image(image):
    """A path, the bytes of a file, a PIL image or an array -> an upright (EXIF applied) RGB PIL image."""
    import io

    from PIL import Image, ImageOps, UnidentifiedImageError

    if isinstance(image, (bytes, bytearray, memoryview)):
        name, source = "the uploaded file", io.BytesIO(bytes(image))
    elif isinstance(image, (str, os.PathLike)):
        name, source = str(image), image
    else:
        name, source = None, None
    if source is not None:
        try:
            with Image.open(source) as im:
                im.load()
                image = im.copy()
        except (UnidentifiedImageError, OSError) as e:
            raise DataError(f"{name}: not an image Pillow can read ({e}).") from e
    elif isinstance(image, np.ndarray):
        image = Image.fromarray(np.asarray(image, np.uint8))
    return ImageOps.exif_transpose(image).convert("RGB")


def preprocess_image(image) -> np.ndarray:
    """Any photo (path, bytes, PIL image or array) -> uint8 (64, 64, 3): upright, RGB, centre square, 64x64.

    The same steps serve photo folders and "predict on your own photo" (after `photo.prepare_photo` has
    framed the hand in a large photo), so a model sees both alike.
    """
    from PIL import Image, ImageOps

    image = open_image(image)
    # Crop to the centre square first so that hands are not squashed, then reduce with anti-aliasing.
    image = ImageOps.fit(image, (IMAGE_SIZE, IMAGE_SIZE), method=Image.Resampling.LANCZOS)
    return np.asarray(image, dtype=np.uint8)


_LABEL_PREFIX = re.compile(r"^(\d+)_")


def load_photo_folder(folder: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Photos named `N_*.ext` or sorted into subfolders `N/` -> (uint8 images, int64 labels)."""
    folder = Path(folder)
    items: list[tuple[Path, int]] = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.suffix.lower() not in PHOTO_SUFFIXES:
            continue
        rel = path.relative_to(folder)
        if len(rel.parts) > 1:
            label_text = rel.parts[0]
        elif m := _LABEL_PREFIX.match(path.name):
            label_text = m.group(1)
        else:
            raise DataError(f"{path}: cannot tell its label; name photos N_*.jpg or put them in a subfolder N/.")
        if not label_text.isdigit() or int(label_text) >= NUM_CLASSES:
            raise DataError(f"{path}: unknown label {label_text!r}; labels are 0..{NUM_CLASSES - 1}.")
        items.append((path, int(label_text)))
    if not items:
        raise DataError(f"{folder}: no photos found ({', '.join(sorted(PHOTO_SUFFIXES))}).")
    from .photo import prepare_photo  # photo.py builds on this module

    x = np.stack([prepare_photo(p) for p, _ in items])
    y = np.array([label for _, label in items], dtype=np.int64)
    return x, y


def to_inputs(x: np.ndarray) -> np.ndarray:
    """uint8 pixels -> float32 in [0, 1], the scaling every model in the course is trained with."""
    return np.asarray(x, np.float32) / 255.0


def one_hot(y: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    import keras

    return keras.utils.to_categorical(np.asarray(y).reshape(-1), num_classes)


def class_counts(y: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    return np.bincount(np.asarray(y).reshape(-1), minlength=num_classes)


def augment(images: np.ndarray, rng: np.random.Generator, max_shift: int = 4, max_angle: float = 12.0,
            max_zoom: float = 0.1, colour: float = 0.08) -> np.ndarray:
    """A fresh random variant of each image: mirrored or not, turned by up to `max_angle` degrees, zoomed by
    up to `max_zoom`, shifted by up to `max_shift` pixels, its brightness, contrast and colour balance
    changed by up to `colour`. Edges are repeated, not filled with black.

    A hand sign means the same in a mirror, a little turned, nearer or further, or under other light, so
    these are safe; they stop a network from memorising its training images and make it less sensitive
    to the ways a photo differs from the rendered ones. NumPy and Pillow keep it identical on every backend.
    """
    from PIL import Image

    n, h, w = images.shape[:3]
    pad = h // 4
    out = np.empty_like(images)
    for i in range(n):
        img = images[i, :, ::-1] if rng.random() < 0.5 else images[i]
        padded = Image.fromarray(np.pad(img, ((pad, pad), (pad, pad), (0, 0)), mode="edge"))
        angle = np.radians(rng.uniform(-max_angle, max_angle))
        zoom = 1 + rng.uniform(-max_zoom, max_zoom)
        dx, dy = rng.uniform(-max_shift, max_shift, 2)
        # Pillow's affine maps output pixels to input pixels: rotate and scale about the centre, then shift.
        c, s = np.cos(angle) / zoom, np.sin(angle) / zoom
        cx = cy = pad + h / 2
        matrix = (c, s, cx - c * cx - s * cy + dx, -s, c, cy + s * cx - c * cy + dy)
        turned = padded.transform(padded.size, Image.AFFINE, matrix, resample=Image.BILINEAR)
        pixels = np.asarray(turned, np.float32)[pad : pad + h, pad : pad + w]
        gain = (1 + rng.uniform(-colour, colour)) * (1 + rng.normal(0, colour / 3, 3))
        contrast = 1 + rng.uniform(-colour, colour)
        mean = pixels.mean()
        out[i] = np.clip((pixels - mean) * contrast + mean * gain, 0, 255).round().astype(np.uint8)
    return out


def with_validation(signs: Signs, fraction: float = 0.1, seed: int = 0) -> Signs:
    """`signs` with a validation split: its own when the source has one (val_signs.h5 or val_signs/),
    otherwise `fraction` of every class held out of the training images. The test set is left alone, to be
    used once at the end."""
    if signs.x_val is not None:
        return signs
    rng = np.random.default_rng(seed)
    held = np.zeros(len(signs.y_train), bool)
    for label in np.unique(signs.y_train):
        idx = np.flatnonzero(signs.y_train == label)
        held[rng.choice(idx, size=max(1, int(round(len(idx) * fraction))), replace=False)] = True
    return replace(signs, x_train=signs.x_train[~held], y_train=signs.y_train[~held], x_val=signs.x_train[held],
                   y_val=signs.y_train[held])


def batches(x: np.ndarray, y: np.ndarray | None = None, batch_size: int = 32, shuffle: bool = False, seed: int = 0,
            augmented: bool = False):
    """A `keras.utils.PyDataset` of (inputs, one-hot labels) batches: works on every Keras backend.

    `augmented=True` applies `augment` to every training batch (a fresh draw each epoch).
    """
    import keras

    class SignsBatches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.order = np.arange(len(x))
            self.rng = np.random.default_rng(seed)
            if shuffle:
                self.rng.shuffle(self.order)

        def __len__(self):
            return -(-len(x) // batch_size)

        def __getitem__(self, i):
            idx = self.order[i * batch_size : (i + 1) * batch_size]
            images = augment(x[idx], self.rng) if augmented else x[idx]
            inputs = to_inputs(images)
            return inputs if y is None else (inputs, one_hot(y[idx]))

        def on_epoch_end(self):
            if shuffle:
                self.rng.shuffle(self.order)

    return SignsBatches()
