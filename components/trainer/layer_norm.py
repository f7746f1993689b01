"""The encoder's LayerNorms: Keras's LayerNormalization, with a written-out backward pass under
mixed_bfloat16.

BERT's LayerNorms use epsilon 1e-12, below the 1.001e-5 that TensorFlow's fused batch-norm kernel
accepts, so Keras computes them op by op: `tf.nn.moments` and `tf.nn.batch_normalization` in
float32, between casts from and to bfloat16. Automatic differentiation of that graph, with its
broadcasts and the two paths through the mean, takes about 35 TensorFlow ops per LayerNorm and
step, each a pass over a [positions, width] tensor. On the Trainer's short sorted batches these
tensors are small (32 x 12 x 384), so each op costs mostly its fixed overhead: the 13 LayerNorms of
the 6-layer encoder were 12% of a step's op time at length 12 (BENCHMARKS.md section 13).

`EncoderLayerNorm` computes, in float32, `xhat = (x - mean) / sqrt(var + epsilon)` and
`xhat * gamma + beta`, and writes the gradient out as the textbook formulas over the kept `xhat`
and `1 / sqrt(var + epsilon)`:

    dbeta = sum(dy),  dgamma = sum(dy * xhat),  g = dy * gamma,
    dx = (g - mean(g) - xhat * mean(g * xhat)) / sqrt(var + epsilon)

(sums over the positions, means over the width), about 24 ops forward and backward together.
It takes this path only for bfloat16 inputs, i.e. in training under mixed_bfloat16. In float32
(the serving copy, the Evaluator, float32 training) it is Keras's LayerNormalization unchanged,
whose pattern TensorFlow's graph optimizer fuses into one oneDNN LayerNorm for serving.
"""

from __future__ import annotations

import tensorflow as tf

from components.trainer.swap import swap_class


def _normalize(inputs: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: float):
    """LayerNorm over the last axis of [positions, width] `inputs`, in float32, and its
    gradient (see the module docstring)."""

    @tf.custom_gradient
    def normalize(inputs, gamma, beta):
        x = tf.cast(inputs, tf.float32)
        centred = x - tf.reduce_mean(x, axis=-1, keepdims=True)
        inverse_std = tf.math.rsqrt(
            tf.reduce_mean(tf.square(centred), axis=-1, keepdims=True) + epsilon
        )
        normalized = centred * inverse_std
        outputs = tf.cast(normalized * gamma + beta, inputs.dtype)

        def gradients(upstream):
            upstream = tf.cast(upstream, tf.float32)
            scaled = upstream * gamma
            inputs_gradient = inverse_std * (
                scaled
                - tf.reduce_mean(scaled, axis=-1, keepdims=True)
                - normalized * tf.reduce_mean(scaled * normalized, axis=-1, keepdims=True)
            )
            return (
                tf.cast(inputs_gradient, inputs.dtype),
                tf.reduce_sum(upstream * normalized, axis=0),
                tf.reduce_sum(upstream, axis=0),
            )

        return outputs, gradients

    return normalize(inputs, gamma, beta)


@tf.keras.utils.register_keras_serializable(package="bertpipe")
class EncoderLayerNorm(tf.keras.layers.LayerNormalization):
    """tf.keras.layers.LayerNormalization with a written-out backward pass for bfloat16 inputs
    (see the module docstring)."""

    def call(self, inputs):
        if inputs.dtype != tf.bfloat16:
            return super().call(inputs)
        _refuse_unsupported(self, inputs.shape.rank)
        flat = _normalize(
            tf.reshape(inputs, [-1, inputs.shape[-1]]),
            tf.convert_to_tensor(self.gamma),
            tf.convert_to_tensor(self.beta),
            self.epsilon,
        )
        outputs = tf.reshape(flat, tf.shape(inputs))
        outputs.set_shape(inputs.shape)
        return outputs


def _refuse_unsupported(layer: tf.keras.layers.LayerNormalization, rank: int | None) -> None:
    if rank is None or list(layer.axis) != [rank - 1] or not (layer.center and layer.scale):
        raise ValueError(
            f"{layer.name}: EncoderLayerNorm normalizes the last axis with a scale and an offset;"
            f" got axis={layer.axis} of rank {rank}, center={layer.center}, scale={layer.scale}"
        )


def use_encoder_layer_norm(layer: tf.keras.layers.Layer) -> None:
    """Makes every Keras LayerNormalization inside `layer` (transformers' BERT, say) an
    EncoderLayerNorm (swap.py)."""
    swap_class(layer, tf.keras.layers.LayerNormalization, EncoderLayerNorm)
