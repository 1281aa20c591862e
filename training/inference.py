"""Class probabilities of faces, with optional test-time augmentation.

tta "flip": the mean over the face and its mirror image. "flip+shifts": also four copies shifted by
2 pixels (edges repeated), mirrored too: ten views (measured in BENCHMARKS.md).
"""
from __future__ import annotations

import numpy as np

from training.data import as_input

TTA_MODES = ("none", "flip", "flip+shifts")
SHIFT = 2


def _views(pixels: np.ndarray, tta: str) -> list[np.ndarray]:
    views = [pixels]
    if tta in ("flip", "flip+shifts"):
        views.append(pixels[:, :, ::-1])
    if tta == "flip+shifts":
        padded = np.pad(pixels, ((0, 0), (SHIFT, SHIFT), (SHIFT, SHIFT)), mode="edge")
        s, n = SHIFT, pixels.shape[1]
        for dy, dx in ((0, 0), (0, 2 * s), (2 * s, 0), (2 * s, 2 * s)):
            shifted = padded[:, dy:dy + n, dx:dx + n]
            views += [shifted, shifted[:, :, ::-1]]
    return views


def probabilities(model, pixels: np.ndarray, tta: str = "none", batch: int = 256) -> np.ndarray:
    """(N, K) probabilities for (N, S, S) uint8 faces at the model's input size."""
    if len(pixels) == 0:
        return np.zeros((0, model.outputs[0].shape[-1]), dtype=np.float32)
    views = _views(pixels, tta)
    total = sum(model.predict(as_input(v), batch_size=batch, verbose=0) for v in views)
    return (total / len(views)).astype(np.float32)
