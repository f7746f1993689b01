"""AdamW with the update of a step compiled by XLA into a few programs.

tf-keras's AdamW updates each variable with its own handful of TensorFlow ops: weight decay
(`var -= var * wd * lr`), the two moments, the variable, plus the learning-rate schedule and the
bias corrections recomputed for every variable: about 3,000 ops per step for BERT-sized models,
each a separate pass over a variable's memory. On a CPU without XLA for the model (the Trainer's
default) that update is a third of a training step on short sorted batches, and it does not
depend on the batch's length (benchmarks/bf16_profile.py; BENCHMARKS.md).

`FusedAdamW` computes exactly the same update (same formulas, same order: weight decay first,
then the moments, then the variable) in `tf.function(jit_compile=True)` programs: XLA fuses the
element-wise work into loops that read each variable, its gradient and its moments once. The
learning rate and the bias corrections are computed once per step. The shapes of the update do
not depend on the batch (sparse gradients, such as the word embeddings', are made dense first),
so each program is compiled once per training run, whatever the batch lengths.

The variables are updated in consecutive groups of about 2 M numbers (`group_elements`; one
encoder layer of the default checkpoint), one program each. A group's program depends only on
its own gradients, so TensorFlow runs it as soon as backpropagation has passed that group's
layer, on a core the backward pass leaves idle, instead of one program after the whole backward
pass: a mixed-bfloat16 step at batch 32 took 3-6% less time (BENCHMARKS.md section 13).

The fused path is taken without a distribution strategy (the Trainer on one CPU or one
GPU); under a strategy (mirrored, multi-worker, TPU) each variable is updated through the
strategy as tf-keras does it.

Both classes take gradients in a lower precision than their variables (the bfloat16 weight
gradients of dense.EncoderDense) and cast each to its variable's dtype as they update it:
`FusedAdamW` inside its XLA program, where the cast is part of the loop that reads the gradient
anyway; `AdamW`, tf-keras's op-by-op update, with one `Cast` per such gradient.
"""

from __future__ import annotations

import tensorflow as tf

from components.core import env


def consecutive_groups(sizes: list[int], limit: int) -> list[range]:
    """Consecutive index ranges over `sizes`, each summing to at most `limit` (or one item)."""
    groups, start, total = [], 0, 0
    for i, size in enumerate(sizes):
        if i > start and total + size > limit:
            groups.append(range(start, i))
            start, total = i, 0
        total += size
    if sizes:
        groups.append(range(start, len(sizes)))
    return groups


def _in_variable_dtype(grad, var):
    """`grad` as `var`'s dtype (a bfloat16 gradient of a float32 variable, say)."""
    if grad is None or grad.dtype == var.dtype:
        return grad
    if isinstance(grad, tf.IndexedSlices):
        return tf.IndexedSlices(tf.cast(grad.values, var.dtype), grad.indices, grad.dense_shape)
    return tf.cast(grad, var.dtype)


@tf.keras.utils.register_keras_serializable(package="bertpipe")
class AdamW(tf.keras.optimizers.AdamW):
    """tf.keras.optimizers.AdamW that takes gradients in a lower precision than the variables."""

    def _internal_apply_gradients(self, grads_and_vars):
        return super()._internal_apply_gradients(
            [(_in_variable_dtype(grad, var), var) for grad, var in grads_and_vars]
        )


@tf.keras.utils.register_keras_serializable(package="bertpipe")
class FusedAdamW(AdamW):
    """AdamW, its update of a step in a few XLA programs (see the module docstring)."""

    # Variables are updated in consecutive groups of about this many numbers, one XLA program
    # each (see the module docstring): about one encoder layer of the default checkpoint.
    group_elements = 2_000_000

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._fused_steps: list | None = None
        self._fused_keys: list | None = None

    def _fused(self) -> bool:
        return not (tf.distribute.has_strategy() or self.amsgrad or self.use_ema)

    def _apply_weight_decay(self, variables):
        if not self._fused():  # otherwise part of the fused update
            super()._apply_weight_decay(variables)

    def _internal_apply_gradients(self, grads_and_vars):
        if not self._fused():
            return super()._internal_apply_gradients(grads_and_vars)
        grads_and_vars = list(grads_and_vars)
        keys = [self._var_key(var) for _, var in grads_and_vars]
        if self._fused_steps is None:
            env.start_xla_quietly()  # before the first compilation: its start-up lines held back
            self._fused_keys = keys
            variables = [var for _, var in grads_and_vars]
            self._fused_steps = [
                (group, self._make_fused_step([variables[i] for i in group]))
                for group in consecutive_groups(
                    [var.shape.num_elements() for var in variables], self.group_elements
                )
            ]
        elif keys != self._fused_keys:
            raise ValueError("FusedAdamW: the trained variables changed between steps")
        grads = [tf.convert_to_tensor(grad) for grad, _ in grads_and_vars]
        lr = tf.cast(self.learning_rate, tf.float32)
        local_step = tf.cast(self.iterations + 1, tf.float32)
        for group, step in self._fused_steps:
            step([grads[i] for i in group], lr, local_step)
        return self.iterations.assign_add(1)

    def _make_fused_step(self, variables: list):
        """The XLA-compiled update of `variables` (fixed for the optimizer's life)."""
        slots = [
            (
                self._momentums[self._index_dict[self._var_key(var)]],
                self._velocities[self._index_dict[self._var_key(var)]],
            )
            for var in variables
        ]
        decays = [self.weight_decay is not None and self._use_weight_decay(v) for v in variables]

        @tf.function(jit_compile=True, autograph=False)
        def step(grads, lr, local_step):
            beta_1_power = tf.pow(tf.cast(self.beta_1, tf.float32), local_step)
            beta_2_power = tf.pow(tf.cast(self.beta_2, tf.float32), local_step)
            alpha = lr * tf.sqrt(1 - beta_2_power) / (1 - beta_1_power)
            wd = tf.cast(self.weight_decay or 0.0, tf.float32)
            for grad, var, (m, v), decay in zip(grads, variables, slots, decays, strict=True):
                dtype = var.dtype
                grad = tf.cast(grad, dtype)
                if decay:
                    var.assign_sub(var * tf.cast(wd, dtype) * tf.cast(lr, dtype))
                m.assign_add((grad - m) * (1 - self.beta_1))
                v.assign_add((tf.square(grad) - v) * (1 - self.beta_2))
                var.assign_sub((m * tf.cast(alpha, dtype)) / (tf.sqrt(v) + self.epsilon))

        return step
