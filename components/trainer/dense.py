"""The encoder's dense layers: Keras's Dense, with a cheaper backward pass under mixed_bfloat16.

Keras's Dense computes `inputs @ kernel + bias` (through `tf.tensordot` for [batch, length,
width] inputs) and leaves the backward pass to automatic differentiation. Under mixed_bfloat16
that backward pass has two costs that do not depend on the batch's length, so they weigh most
on the short sorted batches the Trainer feeds (BENCHMARKS.md section 13):

- **The weights' gradients are cast to float32 one by one.** Each step reads every float32
  kernel as a bfloat16 copy, so automatic differentiation casts every bfloat16 kernel gradient
  back to float32 with its own `Cast` op: 10.8 M numbers of the 6-layer encoder, each written
  as a new float32 tensor, before the optimizer reads them again.
- **The bias gradients are `BiasAddGrad` in bfloat16**, a reduction TensorFlow's CPU kernels run
  at half their float32 speed.

`EncoderDense` computes the same products and sums, on this path only for bfloat16 inputs, i.e.
in training under mixed_bfloat16. In float32 (the serving copy, the Evaluator, float32 training)
it is Keras's Dense unchanged. For bfloat16:

- The forward pass is `inputs @ kernel + bias` on [positions, width] (the leading axes folded),
  which TensorFlow fuses into one oneDNN product with its bias.
- The backward pass is written out: the input's gradient `dy @ kernel^T`, the kernel's
  `inputs^T @ dy`, and the bias's as a product with a row of ones (`ones @ dy`, oneDNN,
  accumulated in float32 like `BiasAddGrad`).
- **The low-precision weight gradients stay in bfloat16.** With bfloat16 compute, float32
  variables and no distribution strategy, the kernel and the bias are read through
  `bfloat16_keeping_gradient`: the same cast forward, but the gradient is handed to the float32
  variable in bfloat16. The Trainer's optimizer (optimizer.AdamW, FusedAdamW) casts each gradient
  to its variable's dtype as it updates it, inside the one XLA program of the fused update, so
  the cast costs no pass of its own. Under a distribution strategy the gradients are cast as
  Keras casts them, because they are summed across replicas, in float32.
"""

from __future__ import annotations

import tensorflow as tf
from tf_keras.src.mixed_precision.autocast_variable import (
    AutoCastVariable,
    enable_auto_cast_variables,
)

from components.trainer.swap import swap_class


@tf.custom_gradient
def bfloat16_keeping_gradient(value: tf.Tensor):
    """`value` cast to bfloat16, whose gradient is passed back in bfloat16 (see above)."""
    return tf.cast(value, tf.bfloat16), lambda upstream: upstream


@tf.custom_gradient
def _affine(inputs: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor):
    """`inputs @ kernel + bias` for [positions, width] inputs, its gradients as products."""

    def gradients(upstream):
        ones = tf.ones([1, tf.shape(upstream)[0]], upstream.dtype)
        return (
            tf.matmul(upstream, kernel, transpose_b=True),
            tf.matmul(inputs, upstream, transpose_a=True),
            tf.reshape(tf.matmul(ones, upstream), [-1]),
        )

    return tf.nn.bias_add(tf.matmul(inputs, kernel), bias), gradients


@tf.keras.utils.register_keras_serializable(package="bertpipe")
class EncoderDense(tf.keras.layers.Dense):
    """tf.keras.layers.Dense with a written-out backward pass (see the module docstring)."""

    def call(self, inputs):
        if inputs.dtype != tf.bfloat16:
            return super().call(inputs)
        if not self.use_bias:
            raise ValueError(f"{self.name}: EncoderDense computes a Dense with a bias; got none")
        kernel, bias = self._compute_value(self.kernel), self._compute_value(self.bias)
        outputs = _affine(tf.reshape(inputs, [-1, inputs.shape[-1]]), kernel, bias)
        outputs = tf.reshape(outputs, tf.concat([tf.shape(inputs)[:-1], [self.units]], axis=0))
        outputs.set_shape(inputs.shape[:-1].concatenate([self.units]))
        return self.activation(outputs)

    def _compute_value(self, variable) -> tf.Tensor:
        """The weight in bfloat16; its gradient left in bfloat16 where that is safe."""
        if (
            isinstance(variable, AutoCastVariable)
            and variable.true_dtype == tf.float32
            and not tf.distribute.has_strategy()
        ):
            with enable_auto_cast_variables(None):  # read the float32 variable itself
                return bfloat16_keeping_gradient(tf.convert_to_tensor(variable))
        return tf.convert_to_tensor(variable)


def use_encoder_dense(layer: tf.keras.layers.Layer) -> None:
    """Makes every Keras Dense inside `layer` (transformers' BERT, say) an EncoderDense
    (swap.py)."""
    swap_class(layer, tf.keras.layers.Dense, EncoderDense)
