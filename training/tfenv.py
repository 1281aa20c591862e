"""TensorFlow, imported lazily and configured once: quiet logs, seeds, determinism, precision, threads.

Every module that needs TensorFlow or Keras calls `load()` inside its functions, never at import
time, so `train --help` does not pay TensorFlow's few seconds of start-up.
"""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from functools import lru_cache
from types import SimpleNamespace
from typing import Iterator

PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")


@lru_cache(maxsize=1)
def load() -> SimpleNamespace:
    """(tf, keras), imported with TensorFlow's start-up chatter hidden.

    TensorFlow 2.21 logs through C++ absl before TF_CPP_MIN_LOG_LEVEL is read ("All log messages
    before absl::InitializeLog()...", "oneDNN custom operations are on"), so stderr is pointed at
    /dev/null while it imports; FACECAT_DEBUG=1 shows everything.
    """
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    debug = os.environ.get("FACECAT_DEBUG") == "1"
    if not debug:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # C++ errors too: real ones reach Python as exceptions
    with _quiet_stderr(not debug):
        import tensorflow as tf
        import keras

    tf.get_logger().setLevel("ERROR")
    return SimpleNamespace(tf=tf, keras=keras)


@contextmanager
def _quiet_stderr(enabled: bool) -> Iterator[None]:
    if not enabled:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)  # before any exception is shown: an import error still reaches the user
        os.close(saved)
        os.close(devnull)


def gpus() -> list[str]:
    tf = load().tf
    return [d.name for d in tf.config.list_physical_devices("GPU")]


def cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def resolve_precision(precision: str) -> str:
    """auto: mixed_float16 on a GPU; mixed_bfloat16 on a CPU with bf16 instructions (AVX512_BF16 or
    AMX, where oneDNN runs bf16 convolutions natively: 1.5x faster here, see BENCHMARKS.md); else float32."""
    if precision != "auto":
        return precision
    if gpus():
        return "mixed_float16"
    return "mixed_bfloat16" if cpu_flags() & {"avx512_bf16", "amx_bf16"} else "float32"


def configure(seed: int, precision: str = "float32", deterministic: bool = True) -> None:
    """Seed Python, NumPy and TensorFlow, make ops deterministic, set the Keras dtype policy.

    Call before building a model. Op determinism makes the same seed and data give the same weights
    on the same machine (the README says where it cannot: GPUs, other CPUs or library versions).
    """
    env = load()
    tf, keras = env.tf, env.keras
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.mixed_precision.set_global_policy(precision)
