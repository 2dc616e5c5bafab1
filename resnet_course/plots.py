"""The plot helpers every notebook uses: samples, class balance, training curves, confusion, mistakes."""

from __future__ import annotations

import numpy as np

from .data import NUM_CLASSES, class_counts


def _plt():
    import matplotlib.pyplot as plt

    return plt


def sample_grid(x: np.ndarray, y: np.ndarray, per_class: int = 8, seed: int = 0, title: str | None = None):
    """A grid with one row per class: `per_class` random images of each label."""
    plt = _plt()
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(NUM_CLASSES, per_class, figsize=(per_class * 1.1, NUM_CLASSES * 1.15))
    for label in range(NUM_CLASSES):
        idx = np.flatnonzero(y == label)
        chosen = rng.choice(idx, size=min(per_class, len(idx)), replace=False) if len(idx) else []
        for j in range(per_class):
            ax = axes[label, j]
            ax.set_xticks([]), ax.set_yticks([])
            if j < len(chosen):
                ax.imshow(x[chosen[j]])
            if j == 0:
                ax.set_ylabel(f"{label}", rotation=0, labelpad=12, fontsize=12)
    fig.suptitle(title or "Samples per class (row = number of raised fingers)")
    fig.tight_layout()
    return fig


def class_balance(**splits: np.ndarray):
    """Bar chart of how many images each label has, one group of bars per split: class_balance(train=y, test=y).
    A split given as None (a source without validation images) is left out."""
    plt = _plt()
    splits = {name: y for name, y in splits.items() if y is not None}
    fig, ax = plt.subplots(figsize=(6, 3))
    width = 0.8 / max(1, len(splits))
    for k, (name, y) in enumerate(splits.items()):
        counts = class_counts(y)
        bars = ax.bar(np.arange(NUM_CLASSES) + k * width, counts, width, label=f"{name} ({len(y)})")
        ax.bar_label(bars, fontsize=8)
    ax.set_xticks(np.arange(NUM_CLASSES) + width * (len(splits) - 1) / 2, [str(c) for c in range(NUM_CLASSES)])
    ax.set_xlabel("label (raised fingers)")
    ax.set_ylabel("images")
    ax.legend()
    fig.tight_layout()
    return fig


def training_curves(history):
    """Loss and accuracy per epoch from a `keras.callbacks.History` (or its `.history` dict)."""
    plt = _plt()
    h = getattr(history, "history", history)
    epochs = np.arange(1, len(h["loss"]) + 1)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.5))
    for key, ax in (("loss", ax_loss), ("accuracy", ax_acc)):
        ax.plot(epochs, h[key], "o-", label="train")
        if f"val_{key}" in h:
            ax.plot(epochs, h[f"val_{key}"], "s--", label="validation")
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.grid(alpha=0.3)
        ax.legend()
    ax_acc.set_ylim(0, 1.02)
    fig.tight_layout()
    return fig


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """counts[i, j] = how many images of label i were predicted as j."""
    y_true, y_pred = np.asarray(y_true).reshape(-1), np.asarray(y_pred).reshape(-1)
    return np.bincount(y_true * num_classes + y_pred, minlength=num_classes**2).reshape(num_classes, num_classes)


def plot_confusion(y_true: np.ndarray, y_pred: np.ndarray):
    plt = _plt()
    counts = confusion_matrix(y_true, y_pred)
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.imshow(counts, cmap="Blues")
    for i in range(NUM_CLASSES):
        for j in range(NUM_CLASSES):
            colour = "white" if counts[i, j] > counts.max() / 2 else "black"
            ax.text(j, i, counts[i, j], ha="center", va="center", color=colour)
    ax.set_xticks(range(NUM_CLASSES)), ax.set_yticks(range(NUM_CLASSES))
    ax.set_xlabel("predicted"), ax.set_ylabel("true")
    ax.set_title(f"accuracy {np.trace(counts) / counts.sum():.3f}")
    fig.tight_layout()
    return fig


def show_misclassified(x: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray, max_images: int = 12):
    """The images the model got wrong, each titled 'true -> predicted'."""
    plt = _plt()
    wrong = np.flatnonzero(np.asarray(y_true) != np.asarray(y_pred))[:max_images]
    if len(wrong) == 0:
        fig, ax = plt.subplots(figsize=(4, 1))
        ax.axis("off")
        ax.text(0.5, 0.5, "no misclassified images", ha="center", va="center")
        return fig
    cols = min(6, len(wrong))
    rows = -(-len(wrong) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.7, rows * 2.1), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, wrong):
        ax.imshow(x[i])
        ax.set_title(f"{y_true[i]} -> {y_pred[i]}", color="firebrick", fontsize=10)
    fig.suptitle("Misclassified (true -> predicted)")
    fig.tight_layout()
    return fig


