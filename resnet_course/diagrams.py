"""The notebook's diagrams, drawn by code: the identity block, the convolutional block, ResNet50's stages.

    python -m resnet_course.diagrams solutions/resnet50/images    # writes the three PNGs
"""

from __future__ import annotations

import sys
from pathlib import Path

COLOURS = {"conv": "#9ecae1", "bn": "#fdd0a2", "relu": "#c7e9c0", "add": "#ffffff", "io": "#eeeeee",
           "pool": "#dadaeb", "dense": "#fcbba1"}


FONT = 11  # points, in a figure saved about 1000 px wide: what a notebook shows at normal zoom
DPI = 90


def _box(ax, x, y, text, kind, w=0.9, h=0.9, fontsize=FONT):
    from matplotlib.patches import FancyBboxPatch

    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.04", fc=COLOURS[kind],
                                ec="#444444", lw=1))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)


def _arrow(ax, p, q, **kw):
    ax.annotate("", xy=q, xytext=p, arrowprops=dict(arrowstyle="->", lw=1.2, color=kw.get("color", "#333333"),
                                                      connectionstyle=kw.get("style", "arc3")))


def draw_block(kind: str = "identity"):
    """The main path left to right, the shortcut above it, the addition and the final ReLU."""
    import matplotlib.pyplot as plt

    conv = kind == "convolutional"
    stride = "\nstride s" if conv else ""
    main = [("Conv2D\n1x1" + stride, "conv"), ("BN", "bn"), ("ReLU", "relu"), ("Conv2D\nf x f\nsame", "conv"),
            ("BN", "bn"), ("ReLU", "relu"), ("Conv2D\n1x1", "conv"), ("BN", "bn")]
    fig, ax = plt.subplots(figsize=(11, 3.4))
    _box(ax, 0, 0, "X", "io", w=0.7)
    for k, (text, style) in enumerate(main, start=1):
        _box(ax, k * 1.1, 0, text, style)
        _arrow(ax, ((k - 1) * 1.1 + 0.45, 0), (k * 1.1 - 0.45, 0))
    add_x = (len(main) + 1) * 1.1
    ax.add_patch(plt.Circle((add_x, 0), 0.3, fc="white", ec="#444444"))
    ax.text(add_x, 0, "+", ha="center", va="center", fontsize=16)
    _arrow(ax, (len(main) * 1.1 + 0.45, 0), (add_x - 0.3, 0))
    _box(ax, add_x + 1.1, 0, "ReLU", "relu")
    _arrow(ax, (add_x + 0.3, 0), (add_x + 0.65, 0))
    _box(ax, add_x + 2.2, 0, "out", "io", w=0.7)
    _arrow(ax, (add_x + 1.55, 0), (add_x + 1.85, 0))
    # The shortcut: a path above the main path.
    top = 1.5
    ax.plot([0, 0], [0.45, top], color="#c0392b", lw=1.5)
    if conv:
        ax.plot([0, 3.6], [top, top], color="#c0392b", lw=1.5)
        _box(ax, 4.4, top, "Conv2D 1x1\nstride s", "conv", w=1.5, h=0.8)
        _box(ax, 6.0, top, "BN", "bn", w=0.9, h=0.8)
        _arrow(ax, (3.6, top), (3.65, top), color="#c0392b")
        ax.plot([5.15, 5.55], [top, top], color="#c0392b", lw=1.5)
        ax.plot([6.45, add_x], [top, top], color="#c0392b", lw=1.5)
        label = "shortcut: 1x1 conv + BN to match the main path's shape"
    else:
        ax.plot([0, add_x], [top, top], color="#c0392b", lw=1.5)
        label = "shortcut: X itself (identity)"
    _arrow(ax, (add_x, top), (add_x, 0.3), color="#c0392b")
    ax.text(add_x / 2, top + (0.65 if conv else 0.3), label, ha="center", color="#c0392b", fontsize=FONT + 1)
    ax.set_xlim(-0.6, add_x + 2.8)
    ax.set_ylim(-0.8, top + 1.0)
    ax.axis("off")
    ax.set_title(f"The {kind} block", fontsize=FONT + 3)
    fig.tight_layout()
    return fig


def draw_stages():
    """ResNet50 for 64x64x3 inputs: the stem, four stages with their block counts and output shapes."""
    import matplotlib.pyplot as plt

    boxes = [
        ("input\n64x64x3", "io"), ("ZeroPad 3\nConv 7x7/2\nBN, ReLU\n32x32x64", "conv"),
        ("MaxPool\n3x3/2\n15x15x64", "pool"),
        ("stage 2\nconv s=1 + 2 id\n15x15x256", "conv"), ("stage 3\nconv s=2 + 3 id\n8x8x512", "conv"),
        ("stage 4\nconv s=2 + 5 id\n4x4x1024", "conv"), ("stage 5\nconv s=2 + 2 id\n2x2x2048", "conv"),
        ("AvgPool 2x2\nFlatten\n2048", "pool"), ("Dense 6\nsoftmax", "dense"),
    ]
    # Two rows, so that the labels stay readable at the width a notebook shows the picture.
    fig, ax = plt.subplots(figsize=(11, 4.8))
    per_row, step, width, height = 5, 2.2, 1.8, 1.5
    places = [(k % per_row * step + (step / 2 if k >= per_row else 0), 0 if k < per_row else -2.2)
              for k in range(len(boxes))]
    for (x, y), (text, style) in zip(places, boxes):
        _box(ax, x, y, text, style, w=width, h=height)
    for (x0, y0), (x1, y1) in zip(places, places[1:]):
        if y0 == y1:
            _arrow(ax, (x0 + width / 2, y0), (x1 - width / 2, y1))
        else:  # from the end of the first row down, back left, and down to the start of the second
            middle = (y0 + y1) / 2
            ax.plot([x0, x0, x1], [y0 - height / 2, middle, middle], color="#333333", lw=1.2)
            _arrow(ax, (x1, middle), (x1, y1 + height / 2))
    ax.set_xlim(-width / 2 - 0.2, (per_row - 1) * step + width / 2 + 0.2)
    ax.set_ylim(-2.2 - height / 2 - 0.2, height / 2 + 0.2)
    ax.axis("off")
    ax.set_title("ResNet50: 16 residual blocks (3 + 4 + 6 + 3), 53 convolutions, 23.6 M parameters", fontsize=FONT + 3)
    fig.tight_layout()
    return fig


def save_all(folder: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, fig in (("identity_block.png", draw_block("identity")),
                      ("convolutional_block.png", draw_block("convolutional")),
                      ("resnet50_stages.png", draw_stages())):
        # Fixed metadata so regenerating gives the same bytes.
        fig.savefig(folder / name, dpi=DPI, metadata={"Software": None})
        written.append(folder / name)
    return written


if __name__ == "__main__":
    for path in save_all(Path(sys.argv[1] if len(sys.argv) > 1 else "solutions/resnet50/images")):
        print("wrote", path)
