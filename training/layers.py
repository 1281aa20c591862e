"""Layers of facecat's own: Keras' BatchNormalization, trained through TensorFlow's fused kernel.

Keras 3's BatchNormalization trains with unfused ops on TensorFlow: a float32 copy of every bfloat16
activation, tf.nn.moments, then five elementwise passes, each with its own gradient. On this CPU
that is 40% of vgg-small's training time (BENCHMARKS.md). `FusedBatchNormalization` is the same
layer (same weights, same moving statistics, same inference) whose training step is one
FusedBatchNormV3 kernel and its gradient. Models are trained with it and saved with the stock
layer (training.fit copies the weights), so a saved model.keras needs nothing of facecat's.
"""
from __future__ import annotations

from functools import lru_cache

from training.tfenv import load


@lru_cache(maxsize=1)
def fused_batch_normalization():
    """The class (made on first use: TensorFlow is imported lazily, see tfenv)."""
    tf, keras = load().tf, load().keras

    @keras.saving.register_keras_serializable("facecat")
    class FusedBatchNormalization(keras.layers.BatchNormalization):
        """BatchNormalization over the last axis whose training step is TensorFlow's fused kernel."""

        def call(self, inputs, training=None, mask=None):
            if not (training and self.trainable and self.center and self.scale and len(inputs.shape) == 4
                    and self.axis in (-1, 3)):
                return super().call(inputs, training=training, mask=mask)
            f32 = tf.float32  # the kernel takes float32 scale and offset whatever the activations' dtype
            y, mean, variance, *_ = tf.compat.v1.nn.fused_batch_norm(
                inputs, tf.cast(self.gamma, f32), tf.cast(self.beta, f32), epsilon=self.epsilon,
                data_format="NHWC", is_training=True)
            n = tf.cast(tf.size(inputs) // tf.shape(inputs)[-1], f32)
            variance *= (n - 1) / n  # the kernel's is the unbiased variance; Keras keeps the biased one
            m = self.momentum
            self.moving_mean.assign(self.moving_mean * m + mean * (1 - m))
            self.moving_variance.assign(self.moving_variance * m + variance * (1 - m))
            return y

    return FusedBatchNormalization
