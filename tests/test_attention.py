"""The classifier's encoder attention (integer transposes, a [CLS]-only last layer) is transformers'."""

from __future__ import annotations

import numpy as np
import pytest

from components.core.config import ModelConfig
from components.trainer import model as model_lib
from components.trainer.attention import (
    FirstTokenBertLayer,
    FirstTokenSelfAttention,
    IntegerTransposeSelfAttention,
    use_first_token_output,
    use_integer_transposes,
)


def _tiny_config(**overrides):
    from transformers import BertConfig

    return BertConfig(
        vocab_size=60, hidden_size=24, num_hidden_layers=2, num_attention_heads=3,
        intermediate_size=40, max_position_embeddings=32, **overrides,
    )  # fmt: skip


def _tiny_bert(**overrides):
    import tensorflow as tf
    from transformers import TFBertModel

    tf.keras.utils.set_random_seed(0)
    bert = TFBertModel(_tiny_config(**overrides))
    bert(bert.dummy_inputs)
    return bert


def _inputs():
    import tensorflow as tf

    rng = np.random.default_rng(0)
    lengths = [9, 4, 1]
    mask = np.array([[1] * n + [0] * (9 - n) for n in lengths], np.int32)
    ids = rng.integers(4, 60, size=mask.shape).astype(np.int32) * mask
    types = np.zeros_like(mask)
    types[0, 5:] = 1  # a sentence pair in the first row
    return {
        "input_ids": tf.constant(ids),
        "attention_mask": tf.constant(mask),
        "token_type_ids": tf.constant(types),
    }


def _outputs_and_gradients(bert, inputs, positions=slice(None)):
    """The hidden states at `positions`, the pooled output, and the gradients of a loss of both."""
    import tensorflow as tf

    with tf.GradientTape() as tape:
        outputs = bert(**inputs, training=False)
        hidden = tf.cast(outputs.last_hidden_state, tf.float32)[:, positions]
        pooled = tf.cast(outputs.pooler_output, tf.float32)
        # A loss that reads those positions and the pooler, weighted so no gradient is trivial.
        weights = tf.reshape(tf.range(24, dtype=tf.float32), [1, 1, 24]) / 24.0
        loss = tf.reduce_sum(tf.sin(hidden) * weights) + tf.reduce_sum(pooled**2)
    gradients = tape.gradient(loss, bert.trainable_variables)
    dense = [tf.convert_to_tensor(g).numpy() for g in gradients if g is not None]  # embeddings
    return hidden.numpy(), pooled.numpy(), dense


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_it_gives_transformers_outputs_and_gradients_bit_for_bit(policy):
    with model_lib.keras_policy(policy):
        bert = _tiny_bert()
        inputs = _inputs()
        want = _outputs_and_gradients(bert, inputs)
        use_integer_transposes(bert)
        got = _outputs_and_gradients(bert, inputs)
    assert all(
        type(layer.attention.self_attention) is IntegerTransposeSelfAttention
        for layer in bert.bert.encoder.layer
    )
    # The same products on the same bits, in the same order: equal, not merely close.
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    assert len(got[2]) == len(want[2]) == len(bert.trainable_variables)  # every weight learns
    for g, w in zip(got[2], want[2], strict=True):
        np.testing.assert_array_equal(g, w)
    # The comparison can fail: another mask changes the outputs.
    other = dict(inputs, attention_mask=np.ones_like(inputs["attention_mask"].numpy()))
    changed = bert(**other).last_hidden_state.numpy().astype(np.float32)
    assert np.abs(changed - want[0]).max() > 1e-3


def test_the_classifier_uses_it_for_training_and_serving():
    model = model_lib.build_classifier(
        ModelConfig(max_seq_length=9), 2, bert_config=_tiny_config(), variable_length=True
    )
    copy = model_lib.serving_copy(model, max_seq_length=9)
    for classifier in (model, copy):
        layers = classifier.get_layer(model_lib.BERT_LAYER).bert.encoder.layer
        assert [type(layer.attention.self_attention) for layer in layers] == [
            IntegerTransposeSelfAttention,
            FirstTokenSelfAttention,
        ]
        assert type(layers[-1]) is FirstTokenBertLayer
    batch = _inputs()  # the model's three inputs
    np.testing.assert_array_equal(copy(batch).numpy(), model(batch).numpy())


def test_the_last_layer_for_cls_only_gives_what_transformers_gives_there():
    bert = _tiny_bert()
    inputs = _inputs()
    # What a classifier reads: the pooler, or the [CLS] hidden state.
    want_first, want_pooled, want_gradients = _outputs_and_gradients(bert, inputs, slice(0, 1))
    use_integer_transposes(bert)
    use_first_token_output(bert)
    got_first, got_pooled, got_gradients = _outputs_and_gradients(bert, inputs)
    assert got_first.shape == (3, 1, 24)  # the first position only
    np.testing.assert_allclose(got_first, want_first, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_pooled, want_pooled, rtol=1e-5, atol=1e-6)
    # Every weight still learns, the last layer's included, and as it did.
    assert len(got_gradients) == len(want_gradients) == len(bert.trainable_variables)
    for g, w in zip(got_gradients, want_gradients, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-6)
    # The comparison can fail: [CLS] attends to every position, so another mask changes it.
    other = dict(inputs, attention_mask=np.ones_like(inputs["attention_mask"].numpy()))
    changed = bert(**other).last_hidden_state.numpy()
    assert np.abs(changed - want_first).max() > 1e-3


def test_it_refuses_what_it_does_not_compute():
    with pytest.raises(ValueError, match="decoder"):
        use_integer_transposes(_tiny_bert(is_decoder=True))
    bert = _tiny_bert()
    use_integer_transposes(bert)
    with pytest.raises(ValueError, match=r"\['output_attentions'\]"):
        bert(**_inputs(), output_attentions=True)
    with pytest.raises(TypeError, match="expected transformers' TFBertSelfAttention"):
        use_integer_transposes(bert)
    use_first_token_output(bert)
    with pytest.raises(TypeError, match="expected transformers' TFBertLayer"):
        use_first_token_output(bert)
    with pytest.raises(TypeError, match="with IntegerTransposeSelfAttention"):
        use_first_token_output(_tiny_bert())  # the transposes come first
