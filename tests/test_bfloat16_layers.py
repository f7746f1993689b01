"""The encoder's Dense, LayerNorm and GELU with written-out backward passes (dense.py,
layer_norm.py, gelu.py): Keras's and transformers' results in float32, the same function to
bfloat16 rounding under mixed_bfloat16, and weight gradients the optimizers take in bfloat16."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from components.core.config import ModelConfig, TrainConfig
from components.trainer import model as model_lib
from components.trainer.dense import EncoderDense, use_encoder_dense
from components.trainer.gelu import gelu, use_float32_gelu
from components.trainer.layer_norm import EncoderLayerNorm, use_encoder_layer_norm


def _tiny_config(**overrides):
    from transformers import BertConfig

    return BertConfig(
        vocab_size=60, hidden_size=24, num_hidden_layers=2, num_attention_heads=3,
        intermediate_size=40, max_position_embeddings=32, **overrides,
    )  # fmt: skip


def _f32(x) -> np.ndarray:
    return tf.cast(tf.convert_to_tensor(x), tf.float32).numpy()


def _pair(keras_class, ours_class, policy, **kwargs):
    """A Keras layer and ours with the same weights, built for [3, 5, 24] inputs."""
    layers = []
    for cls in (keras_class, ours_class):
        tf.keras.utils.set_random_seed(0)
        layer = cls(dtype=policy, **kwargs)
        layer.build((3, 5, 24))
        layers.append(layer)
    for weight in layers[0].weights:  # non-trivial biases, offsets and scales
        weight.assign(tf.random.stateless_normal(weight.shape, [1, 2]) * 0.5 + 0.3)
    layers[1].set_weights(layers[0].get_weights())
    return layers


def _result_and_gradients(layer, inputs):
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        outputs = layer(inputs)
        loss = tf.reduce_sum(
            tf.cast(outputs, tf.float32) * tf.sin(tf.range(40.0))[: outputs.shape[-1]]
        )
    return outputs, tape.gradient(loss, [inputs, *layer.trainable_weights])


@pytest.mark.parametrize("kind", ["dense", "layer_norm"])
def test_float32_is_keras_unchanged_and_bfloat16_the_same_function(kind):
    classes = {
        "dense": (tf.keras.layers.Dense, EncoderDense, {"units": 40}),
        "layer_norm": (tf.keras.layers.LayerNormalization, EncoderLayerNorm, {"epsilon": 1e-12}),
    }[kind]
    x = tf.random.stateless_normal((3, 5, 24), [3, 4]) * 2.0
    keras, ours = _pair(classes[0], classes[1], "float32", **classes[2])
    want, got = _result_and_gradients(keras, x), _result_and_gradients(ours, x)
    np.testing.assert_array_equal(got[0].numpy(), want[0].numpy())
    for g, w in zip(got[1], want[1], strict=True):
        np.testing.assert_array_equal(g.numpy(), w.numpy())

    keras, ours = _pair(classes[0], classes[1], "mixed_bfloat16", **classes[2])
    x16 = tf.cast(x, tf.bfloat16)
    (want_out, want_grads), (got_out, got_grads) = (
        _result_and_gradients(keras, x16),
        _result_and_gradients(ours, x16),
    )
    assert got_out.dtype == tf.bfloat16 and got_out.shape == want_out.shape
    # Keras's bfloat16 graph may round after each op, ours once: a few bfloat16 steps apart.
    scale = np.abs(_f32(want_out)).max()
    assert np.abs(_f32(got_out) - _f32(want_out)).max() < 0.03 * scale
    for g, w in zip(got_grads, want_grads, strict=True):
        assert g.shape == w.shape
        assert np.abs(_f32(g) - _f32(w)).max() < 0.03 * np.abs(_f32(w)).max()


def test_dense_weight_gradients_stay_bfloat16_except_under_a_strategy():
    x16 = tf.cast(tf.random.stateless_normal((3, 5, 24), [3, 4]), tf.bfloat16)
    _, ours = _pair(tf.keras.layers.Dense, EncoderDense, "mixed_bfloat16", units=40)
    _, (input_grad, kernel_grad, bias_grad) = _result_and_gradients(ours, x16)
    # The float32 variables' gradients, left in bfloat16 for the optimizer to cast.
    assert [g.dtype for g in (input_grad, kernel_grad, bias_grad)] == [tf.bfloat16] * 3
    assert ours.kernel.true_dtype == tf.float32
    # Against the textbook gradients in float32 of the same bfloat16 numbers.
    weights = tf.sin(tf.range(40.0))
    x, kernel = _f32(x16), _f32(tf.cast(ours.kernel, tf.bfloat16))
    np.testing.assert_allclose(
        _f32(kernel_grad), np.einsum("bli,o->io", x, weights), rtol=0.02, atol=0.05
    )
    np.testing.assert_allclose(_f32(bias_grad), 15 * weights.numpy(), rtol=0.01, atol=1e-6)
    np.testing.assert_allclose(
        _f32(input_grad), np.broadcast_to(kernel @ weights.numpy(), x.shape), rtol=0.02, atol=0.05
    )

    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    with strategy.scope():
        _, summed = _pair(tf.keras.layers.Dense, EncoderDense, "mixed_bfloat16", units=40)
        _, (_, kernel_grad, bias_grad) = strategy.run(_result_and_gradients, (summed, x16))
    assert kernel_grad.dtype == bias_grad.dtype == tf.float32  # summed across replicas in float32


def test_gelu_is_float32_gelu_rounded_to_bfloat16_with_its_gradient():
    x = tf.cast(tf.linspace(-6.0, 6.0, 4001), tf.bfloat16)
    x32 = tf.cast(x, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x32)
        exact = tf.nn.gelu(x32, approximate=False)
    reference = tape.gradient(exact, x32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = gelu(x)
    gradient = tape.gradient(y, x)
    # float32 GELU rounded once to bfloat16: at most one bfloat16 step from it.
    np.testing.assert_allclose(_f32(y), _f32(tf.cast(exact, tf.bfloat16)), rtol=2**-8, atol=1e-6)
    assert gradient.dtype == tf.bfloat16
    np.testing.assert_allclose(_f32(gradient), reference.numpy(), rtol=0.008, atol=1e-6)
    # float32: tf.nn.gelu itself.
    x32 = tf.linspace(-6.0, 6.0, 101)
    np.testing.assert_array_equal(gelu(x32).numpy(), tf.nn.gelu(x32, approximate=False).numpy())


def test_only_exact_gelu_is_replaced():
    from transformers import TFBertModel

    for act, replaced in (("gelu", True), ("gelu_new", False), ("relu", False)):
        bert = TFBertModel(_tiny_config(hidden_act=act))
        use_float32_gelu(bert)
        intermediates = [layer.intermediate for layer in bert.bert.encoder.layer]
        assert all((i.intermediate_act_fn is gelu) == replaced for i in intermediates)


def test_the_classifier_uses_them_and_both_optimizers_take_bfloat16_gradients():
    batch = {
        "input_ids": tf.constant([[2, 7, 9, 3, 0], [2, 11, 3, 0, 0]], tf.int32),
        "attention_mask": tf.constant([[1, 1, 1, 1, 0], [1, 1, 1, 0, 0]], tf.int32),
        "token_type_ids": tf.zeros((2, 5), tf.int32),
    }
    labels = tf.constant([0, 1])
    trained = []
    for fused in (True, False):
        with model_lib.keras_policy("mixed_bfloat16"):
            tf.keras.utils.set_random_seed(0)
            model = model_lib.build_classifier(
                ModelConfig(max_seq_length=5), 2, bert_config=_tiny_config(), variable_length=True
            )
            model_lib.compile_classifier(model, TrainConfig(train_steps=10), fused)
            bert = model.get_layer(model_lib.BERT_LAYER)
            denses = [s for s in bert.submodules if isinstance(s, tf.keras.layers.Dense)]
            norms = [
                s for s in bert.submodules if isinstance(s, tf.keras.layers.LayerNormalization)
            ]
            assert len(denses) == 2 * 6 + 1 and {type(s) for s in denses} == {EncoderDense}
            assert len(norms) == 1 + 2 * 2 and {type(s) for s in norms} == {EncoderLayerNorm}
            before = [w.numpy() for w in model.trainable_weights]
            for _ in range(3):
                model.train_on_batch(batch, labels)
        after = [w.numpy() for w in model.trainable_weights]
        assert all(w.dtype == np.float32 for w in after)
        assert all(np.abs(a - b).max() > 0 for a, b in zip(after, before, strict=True))
        trained.append(after)
    # The fused (XLA) update and tf-keras's op by op cast the bfloat16 gradients alike.
    for a, b in zip(*trained, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_they_refuse_what_they_do_not_compute():
    with pytest.raises(ValueError, match="with a bias"):
        dense = EncoderDense(4, use_bias=False, dtype="mixed_bfloat16")
        dense(tf.ones((2, 3), tf.bfloat16))
    norm = EncoderLayerNorm(axis=1, dtype="mixed_bfloat16")
    with pytest.raises(ValueError, match="normalizes the last axis"):
        norm(tf.ones((2, 3, 4), tf.bfloat16))
    holder = tf.keras.Sequential([tf.keras.layers.Dense(3), tf.keras.layers.LayerNormalization()])
    use_encoder_dense(holder)
    use_encoder_layer_norm(holder)
    assert [type(layer) for layer in holder.layers] == [EncoderDense, EncoderLayerNorm]
