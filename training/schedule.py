"""Optimizers and learning-rate schedules, by name.

cosine: linear warm-up to the peak rate over the first epochs, then cosine decay to 1% of it at the
last epoch (Keras' CosineDecay with warmup_target): the whole budget is used, nothing to tune by
hand. plateau: a constant rate that ReduceLROnPlateau lowers when validation loss stalls (the
classic recipe; see callbacks.standard).
"""
from __future__ import annotations

from training.errors import TrainingError
from training.tfenv import load

OPTIMIZERS = ("rmsprop", "adam", "sgd")
SCHEDULES = ("cosine", "plateau")


def learning_rate(schedule: str, lr: float, steps_per_epoch: int, epochs: int, warmup_epochs: int,
                  final_fraction: float = 0.01):
    """A float (plateau) or a keras LearningRateSchedule (cosine, ending at final_fraction of the
    peak) over `epochs` epochs."""
    if schedule == "plateau":
        return lr
    if schedule != "cosine":
        raise TrainingError(f"unknown schedule {schedule!r}; use one of: {', '.join(SCHEDULES)}")
    keras = load().keras
    warmup = min(warmup_epochs, max(epochs - 1, 0)) * steps_per_epoch
    decay = max(1, epochs * steps_per_epoch - warmup)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=lr / 100 if warmup else lr, decay_steps=decay, alpha=final_fraction,
        warmup_target=lr if warmup else None, warmup_steps=warmup)


def optimizer(name: str, rate, weight_decay: float = 0.0):
    """The named optimizer. weight_decay: decoupled (each step w -= lr * wd * w), on kernels only:
    batch normalisation's scale and offset and the biases are not pulled to zero."""
    keras = load().keras
    wd = weight_decay or None
    if name == "rmsprop":
        opt = keras.optimizers.RMSprop(rate, weight_decay=wd)  # the mission's design
    elif name == "adam":
        opt = keras.optimizers.Adam(rate, weight_decay=wd)
    elif name == "sgd":
        opt = keras.optimizers.SGD(rate, momentum=0.9, nesterov=True, weight_decay=wd)
    else:
        raise TrainingError(f"unknown optimizer {name!r}; use one of: {', '.join(OPTIMIZERS)}")
    if wd:
        opt.exclude_from_weight_decay(var_names=["gamma", "beta", "bias"])
    return opt


def current_lr(opt) -> float:
    """The rate the optimizer uses at its current step (a schedule is evaluated)."""
    lr = opt.learning_rate
    return float(lr.numpy() if hasattr(lr, "numpy") else lr)
