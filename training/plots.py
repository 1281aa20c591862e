"""The pictures `train` draws (matplotlib's Agg backend: no display needed).

- curves.png: loss and accuracy per epoch, train and validation, the best epoch marked;
- confusion.png: the confusion matrix normalised by true class, with the counts, class names on both axes;
- a photo with each face's box and top class, beside a probability bar chart per face (predict --plot),
  with --explain each face's Grad-CAM map too;
- a grid of the most confident mistakes, each face with its label and the prediction (--plot-errors).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
import numpy as np  # noqa: E402

SUFFIXES = (".png", ".svg", ".pdf")


def curves(history: dict[str, list[float]], path: Path, title: str = "") -> None:
    """history: Keras' History.history / history.csv columns (loss, accuracy, val_loss, val_accuracy)."""
    epochs = np.arange(1, len(history.get("loss", [])) + 1)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    for ax, key, name in ((ax_loss, "loss", "loss"), (ax_acc, "accuracy", "accuracy")):
        if key in history:
            ax.plot(epochs, history[key], marker="o", ms=3, label=f"train {name}")
        if f"val_{key}" in history:
            ax.plot(epochs, history[f"val_{key}"], marker="o", ms=3, label=f"validation {name}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    if history.get("val_accuracy"):
        best = int(np.argmax(history["val_accuracy"]))
        ax_acc.axvline(best + 1, color="gray", ls="--", lw=1,
                       label=f"best: {history['val_accuracy'][best]:.1%} (epoch {best + 1})")
    ax_acc.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
    for ax in (ax_loss, ax_acc):
        ax.legend()
    fig.suptitle(title or "Training curves")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def confusion(matrix: np.ndarray, classes: Sequence[str], path: Path, title: str = "") -> None:
    """Rows: true class, normalised to 1; each cell shows its share and its count."""
    matrix = np.asarray(matrix)
    totals = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, totals, out=np.zeros(matrix.shape), where=totals > 0)
    k = len(classes)
    side = max(5.0, 0.8 * k + 2.5)
    fig, ax = plt.subplots(figsize=(side + 1.2, side), layout="constrained")
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            ax.text(j, i, f"{share[i, j]:.0%}\n{matrix[i, j]}", ha="center", va="center", fontsize=8,
                    color="white" if share[i, j] > 0.5 else "black")
    ax.set_xticks(range(k), classes, rotation=45, ha="right")
    ax.set_yticks(range(k), [f"{c} ({int(t)})" for c, t in zip(classes, totals[:, 0])])
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class (faces)")
    fig.colorbar(im, ax=ax, shrink=0.8, label="share of the true class")
    ax.set_title(title or "Confusion matrix (normalised by true class)")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def predictions(gray: np.ndarray, faces: Sequence[dict], classes: Sequence[str], path: Path, title: str = "",
                explanations: Sequence[np.ndarray] | None = None, explained: Sequence[str] | None = None) -> None:
    """The photo with numbered boxes and top labels, and one probability bar chart per face.

    faces: {"bbox": (left, top, width, height), "probabilities": {class: p}} in original pixels.
    explanations: per face an RGB picture (the aligned face with its Grad-CAM map, explain.overlay),
    drawn beside its bars; explained: the class each map is for.
    """
    n = max(len(faces), 1)
    shown = bool(explanations) and len(faces) > 0
    fig = plt.figure(figsize=(14 if shown else 12, max(4.5, (2.0 if shown else 1.6) * n + 1)), layout="constrained")
    grid = fig.add_gridspec(n, 3 if shown else 2, width_ratios=[1.6, 0.45, 1] if shown else [1.6, 1])
    ax_img = fig.add_subplot(grid[:, 0])
    ax_img.imshow(gray, cmap="gray", vmin=0, vmax=255)
    ax_img.set_axis_off()
    line = max(1.5, gray.shape[1] / 400)
    for i, face in enumerate(faces):
        left, top, w, h = face["bbox"]
        best = max(face["probabilities"], key=face["probabilities"].get)
        ax_img.add_patch(plt.Rectangle((left, top), w, h, fill=False, color="lime", lw=line))
        ax_img.text(left, top - 4, f"{i + 1}: {best} {face['probabilities'][best]:.0%}", color="black",
                    fontsize=10, va="bottom", bbox={"facecolor": "lime", "alpha": 0.85, "pad": 1.5, "lw": 0})
        if shown:
            ax_cam = fig.add_subplot(grid[i, 1])
            ax_cam.imshow(explanations[i])
            ax_cam.set_xticks([])
            ax_cam.set_yticks([])
            ax_cam.set_title(f"face {i + 1}: why {explained[i] if explained else best}", fontsize=9, loc="left")
        ax = fig.add_subplot(grid[i, 2 if shown else 1])
        probs = [face["probabilities"].get(k, 0.0) for k in classes]
        colors = ["tab:green" if k == best else "tab:gray" for k in classes]
        ax.barh(range(len(classes)), probs, color=colors)
        ax.set_yticks(range(len(classes)), classes, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_title(f"face {i + 1}", fontsize=9, loc="left")
        ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        if i == n - 1:
            ax.set_xlabel("probability")
        ax.grid(axis="x", alpha=0.3)
    if not faces:
        fig.add_subplot(grid[0, 1]).text(0.5, 0.5, "no face found", ha="center", va="center")
    fig.suptitle(title)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def errors(pixels: np.ndarray, true: Sequence[str], predicted: Sequence[str], confidence: Sequence[float],
           path: Path, title: str = "", columns: int = 8) -> None:
    """A grid of faces with "label / prediction p%" under each (the most confident mistakes first)."""
    n = len(pixels)
    rows = max(1, -(-n // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(1.6 * columns, 1.95 * rows + 0.6), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i >= n:
            continue
        ax.imshow(pixels[i], cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"label {true[i]}\nsaid {predicted[i]} {confidence[i]:.0%}", fontsize=8, y=-0.32)
    if n == 0:
        axes.flat[0].text(0.5, 0.5, "no mistakes", ha="center", va="center")
    fig.suptitle(title or "Most confident mistakes")
    fig.subplots_adjust(left=0.02, right=0.98, top=1 - 0.5 / (1.95 * rows + 0.6), bottom=0.08, hspace=0.55, wspace=0.1)
    fig.savefig(path, dpi=100)
    plt.close(fig)
