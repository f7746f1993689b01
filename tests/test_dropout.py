"""MaskDropout drops exactly its rate, in bfloat16 too, and its gradient is its mask."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from components.core.config import ModelConfig
from components.trainer import model as model_lib
from components.trainer.dropout import MaskDropout, use_mask_dropout

# 2M elements: the dropped fraction's standard deviation is 0.0002 at a rate of 0.1.
SHAPE = (1000, 2000)


def _dropped_fraction(layer, dtype) -> tuple[float, np.ndarray]:
    out = layer(tf.ones(SHAPE, dtype), training=True)
    assert out.dtype == dtype
    values = tf.cast(out, tf.float32).numpy()
    return float(np.mean(values == 0)), np.unique(values)


def test_it_drops_the_rate_in_bfloat16_where_keras_dropout_does_not():
    tf.keras.utils.set_random_seed(0)
    fraction, values = _dropped_fraction(MaskDropout(0.1, dtype="mixed_bfloat16"), tf.bfloat16)
    assert abs(fraction - 0.1) < 0.001  # 5 standard deviations
    # The kept elements are scaled by 1 / 0.9 rounded to bfloat16, as Keras's dropout scales.
    np.testing.assert_array_equal(values, [0.0, float(tf.cast(1 / 0.9, tf.bfloat16))])
    # Keras's own Dropout draws bfloat16 numbers (multiples of 1/128): it drops 13/128.
    keras_fraction, _ = _dropped_fraction(
        tf.keras.layers.Dropout(0.1, dtype="mixed_bfloat16"), tf.bfloat16
    )
    assert abs(keras_fraction - 13 / 128) < 0.001 and abs(keras_fraction - 0.1) > 0.001


def test_the_gradient_is_the_mask_and_inference_is_the_identity():
    tf.keras.utils.set_random_seed(0)
    layer = MaskDropout(0.25)
    x = tf.Variable(tf.random.normal((64, 48)))
    weights = tf.random.normal((64, 48))
    with tf.GradientTape() as tape:
        out = layer(x, training=True)
        loss = tf.reduce_sum(out * weights)
    gradient = tape.gradient(loss, x).numpy()
    kept = out.numpy() != 0
    assert 0.6 < kept.mean() < 0.9  # some dropped, most kept
    np.testing.assert_allclose(gradient[kept], weights.numpy()[kept] / 0.75, rtol=1e-6)
    assert np.all(gradient[~kept] == 0)
    np.testing.assert_allclose(out.numpy()[kept], x.numpy()[kept] / 0.75, rtol=1e-6)
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x.numpy())
    # Two calls draw two masks.
    assert np.any((layer(x, training=True).numpy() != 0) != kept)


def test_every_dropout_of_the_classifier_is_one():
    from transformers import BertConfig

    config = BertConfig(
        vocab_size=60, hidden_size=24, num_hidden_layers=2, num_attention_heads=3,
        intermediate_size=40, max_position_embeddings=32,
    )  # fmt: skip
    model = model_lib.build_classifier(ModelConfig(max_seq_length=9), 2, bert_config=config)
    dropouts = [layer for layer in model.submodules if isinstance(layer, tf.keras.layers.Dropout)]
    # The embeddings', three per encoder layer, and the classifier's.
    assert len(dropouts) == 1 + 3 * 2 + 1
    assert all(type(layer) is MaskDropout for layer in dropouts)
    assert type(model.get_layer(model_lib.DROPOUT_LAYER)) is MaskDropout


def test_it_refuses_a_noise_shape():
    holder = tf.keras.Sequential([tf.keras.layers.Dropout(0.1, noise_shape=(None, 1))])
    with pytest.raises(ValueError, match="noise_shape"):
        use_mask_dropout(holder)
    with pytest.raises(ValueError, match="no noise_shape"):
        MaskDropout(0.1, noise_shape=(4, 1))(tf.ones((4, 3)), training=True)
