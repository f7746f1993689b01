"""BERT self-attention whose head transposes move bits, not floats.

transformers' TFBertSelfAttention reshapes the query, key and value to [batch, length, heads,
size], transposes each to [batch, heads, length, size] for two batched matrix products, and
transposes the context back: four `tf.transpose`s per layer. TensorFlow's oneDNN build runs a
float transpose as a oneDNN reorder (`_MklTranspose`) that costs 40-90 us even on the few
kilobytes of one sentence: the 24 of the default checkpoint's six layers took a fifth of the op
time of a batch-1 serving call (BENCHMARKS.md section 11). A transpose only moves elements, so
`IntegerTransposeSelfAttention` transposes the same bits viewed as integers of the same width
(`tf.bitcast` float32 -> int32, bfloat16/float16 -> int16), which TensorFlow moves with its own
transpose kernel, and views the result as floats again.

Everything else is transformers' code path: the same products, mask, softmax and dropout in the
same order, so outputs and gradients are equal bit for bit (tests/test_attention.py); the
weights and their names are transformers' own (checkpoints, `from_pretrained` and
`save_pretrained` are untouched). The transpose has its own gradient (the same swap: it is its
own inverse), so training is unchanged too. Measured (section 11): a batch-1 serving call about
8% faster; batch 32 and a mixed-bfloat16 training step the same. (Two einsums on the [batch,
length, heads, size] layout avoid the transposes as well and are as fast at batch 1, but 3-5%
slower at batch 32 and up to 1.7x slower in a bfloat16 training step.)

Only the path the classifier uses is implemented: an encoder's self-attention, without
cross-attention, cached keys, head masks or returned attention probabilities;
`use_integer_transposes` refuses a decoder configuration and the call refuses those arguments.
transformers is pinned (requirements.lock); the call's signature is TFBertSelfAttention's.
"""

from __future__ import annotations

import tensorflow as tf
from transformers.models.bert.modeling_tf_bert import TFBertSelfAttention, stable_softmax

# The integer type of each float type's width.
_SAME_WIDTH_INTEGER = {tf.float32: tf.int32, tf.bfloat16: tf.int16, tf.float16: tf.int16}


def _swap_axes_1_2(tensor: tf.Tensor) -> tf.Tensor:
    bits = tf.bitcast(tensor, _SAME_WIDTH_INTEGER[tensor.dtype])
    return tf.bitcast(tf.transpose(bits, perm=[0, 2, 1, 3]), tensor.dtype)


@tf.custom_gradient
def swap_length_and_heads(tensor: tf.Tensor):
    """[batch, length, heads, size] <-> [batch, heads, length, size], on the bits (see above)."""
    return _swap_axes_1_2(tensor), _swap_axes_1_2


class IntegerTransposeSelfAttention(TFBertSelfAttention):
    """TFBertSelfAttention's encoder self-attention, its transposes on integers (see above)."""

    def call(
        self,
        hidden_states: tf.Tensor,
        attention_mask: tf.Tensor | None,
        head_mask: tf.Tensor | None,
        encoder_hidden_states: tf.Tensor | None,
        encoder_attention_mask: tf.Tensor | None,
        past_key_value: tuple[tf.Tensor, ...] | None,
        output_attentions: bool,
        training: bool = False,
    ) -> tuple[tf.Tensor]:
        unsupported = {
            "encoder_hidden_states": encoder_hidden_states,
            "past_key_value": past_key_value,
            "head_mask": head_mask,
            "output_attentions": output_attentions or None,
        }
        passed = sorted(name for name, value in unsupported.items() if value is not None)
        if passed:
            raise ValueError(
                f"{type(self).__name__} computes an encoder's self-attention only; got {passed}"
            )
        batch_size = tf.shape(hidden_states)[0]
        by_head = (batch_size, -1, self.num_attention_heads, self.attention_head_size)
        query, key, value = (
            swap_length_and_heads(tf.reshape(dense(inputs=hidden_states), by_head))
            for dense in (self.query, self.key, self.value)
        )
        scores = tf.matmul(query, key, transpose_b=True)
        scores = tf.divide(scores, tf.cast(self.sqrt_att_head_size, dtype=scores.dtype))
        if attention_mask is not None:
            scores = tf.add(scores, attention_mask)
        probabilities = stable_softmax(logits=scores, axis=-1)
        probabilities = self.dropout(inputs=probabilities, training=training)
        context = swap_length_and_heads(tf.matmul(probabilities, value))
        return (tf.reshape(context, (batch_size, -1, self.all_head_size)),)


def use_integer_transposes(bert) -> None:
    """Makes every layer of a transformers TFBertModel use IntegerTransposeSelfAttention.

    The layers keep their sublayers and weights; only the class that computes the attention
    changes (TFBertSelfAttention -> its subclass above). Call it before the model first runs.
    """
    config = bert.config
    if config.is_decoder or config.add_cross_attention:
        raise ValueError("use_integer_transposes: the BERT configuration is a decoder's")
    for layer in bert.bert.encoder.layer:
        attention = layer.attention.self_attention
        if type(attention) is not TFBertSelfAttention:
            raise TypeError(
                f"{attention.name}: expected transformers' TFBertSelfAttention, got "
                f"{type(attention).__name__}"
            )
        attention.__class__ = IntegerTransposeSelfAttention