def show_prediction(image: np.ndarray, probabilities: np.ndarray):
    """The image the model saw (64x64) beside its probability for each label."""
    plt = _plt()
    fig, (ax_img, ax_bar) = plt.subplots(1, 2, figsize=(7, 2.8), gridspec_kw={"width_ratios": [1, 1.6]})
    ax_img.imshow(image)
    ax_img.axis("off")
    ax_img.set_title("what the model sees (64x64)")
    p = np.asarray(probabilities).reshape(-1)
    bars = ax_bar.bar(range(len(p)), p, color=["tab:blue" if k != p.argmax() else "tab:orange" for k in range(len(p))])
    ax_bar.bar_label(bars, fmt="%.2f", fontsize=8)
    ax_bar.set_ylim(0, 1.1)
    ax_bar.set_xlabel("label (raised fingers)")
    ax_bar.set_title(f"prediction: {p.argmax()}")
    fig.tight_layout()
    return fig


# --- "Why residual networks?": small images, gradient norms, training error, the identity --------------------------


def small_image_pairs(images: np.ndarray, small: np.ndarray, labels: np.ndarray, per_class: int = 1):
    """Each chosen 64x64 photo beside the small grayscale image the dense networks see."""
    plt = _plt()
    chosen = [int(np.flatnonzero(labels == c)[k]) for c in range(NUM_CLASSES) for k in range(per_class)
              if k < np.count_nonzero(labels == c)]
    fig, axes = plt.subplots(2, len(chosen), figsize=(1.3 * len(chosen), 2.9), squeeze=False)
    for j, i in enumerate(chosen):
        axes[0, j].imshow(images[i])
        axes[0, j].set_title(f"label {labels[i]}", fontsize=9)
        axes[1, j].imshow(small[i], cmap="gray")
        for ax in axes[:, j]:
            ax.set_xticks([]), ax.set_yticks([])
    axes[0, 0].set_ylabel("photo", fontsize=9)
    axes[1, 0].set_ylabel(f"{small.shape[1]}x{small.shape[2]} input", fontsize=9)
    fig.tight_layout()
    return fig


def _depth_colours(depths):
    plt = _plt()
    cmap = plt.get_cmap("viridis")
    depths = sorted(depths)
    return {d: cmap(0.85 * k / max(1, len(depths) - 1)) for k, d in enumerate(depths)}


def gradient_norms(norms: dict, title: str = "Gradient norm per layer"):
    """Per-layer gradient norms, {(depth, residual): array}: plain nets left, residual nets right, log scale."""
    plt = _plt()
    depths = sorted({d for d, _ in norms})
    colours = _depth_colours(depths)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    for ax, residual in zip(axes, (False, True)):
        for d in depths:
            if (d, residual) not in norms:
                continue
            values = np.asarray(norms[(d, residual)], dtype=float)
            ax.plot(np.arange(1, len(values) + 1), np.where(values > 0, values, np.nan), "o-", ms=3,
                    color=colours[d], label=f"{d} block{'s' if d != 1 else ''} ({len(values)} layers)")
        ax.set_yscale("log")
        ax.set_xlabel("Dense layer (1 = next to the input)")
        ax.set_title(f"{'residual' if residual else 'plain'} networks")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    axes[0].set_ylabel("norm of d loss / d kernel")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def training_error(runs):
    """Training error per epoch (left) and at the end against depth (right), plain dashed, residual solid."""
    plt = _plt()
    depths = sorted({r.depth for r in runs})
    colours = _depth_colours(depths)
    fig, (ax_epochs, ax_depth) = plt.subplots(1, 2, figsize=(11, 3.8))
    for r in runs:
        epochs = np.arange(1, len(r.train_error) + 1)
        ax_epochs.plot(epochs, r.train_error, "-" if r.residual else "--", color=colours[r.depth],
                       label=f"{'residual' if r.residual else 'plain'} {r.depth}")
    ax_epochs.set_xlabel("epoch")
    ax_epochs.set_ylabel("training error")
    ax_epochs.set_ylim(0, 1)
    ax_epochs.set_title("training error per epoch (dashed: plain, solid: residual)")
    ax_epochs.grid(alpha=0.3)
    ax_epochs.legend(fontsize=7, ncol=2)
    for residual, style in ((False, "s--"), (True, "o-")):
        chosen = sorted((r for r in runs if r.residual == residual), key=lambda r: r.depth)
        layers = [2 * r.depth + 2 for r in chosen]
        ax_depth.plot(layers, [r.final_error for r in chosen], style, label="residual" if residual else "plain")
    ax_depth.set_xlabel("depth (Dense layers)")
    ax_depth.set_ylabel("training error after the last epoch")
    ax_depth.set_ylim(0, 1)
    ax_depth.set_title("final training error against depth")
    ax_depth.grid(alpha=0.3)
    ax_depth.legend()
    fig.tight_layout()
    return fig


def identity_demo(a: np.ndarray, outputs: dict):
    """a[l] beside the output of a residual and of a plain block whose last layer is zero."""
    plt = _plt()
    panels = [("a[l] (input)", a)] + [(f"{name} block output", out) for name, out in outputs.items()]
    vmax = max(float(np.abs(p).max()) for _, p in panels) or 1.0
    fig, axes = plt.subplots(1, len(panels), figsize=(3.3 * len(panels), 2.6))
    for ax, (name, values) in zip(axes, panels):
        image = ax.imshow(values, cmap="viridis", vmin=0, vmax=vmax)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("unit")
    axes[0].set_ylabel("example")
    fig.colorbar(image, ax=axes, shrink=0.8)
    return fig
