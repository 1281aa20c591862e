"""tf.data pipelines over in-memory face arrays, and the augmentation layers.

Training: seeded shuffle -> batch -> augmentation (Keras preprocessing layers, in the tf.data map on
a CPU; inside the model on a GPU, see fit.py) -> prefetch. Batches are (pixels, one-hot labels,
sample weights): the class weights are applied as per-face sample weights, so the same pipeline
serves weighted and unweighted training.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from training.tfenv import load


@dataclass(frozen=True)
class Augment:
    """Random changes to each training face: mirror (left-right only), rotation, shift, zoom, and
    random erasing (a rectangle of noise over part of the face, Zhong et al. 2017)."""

    flip: bool = True
    rotation: float = 0.03  # fraction of a full turn: +-11 degrees
    shift: float = 0.1  # fraction of the side
    zoom: float = 0.1  # fraction of the side, in or out
    erase: float = 0.0  # probability that a face gets a rectangle of noise
    erase_area: tuple[float, float] = (0.02, 0.25)  # its area, as a fraction of the face

    def as_dict(self) -> dict:
        return asdict(self)

    def layers(self, seed: int):
        """A keras.Sequential of preprocessing layers (identity when nothing is enabled)."""
        keras = load().keras
        L = keras.layers
        steps = []
        if self.flip:
            steps.append(L.RandomFlip("horizontal", seed=seed))  # its default would also flip upside down
        if self.rotation:
            steps.append(L.RandomRotation(self.rotation, fill_mode="reflect", seed=seed + 1))
        if self.shift:
            steps.append(L.RandomTranslation(self.shift, self.shift, fill_mode="reflect", seed=seed + 2))
        if self.zoom:
            steps.append(L.RandomZoom(self.zoom, fill_mode="reflect", seed=seed + 3))
        if self.erase:
            steps.append(L.RandomErasing(factor=(self.erase, self.erase), scale=self.erase_area, seed=seed + 4))
        return keras.Sequential(steps, name="augment")


NO_AUGMENT = Augment(flip=False, rotation=0.0, shift=0.0, zoom=0.0, erase=0.0)


def class_weights(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """n / (K * count_k) per class (sklearn's "balanced"); 0 for a class without faces."""
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    return np.where(counts > 0, len(labels) / (n_classes * np.maximum(counts, 1)), 0.0)


def as_input(pixels: np.ndarray) -> np.ndarray:
    """(N, S, S) uint8 -> (N, S, S, 1) float32 in 0..255: what every model takes."""
    return pixels.astype(np.float32)[..., None]


def train_dataset(pixels: np.ndarray, labels: np.ndarray, n_classes: int, batch: int, seed: int,
                  augment=None, weights: np.ndarray | None = None):
    """Shuffled (seeded, reshuffled each epoch), batched, augmented, prefetched training batches."""
    tf = load().tf
    w = np.ones(len(labels), np.float32) if weights is None else weights[labels].astype(np.float32)
    ds = tf.data.Dataset.from_tensor_slices((pixels[..., None], labels.astype(np.int32), w))
    ds = ds.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True).batch(batch)

    def prepare(x, y, sw):
        x = tf.cast(x, tf.float32)
        if augment is not None:
            x = augment(x, training=True)
        return x, tf.one_hot(y, n_classes), sw

    # deterministic=True keeps batch order (and so the augmentation draws) fixed for a seed.
    ds = ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def eval_dataset(pixels: np.ndarray, labels: np.ndarray, n_classes: int, batch: int = 256):
    tf = load().tf
    ds = tf.data.Dataset.from_tensor_slices((pixels[..., None], labels.astype(np.int32)))
    ds = ds.batch(batch).map(lambda x, y: (tf.cast(x, tf.float32), tf.one_hot(y, n_classes)))
    return ds.prefetch(tf.data.AUTOTUNE)
