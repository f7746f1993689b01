"""The encoder's GELU, computed in float32 with a written-out gradient under mixed_bfloat16.

transformers' TF BERT applies `tf.nn.gelu` (exact, erf-based) to the output of each layer's
intermediate Dense: `0.5 * x * (1 + erf(x / sqrt(2)))`, four element-wise ops on the widest tensor
of the layer ([positions, 1536] for the default checkpoint), and about twice as many in its
automatically differentiated gradient. Under mixed_bfloat16 all of them run in bfloat16, which
TensorFlow's CPU kernels compute at about half their float32 speed, each result rounded to
bfloat16 before the next op.

For bfloat16 inputs `gelu` computes the same function in float32, from one cast of the input to
one rounding of the result (as PyTorch's bfloat16 GELU kernel does), and its gradient as the
textbook formula `dy * (cdf(x) + x * pdf(x))`, again in float32, with the forward pass's
`cdf(x)` kept. For any other dtype it is `tf.nn.gelu` unchanged.
"""

from __future__ import annotations

import math

import tensorflow as tf

_SQRT_HALF = math.sqrt(0.5)
_INVERSE_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@tf.custom_gradient
def _gelu_in_float32(inputs: tf.Tensor):
    x = tf.cast(inputs, tf.float32)
    cdf = 0.5 * (1.0 + tf.math.erf(x * _SQRT_HALF))

    def gradient(upstream):
        pdf = tf.exp(-0.5 * tf.square(x)) * _INVERSE_SQRT_2PI
        return tf.cast(tf.cast(upstream, tf.float32) * (cdf + x * pdf), inputs.dtype)

    return tf.cast(x * cdf, inputs.dtype), gradient


def gelu(inputs: tf.Tensor) -> tf.Tensor:
    """The exact GELU; for bfloat16 inputs in float32 (see the module docstring)."""
    if inputs.dtype == tf.bfloat16:
        return _gelu_in_float32(inputs)
    return tf.nn.gelu(inputs, approximate=False)


def use_float32_gelu(layer: tf.keras.layers.Layer) -> None:
    """Makes every exact-GELU intermediate activation inside `layer` (transformers' BERT) `gelu`.

    transformers' layers hold their activation as `intermediate_act_fn`, chosen from
    `config.hidden_act`; only "gelu" (exact) is replaced, any other activation is left alone.
    """
    for sublayer in layer.submodules:
        config = getattr(sublayer, "config", None)
        if (
            hasattr(sublayer, "intermediate_act_fn")
            and getattr(config, "hidden_act", None) == "gelu"
        ):
            sublayer.intermediate_act_fn = gelu
