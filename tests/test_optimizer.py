"""FusedAdamW (components/trainer/optimizer.py) updates exactly as tf-keras's AdamW does."""

import numpy as np
import pytest
import tensorflow as tf

from components.core.config import TrainConfig
from components.trainer.model import make_optimizer
from components.trainer.optimizer import FusedAdamW, consecutive_groups


def _train(
    fused: bool, initial: list[np.ndarray], steps: int = 4, group_elements: int = 0
) -> tuple[list, object]:
    """`steps` updates of a small model with a sparse (embedding) gradient, decayed and
    undecayed (LayerNorm, bias) variables; the variables after them, and the optimizer."""
    names = ("embeddings", "dense/kernel", "dense/bias", "LayerNorm/gamma")
    variables = [tf.Variable(x, name=n) for x, n in zip(initial, names, strict=True)]
    optimizer = make_optimizer(TrainConfig(train_steps=10, learning_rate=0.05), fused)
    if group_elements:
        optimizer.group_elements = group_elements

    @tf.function
    def step(i):
        with tf.GradientTape() as tape:
            rows = tf.gather(variables[0], tf.constant([1, 3, 3, 7]) + i)
            hidden = tf.nn.relu(rows @ variables[1] + variables[2])
            loss = tf.reduce_sum(hidden**2) * tf.reduce_mean(variables[3])
        grads = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(grads, variables, strict=True))

    for i in range(steps):
        step(tf.constant(i))
    return [v.numpy() for v in variables], optimizer


@pytest.mark.parametrize("group_elements", [0, 40])
def test_fused_adamw_matches_keras_adamw(group_elements):
    rng = np.random.default_rng(0)
    shapes = ((20, 8), (8, 4), (4,), (4,))
    initial = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    keras, keras_optimizer = _train(False, initial)
    fused, fused_optimizer = _train(True, initial, group_elements=group_elements)
    # One XLA program for all, or (at most 40 numbers a group) the embeddings, then the rest.
    groups = [list(group) for group, _ in fused_optimizer._fused_steps]
    assert groups == ([[0, 1, 2, 3]] if not group_elements else [[0], [1, 2, 3]])
    assert isinstance(fused_optimizer, FusedAdamW)
    assert not isinstance(keras_optimizer, FusedAdamW)
    assert int(fused_optimizer.iterations) == int(keras_optimizer.iterations) == 4
    for before, a, b in zip(initial, keras, fused, strict=True):
        assert np.abs(a - before).max() > 1e-3  # the update did something
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-7)


def test_consecutive_groups():
    assert consecutive_groups([5, 3, 4, 10, 1, 1], 8) == [
        range(0, 2),
        range(2, 3),
        range(3, 4),
        range(4, 6),
    ]
    assert consecutive_groups([9], 3) == [range(0, 1)] and consecutive_groups([], 3) == []
