"""Explanations: which pixels of a face drove the model's decision (Grad-CAM, Selvaraju et al. 2017).

For a class c, the gradient of its score (the logit before the softmax) with respect to the feature
maps A_k of the last convolution, averaged over the map, weighs each map: cam = ReLU(sum_k w_k A_k).
The map is upsampled to the face's size and scaled to 0..1 (its maximum is 1; all zeros when nothing
speaks for the class). "The last convolution" is the last convolution layer of the network with the
batch normalisation and activation right after it (its rectified feature maps), so it works for
any architecture of training/archs.py.

An ensemble's map is the mean of its members' maps, each at the face's size. The overlay is the map
in a colour scale (matplotlib's "jet": blue nothing, red most) blended over the grayscale face.
"""
from __future__ import annotations

import io
import weakref
from typing import Sequence

import numpy as np
from PIL import Image

from training.errors import TrainingError

_FOLLOWERS = ("BatchNormalization", "ReLU", "Activation", "LeakyReLU", "ELU", "PReLU")
_models: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
ALPHA = 0.45  # how much of the colour covers the face


def target_layer(net):
    """The layer whose output Grad-CAM weighs: the last convolution, or the normalisation and
    activation that directly follow it."""
    layers = net.layers
    conv = max((i for i, layer in enumerate(layers) if "Conv" in type(layer).__name__), default=None)
    if conv is None:
        raise TrainingError(f"model {net.name} has no convolution layer to explain")
    i = conv
    while i + 1 < len(layers) and type(layers[i + 1]).__name__ in _FOLLOWERS:
        i += 1
    return layers[i]


def _cam_model(net):
    """net's input -> (the target layer's maps, the class scores before the softmax)."""
    found = _models.get(net)
    if found is None:
        from training.tfenv import load

        keras, tf = load().keras, load().tf
        last = net.layers[-1]
        is_softmax = type(last).__name__ == "Activation" and getattr(last.activation, "__name__", "") == "softmax"
        scores = last.input if is_softmax else net.outputs[0]
        model = keras.Model(net.inputs, [target_layer(net).output, scores])

        @tf.function(input_signature=[tf.TensorSpec([None, *net.inputs[0].shape[1:]], tf.float32),
                                      tf.TensorSpec([None], tf.int32)])
        def cams(x, index):
            with tf.GradientTape() as tape:
                maps, score = model(x, training=False)
                chosen = tf.reduce_sum(tf.cast(score, tf.float32) * tf.one_hot(index, tf.shape(score)[-1]), axis=-1)
            # The faces are independent (inference mode), so one gradient of the sum gives each its own.
            grads = tf.cast(tape.gradient(chosen, maps), tf.float32)
            weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
            return tf.nn.relu(tf.reduce_sum(weights * tf.cast(maps, tf.float32), axis=-1))

        found = (model, cams)
        _models[net] = found
    return found


def gradcam(net, pixels: np.ndarray, class_index: Sequence[int] | int) -> np.ndarray:
    """(N, S, S) maps in 0..1 for (N, S, S) uint8 faces at the model's input size, each for its class
    (an index into the model's outputs)."""
    n, size = len(pixels), pixels.shape[1] if len(pixels) else 0
    if n == 0:
        return np.zeros((0, size, size), np.float32)
    index = np.broadcast_to(np.asarray(class_index, dtype=np.int32), (n,))
    _, cams = _cam_model(net)
    raw = np.asarray(cams(pixels.astype(np.float32)[..., None], np.ascontiguousarray(index)))
    out = np.zeros((n, size, size), np.float32)
    for i, cam in enumerate(raw):
        out[i] = _normalised(_resized(cam, size))
    return out


def _resized(cam: np.ndarray, side: int) -> np.ndarray:
    return np.asarray(Image.fromarray(cam.astype(np.float32)).resize((side, side), Image.Resampling.BICUBIC))


def _normalised(cam: np.ndarray) -> np.ndarray:
    cam = np.maximum(cam, 0)
    top = float(cam.max())
    return (cam / top).astype(np.float32) if top > 0 else np.zeros_like(cam, dtype=np.float32)


def ensemble_maps(ens, inputs: Sequence[np.ndarray], classes: Sequence[str], side: int) -> np.ndarray:
    """(N, side, side): the mean of the members' maps for these classes (one name per face).
    inputs: each member's faces at its input size (photos.member_inputs)."""
    n = len(classes)
    total = np.zeros((n, side, side), np.float32)
    if n == 0:
        return total
    for m, pixels in zip(ens.members, inputs):
        unknown = sorted(set(classes) - set(m.card.classes))
        if unknown:
            raise TrainingError(f"model {m.card.name} has no class {unknown[0]!r} (its classes: {', '.join(m.card.classes)})")
        maps = gradcam(m.net, pixels, [m.card.classes.index(k) for k in classes])
        total += np.stack([_resized(c, side) for c in maps]) if maps.shape[1] != side else maps
    return np.stack([_normalised(c) for c in total / len(ens.members)])


def overlay(face: np.ndarray, cam: np.ndarray, alpha: float = ALPHA) -> np.ndarray:
    """(H, W, 3) uint8: the map's colours over the grayscale face (the map resized to the face)."""
    from matplotlib import colormaps

    h, w = face.shape[:2]
    if cam.shape != (h, w):
        cam = np.clip(np.asarray(Image.fromarray(cam.astype(np.float32)).resize((w, h), Image.Resampling.BICUBIC)), 0, 1)
    colour = colormaps["jet"](cam)[..., :3]
    gray = np.repeat((face.astype(np.float32) / 255.0)[..., None], 3, axis=2)
    # Weak parts of the map let the face show through more: the eye finds the hot region at once.
    a = alpha * (0.35 + 0.65 * cam[..., None])
    return np.clip(255 * ((1 - a) * gray + a * colour), 0, 255).astype(np.uint8)


def png(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()
