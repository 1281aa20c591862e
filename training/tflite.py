"""TensorFlow Lite (LiteRT) export for small devices (a Raspberry Pi), and running the result.

TFLiteConverter.from_keras_model does not work with Keras 3 (tensorflow#63867): the model goes
through a SavedModel (keras Model.export) and TFLiteConverter.from_saved_model. --int8: full integer
quantization of weights and activations, calibrated on a representative set of real faces; input
and output stay float32 (pixels 0..255 in, probabilities out), so callers do not change.
"""
from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np

from training.data import as_input
from training.errors import TrainingError
from training.tfenv import _quiet_stderr, load


def convert(model, representative: np.ndarray | None = None) -> bytes:
    """The .tflite bytes of a Keras model; with representative faces (N, S, S) uint8: int8."""
    tf = load().tf
    with tempfile.TemporaryDirectory(prefix="facecat-savedmodel-") as tmp:
        model.export(tmp, format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        if representative is not None:
            if len(representative) == 0:
                raise TrainingError("--int8 needs representative faces; the catalog gave none")
            samples = as_input(representative)
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = lambda: ([s[None]] for s in samples)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        with _quiet_stderr(True):  # the MLIR converter's C++ log lines
            return converter.convert()


def _interpreter(content: bytes):
    try:  # the LiteRT runtime, where installed (what a Raspberry Pi uses)
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        Interpreter = load().tf.lite.Interpreter
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "tf.lite.Interpreter is deprecated": TF 2.21 still ships it
        with _quiet_stderr(True):  # "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
            interp = Interpreter(model_content=content)
            interp.allocate_tensors()
    return interp


def run(content: bytes, pixels: np.ndarray) -> np.ndarray:
    """(N, K) outputs of a .tflite model for (N, S, S) uint8 faces, one face per call (batch 1, as on a device)."""
    interp = _interpreter(content)
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    results = []
    for face in as_input(pixels):
        interp.set_tensor(inp["index"], face[None].astype(inp["dtype"]))
        interp.invoke()
        results.append(interp.get_tensor(out["index"])[0].astype(np.float32))
    return np.stack(results) if results else np.zeros((0, out["shape"][-1]), np.float32)


def write(path: Path, content: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    except OSError as exc:
        raise TrainingError(f"cannot write {path}: {exc.strerror or exc}") from None
