"""The classifier's encoder attention: head transposes that move bits, a last layer for [CLS].

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

A classifier reads only the first position ([CLS]) of the last layer's output (the pooler, or
the [CLS] hidden state). `use_first_token_output` makes the last layer compute that position
alone (`FirstTokenBertLayer`): its keys and values still come from every position, but its
query, output projection, LayerNorms and feed-forward block run on one position instead of all.
The result is the same function (within float rounding: another kernel may sum a one-row product
in another order), with about 14% fewer of the encoder's matrix-product FLOPs; a
mixed-bfloat16 training step at batch 32 took 14-27% less time and 15-18% less CPU time
(BENCHMARKS.md section 12).

Only the path the classifier uses is implemented: an encoder's self-attention, without
cross-attention, cached keys, head masks or returned attention probabilities;
`use_integer_transposes` refuses a decoder configuration and the call refuses those arguments.
transformers is pinned (requirements.lock); the call's signature is TFBertSelfAttention's.
"""

from __future__ import annotations

import tensorflow as tf
from transformers.models.bert.modeling_tf_bert import (
    TFBertLayer,
    TFBertSelfAttention,
    stable_softmax,
)

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
            swap_length_and_heads(tf.reshape(dense(inputs=states), by_head))
            for dense, states in (
                (self.query, self.query_states(hidden_states)),
                (self.key, hidden_states),
                (self.value, hidden_states),
            )
        )
        scores = tf.matmul(query, key, transpose_b=True)
        scores = tf.divide(scores, tf.cast(self.sqrt_att_head_size, dtype=scores.dtype))
        if attention_mask is not None:
            scores = tf.add(scores, attention_mask)
        probabilities = stable_softmax(logits=scores, axis=-1)
        probabilities = self.dropout(inputs=probabilities, training=training)
        context = swap_length_and_heads(tf.matmul(probabilities, value))
        return (tf.reshape(context, (batch_size, -1, self.all_head_size)),)

    def query_states(self, hidden_states: tf.Tensor) -> tf.Tensor:
        """The positions whose output is computed: every position."""
        return hidden_states


class FirstTokenSelfAttention(IntegerTransposeSelfAttention):
    """The same attention, computed for the first position only (its keys and values: all)."""

    def query_states(self, hidden_states: tf.Tensor) -> tf.Tensor:
        return hidden_states[:, :1]


class FirstTokenBertLayer(TFBertLayer):
    """transformers' encoder layer, its output computed at the first position ([CLS]) only.

    The attention's keys and values still come from every position; its query, the attention
    output's projection, residual and LayerNorm, and the feed-forward block run on the first
    position alone. The output is [batch, 1, hidden]: what TFBertLayer gives at position 0.
    """

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
        attention = self.attention
        (context,) = attention.self_attention(
            hidden_states=hidden_states,
            attention_mask=attention_mask,
            head_mask=head_mask,
            encoder_hidden_states=encoder_hidden_states,
            encoder_attention_mask=encoder_attention_mask,
            past_key_value=past_key_value,
            output_attentions=output_attentions,
            training=training,
        )
        attention_output = attention.dense_output(
            hidden_states=context, input_tensor=hidden_states[:, :1], training=training
        )
        intermediate_output = self.intermediate(hidden_states=attention_output)
        layer_output = self.bert_output(
            hidden_states=intermediate_output, input_tensor=attention_output, training=training
        )
        return (layer_output,)


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


def use_first_token_output(bert) -> None:
    """Makes the last encoder layer of a TFBertModel compute its first position ([CLS]) only.

    For a classifier that reads the pooler or the [CLS] hidden state, nothing else of the last
    layer's output is read. Its `last_hidden_state` becomes [batch, 1, hidden], position 0 of
    what it was. Call it after `use_integer_transposes` and before the model first runs.
    """
    last = bert.bert.encoder.layer[-1]
    attention = last.attention.self_attention
    if type(last) is not TFBertLayer or type(attention) is not IntegerTransposeSelfAttention:
        raise TypeError(
            f"{last.name}: expected transformers' TFBertLayer with IntegerTransposeSelfAttention,"
            f" got {type(last).__name__} with {type(attention).__name__}"
        )
    last.__class__ = FirstTokenBertLayer
    attention.__class__ = FirstTokenSelfAttention
