"""FusedBatchNormalization is Keras' BatchNormalization trained through TensorFlow's fused kernel:
same outputs, gradients and moving statistics, and a saved model holds only the stock layer."""
from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from training.layers import fused_batch_normalization
from training.tfenv import configure, load


@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16"])
def test_fused_batch_normalization_trains_like_the_stock_layer(precision):
    configure(0, precision)
    tf, keras = load().tf, load().keras
    try:
        stock, fused = keras.layers.BatchNormalization(momentum=0.9), fused_batch_normalization()(momentum=0.9)
        rng = np.random.default_rng(0)
        x = tf.cast(rng.normal(2, 3, (16, 12, 12, 8)).astype("float32"), stock.compute_dtype)
        w = tf.constant(rng.normal(0, 1, (16, 12, 12, 8)).astype("float32"))
        stock.build(x.shape)
        fused.build(x.shape)
        fused.set_weights(stock.get_weights())
        with tf.GradientTape(persistent=True) as tape:
            ys, yf = stock(x, training=True), fused(x, training=True)
            ls, lf = (tf.reduce_sum(tf.cast(y, "float32") * w) for y in (ys, yf))
        assert yf.dtype == ys.dtype
        np.testing.assert_allclose(np.float32(yf), np.float32(ys), atol=1e-5 if precision == "float32" else 0.02)
        for gs, gf in zip(tape.gradient(ls, stock.trainable_weights), tape.gradient(lf, fused.trainable_weights)):
            np.testing.assert_allclose(gf, gs, rtol=1e-4, atol=1e-4)
        mean_s, var_s = stock.get_weights()[2:]
        mean_f, var_f = fused.get_weights()[2:]
        np.testing.assert_allclose(mean_f, mean_s, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(var_f, var_s, rtol=1e-5)
        fused.set_weights(stock.get_weights())
        np.testing.assert_array_equal(fused(x, training=False), stock(x, training=False))  # inference: the stock path
    finally:
        configure(0, "float32")


def test_saved_model_holds_only_stock_layers(trained):
    """model.keras loads in plain Keras, without facecat's code: the float32 copy has stock layers."""
    out, _ = trained
    with zipfile.ZipFile(out / "model.keras") as z:
        config = json.loads(z.read("config.json"))
    names = {layer["class_name"] for layer in config["config"]["layers"]}
    assert "BatchNormalization" in names and not any("Fused" in n for n in names)


def test_weight_decay_shrinks_kernels_but_not_batch_norm_or_biases():
    from training import schedule

    configure(0, "float32")
    keras = load().keras
    inputs = keras.Input((6, 6, 1))
    x = fused_batch_normalization()()(keras.layers.Conv2D(2, 3, use_bias=False)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(x)))
    opt = schedule.optimizer("rmsprop", 0.1, weight_decay=0.5)
    for v in model.trainable_variables:  # nothing at zero, where decay would show nothing
        v.assign(np.full(v.shape, 0.7, "float32"))
    before = {v.path: np.array(v) for v in model.trainable_variables}
    # Zero gradients: RMSProp moves nothing, so what changes is the decay alone (w *= 1 - lr * wd).
    opt.apply_gradients([(np.zeros(v.shape, "float32"), v) for v in model.trainable_variables])
    for v in model.trainable_variables:
        kept = v.name in ("gamma", "beta", "bias")
        expected = before[v.path] * (1.0 if kept else 1 - 0.1 * 0.5)
        np.testing.assert_allclose(np.array(v), expected, rtol=1e-6, err_msg=v.path)
    assert {v.name for v in model.trainable_variables} == {"kernel", "gamma", "beta", "bias"}
