"""The architectures `train fit --arch NAME` builds: one short function each, plus its recipe.

Every model takes (size, size, 1) grayscale pixels in 0..255 (Rescaling to [-1, 1] is its first
layer, so no caller has to remember the scaling) and ends in a float32 softmax over the classes.

- vgg-small (CPU default): four VGG stages of 3x3 conv + BN + ReLU (32, 64, 128, 256 filters; one
  conv in the first stage, where the resolution makes convs dear, two in the others), max pooling,
  global average pooling, dropout. 1.2 M parameters, ~95 M multiply-adds per 48x48 face: an epoch
  of FER2013 takes 36-40 s on two free cores in bfloat16 (BENCHMARKS.md). Decoupled weight decay 0.5
  on the kernels: with RMSProp at 1e-3 it pulls the weights back over ~2,000 steps (9 epochs),
  which keeps the effective step of the batch-normalised convolutions from shrinking as their
  weights grow (+2 points at 10 epochs, BENCHMARKS.md).
- resnet9-16: David Page's fast-CIFAR ResNet-9 layout at a quarter width (0.41 M). Measured slower
  to converge here than vgg-small (global max pooling); kept for comparison.
- vgg-kc: the VGG variant of Khaireddin & Chen 2021 ("Facial Emotion Recognition: State of the Art
  Performance on FER2013", 73.3%): four stages of two 3x3 conv + BN + ReLU (64..512), max pooling,
  two dense layers of 1024 with dropout, SGD with Nesterov momentum and ReduceLROnPlateau. For a GPU.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from training.errors import TrainingError
from training.layers import fused_batch_normalization
from training.tfenv import load


@dataclass(frozen=True)
class Recipe:
    """An architecture and the hyper-parameters it was tuned with (fit's options override them)."""

    name: str
    build: Callable  # (size, n_classes, dropout, norm layer class) -> keras.Model
    summary: str
    device: str  # "cpu" or "gpu": where the recipe is meant to run (either works)
    epochs: int
    batch: int
    lr: float
    optimizer: str  # rmsprop | adam | sgd
    schedule: str  # cosine (warm-up then cosine decay) | plateau (ReduceLROnPlateau)
    dropout: float = 0.2
    weight_decay: float = 0.0  # decoupled (w -= lr * wd * w), on kernels only (schedule.optimizer)
    fold_epochs: int = 0  # a cross-validation's fold models (K of them: fewer); 0: epochs // 2


def _conv_bn_relu(x, filters: int, norm):
    layers = load().keras.layers
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
    x = norm(momentum=0.9)(x)  # Keras' 0.99 lags the weights in a short, fast schedule
    return layers.ReLU()(x)


def _residual(x, filters: int, norm):
    y = _conv_bn_relu(_conv_bn_relu(x, filters, norm), filters, norm)
    return load().keras.layers.Add()([x, y])


def _inputs(size: int):
    keras = load().keras
    inputs = keras.Input((size, size, 1), name="pixels")
    return inputs, keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="to_unit_range")(inputs)


def _head(x, n_classes: int, dropout: float):
    layers = load().keras.layers
    x = layers.Dropout(dropout)(x)
    x = layers.Dense(n_classes, name="logits")(x)
    return layers.Activation("softmax", dtype="float32", name="probabilities")(x)  # float32 under mixed precision


def resnet9(size: int, n_classes: int, width: int = 16, dropout: float = 0.2, norm=None):
    keras = load().keras
    norm = norm or keras.layers.BatchNormalization
    pool = keras.layers.MaxPooling2D
    inputs, x = _inputs(size)
    x = _conv_bn_relu(x, width, norm)  # prep
    x = _residual(pool()(_conv_bn_relu(x, 2 * width, norm)), 2 * width, norm)  # 1/2
    x = pool()(_conv_bn_relu(x, 4 * width, norm))  # 1/4
    x = _residual(pool()(_conv_bn_relu(x, 8 * width, norm)), 8 * width, norm)  # 1/8
    x = keras.layers.GlobalMaxPooling2D()(x)
    return keras.Model(inputs, _head(x, n_classes, dropout), name=f"resnet9_{width}")


def vgg(size: int, n_classes: int, widths=(32, 64, 128, 256), convs=(1, 2, 2, 2), dropout: float = 0.3, norm=None):
    keras = load().keras
    norm = norm or keras.layers.BatchNormalization
    inputs, x = _inputs(size)
    for filters, n in zip(widths, convs):
        for _ in range(n):
            x = _conv_bn_relu(x, filters, norm)
        x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, _head(x, n_classes, dropout), name="vgg_small")


def vgg_kc(size: int, n_classes: int, dropout: float = 0.5, norm=None):
    keras = load().keras
    layers = keras.layers
    norm = norm or layers.BatchNormalization
    inputs, x = _inputs(size)
    for filters in (64, 128, 256, 512):
        x = layers.MaxPooling2D()(_conv_bn_relu(_conv_bn_relu(x, filters, norm), filters, norm))
    x = layers.Flatten()(x)
    for _ in range(2):
        x = layers.Dropout(dropout)(layers.ReLU()(layers.Dense(1024)(x)))
    x = layers.Dense(n_classes, name="logits")(x)
    outputs = layers.Activation("softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="vgg_kc")


RECIPES = {
    r.name: r
    for r in (
        Recipe("vgg-small", lambda s, k, d, norm: vgg(s, k, dropout=d, norm=norm),
               "VGG stages 32-256, global average pooling", "cpu",
               epochs=40, batch=128, lr=1e-3, optimizer="rmsprop", schedule="cosine", dropout=0.3,
               weight_decay=0.5, fold_epochs=15),
        Recipe("resnet9-16", lambda s, k, d, norm: resnet9(s, k, 16, d, norm),
               "ResNet-9 layout (Page) at width 16", "cpu",
               epochs=20, batch=128, lr=1e-3, optimizer="rmsprop", schedule="cosine"),
        Recipe("vgg-kc", lambda s, k, d, norm: vgg_kc(s, k, d, norm),
               "VGG of Khaireddin & Chen 2021 (73% on FER2013 on a GPU)", "gpu",
               epochs=300, batch=64, lr=0.01, optimizer="sgd", schedule="plateau", dropout=0.5),
    )
}
DEFAULT_ARCH = "vgg-small"


def recipe(name: str) -> Recipe:
    try:
        return RECIPES[name]
    except KeyError:
        raise TrainingError(f"unknown architecture {name!r}; known: {', '.join(RECIPES)} (see `train fit --arch list`)") from None


def build(name: str, size: int, n_classes: int, dropout: float | None = None, for_training: bool = False):
    """The network. for_training: with the fused batch normalisation (training.layers), the same
    weights and inference as the stock layer that a saved model holds, trained 1.5x faster."""
    r = recipe(name)
    norm = fused_batch_normalization() if for_training else load().keras.layers.BatchNormalization
    return r.build(size, n_classes, r.dropout if dropout is None else dropout, norm)


def parameter_counts(size: int = 48, n_classes: int = 7) -> dict[str, int]:
    """Each architecture's parameter count at this input size (what `--arch list` prints)."""
    return {name: build(name, size, n_classes).count_params() for name in RECIPES}
