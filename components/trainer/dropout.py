"""Dropout that multiplies by a mask drawn in float32: the exact rate, fewer passes in bfloat16.

Keras's Dropout (`tf.nn.dropout`) draws its uniform numbers in the input's dtype, compares them
with the rate, scales the input and selects between it and zeros; its gradient selects again.
Under mixed_bfloat16 that has two costs:

- **The rate is not the rate.** bfloat16 uniform numbers are multiples of 1/128, and 0.1 in
  bfloat16 is 0.10009765625, so a rate of 0.1 drops 13 in 128 elements: 10.16%. The peer
  (PyTorch) and the checkpoint's pretraining drop 10%.
- **Select is slow in bfloat16.** TensorFlow's CPU `SelectV2` on bfloat16 took 3.5x its float32
  time here (BENCHMARKS.md section 12); dropout runs it twice per layer and step.

`MaskDropout` draws the uniform numbers in float32 from the layer's own Keras random generator
(the same seeds, generator and distribution-strategy handling as Keras's Dropout), keeps an
element where the number is at least the rate, and multiplies the input by the mask in the
input's dtype (0 or 1 / (1 - rate), rounded to that dtype as Keras's dropout rounds its scale).
The gradient is one multiplication by the same mask. In float32 the layer computes what Keras's
computes (other random draws); in bfloat16 it drops exactly `rate` of the elements.
"""

from __future__ import annotations

import numbers

import tensorflow as tf

from components.trainer.swap import swap_class


@tf.keras.utils.register_keras_serializable(package="bertpipe")
class MaskDropout(tf.keras.layers.Dropout):
    """tf.keras.layers.Dropout, as a float32-drawn mask multiplied in (see the module docstring)."""

    def call(self, inputs, training=None):
        if isinstance(self.rate, numbers.Real) and self.rate == 0:
            return tf.identity(inputs)
        _refuse_noise_shape(self)
        if training is None:
            training = tf.keras.backend.learning_phase()

        def dropped_inputs():
            uniform = self._random_generator.random_uniform(tf.shape(inputs), dtype=tf.float32)
            keep = tf.cast(uniform >= self.rate, inputs.dtype)
            return inputs * (keep * tf.cast(1.0 / (1.0 - self.rate), inputs.dtype))

        return tf.__internal__.smart_cond.smart_cond(
            training, dropped_inputs, lambda: tf.identity(inputs)
        )


def _refuse_noise_shape(dropout: tf.keras.layers.Dropout) -> None:
    if dropout.noise_shape is not None:
        raise ValueError(
            f"{dropout.name}: MaskDropout draws one number per element, no noise_shape"
        )


def use_mask_dropout(layer: tf.keras.layers.Layer) -> None:
    """Makes every Keras Dropout inside `layer` (transformers' BERT, say) a MaskDropout, with
    its rate and random generator (swap.py)."""
    swap_class(layer, tf.keras.layers.Dropout, MaskDropout, _refuse_noise_shape)
