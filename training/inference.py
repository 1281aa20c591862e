"""Class probabilities of faces, with optional test-time augmentation.

tta "flip": the mean over the face and its mirror image. "flip+shifts": also four copies shifted by
2 pixels (edges repeated), mirrored too: ten views (measured in BENCHMARKS.md).

The network runs through one compiled call per model (a tf.function over any batch size) rather
than `Model.predict`, whose set-up costs ~100 ms a call: a photo's two faces take a few ms, which
`train serve` and video need; the figures are the same to the last bit (BENCHMARKS.md).
"""
from __future__ import annotations

import weakref

import numpy as np

from training.data import as_input

TTA_MODES = ("none", "flip", "flip+shifts")
SHIFT = 2
BATCH = 256

_compiled: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


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


def compiled(model):
    """The model's forward pass (inference mode) as a tf.function over (None, S, S, 1) float32."""
    fn = _compiled.get(model)
    if fn is None:
        from training.tfenv import load

        tf = load().tf
        shape = [None, *model.inputs[0].shape[1:]]
        fn = tf.function(lambda x: model(x, training=False), input_signature=[tf.TensorSpec(shape, tf.float32)])
        _compiled[model] = fn
    return fn


def _run(model, x: np.ndarray, batch: int) -> np.ndarray:
    fn = compiled(model)
    return np.concatenate([np.asarray(fn(x[i:i + batch])) for i in range(0, len(x), batch)])


def probabilities(model, pixels: np.ndarray, tta: str = "none", batch: int = BATCH) -> np.ndarray:
    """(N, K) probabilities for (N, S, S) uint8 faces at the model's input size."""
    if len(pixels) == 0:
        return np.zeros((0, model.outputs[0].shape[-1]), dtype=np.float32)
    views = _views(pixels, tta)
    total = sum(_run(model, as_input(np.ascontiguousarray(v)), batch) for v in views)
    return (total / len(views)).astype(np.float32)
