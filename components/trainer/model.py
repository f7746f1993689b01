"""The classifier: a pretrained BERT encoder, dropout and a dense softmax layer (classic BERT).

    input_ids, attention_mask, token_type_ids  (int32 [batch, max_seq_length], static length;
                                                [batch, None] with variable_length, for batches
                                                trimmed of trailing padding)
      -> "bert"        transformers TFBertModel (pretrained weights from the checkpoint), its
                       self-attention's transposes done on integers, its last layer computed
                       for the first position ([CLS]) only (attention.py); under
                       mixed_bfloat16 its Dense layers, LayerNorms and GELUs with
                       written-out backward passes (dense.py, layer_norm.py, gelu.py)
      -> pooled output (BERT pooler: tanh(dense([CLS] hidden state)))
         or, for a checkpoint without pooler weights, the [CLS] hidden state
      -> "classifier_dropout"  Dropout(config.model.dropout); every dropout of the model a
                               float32-drawn mask multiplied in (dropout.py)
      -> "classifier"          Dense(num_classes), float32 under any mixed-precision policy
      -> "probabilities"       softmax, float32

The default checkpoint (all-MiniLM-L6-v2) does carry pooler weights (`pooler.dense.*`, from the
MiniLM it was distilled from; sentence-transformers itself mean-pools and leaves them untouched),
so it gets the classic pooled head; the pooler is fine-tuned with the rest.

The optimizer is AdamW with linear warmup then linear decay to 0 (as in BERT), weight decay off
for LayerNorm and bias variables, its update of a step compiled as a few XLA programs, one per
group of layers (optimizer.py).

transformers is imported lazily, so that importing this module (for its constants) stays light.
"""

from __future__ import annotations

import contextlib
import logging

import tensorflow as tf

from components.core.checkpoint import resolve_checkpoint
from components.core.config import ModelConfig, TrainConfig
from components.core.features import MODEL_INPUT_KEYS
from components.trainer.dense import use_encoder_dense
from components.trainer.dropout import MaskDropout, use_mask_dropout
from components.trainer.gelu import use_float32_gelu
from components.trainer.layer_norm import use_encoder_layer_norm
from components.trainer.optimizer import AdamW, FusedAdamW

log = logging.getLogger(__name__)

# The dtype of the token features the model reads (the Transform writes int64).
INPUT_DTYPE = tf.int32

BERT_LAYER = "bert"
DROPOUT_LAYER = "classifier_dropout"
DENSE_LAYER = "classifier"
OUTPUT_LAYER = "probabilities"
HEADS = ("pooler", "cls")
NO_WEIGHT_DECAY = ("LayerNorm", "layer_norm", "bias")


# -- model ---------------------------------------------------------------------------------------
def load_pretrained_bert(checkpoint: str = ""):
    """TFBertModel with the checkpoint's weights, and the head it supports ('pooler' or 'cls')."""
    from transformers import TFBertModel

    folder = resolve_checkpoint(checkpoint)
    bert, info = TFBertModel.from_pretrained(folder, output_loading_info=True, name=BERT_LAYER)
    missing = [key for key in info.get("missing_keys", []) if "pooler" in key]
    if not missing:
        return bert, "pooler"
    log.warning(
        "checkpoint %s has no pooler weights (%s); classifying from the [CLS] hidden state",
        folder,
        missing,
    )
    bert = TFBertModel.from_pretrained(folder, add_pooling_layer=False, name=BERT_LAYER)
    return bert, "cls"


def build_classifier(
    model_config: ModelConfig,
    num_classes: int,
    *,
    bert_config=None,
    head: str | None = None,
    variable_length: bool = False,
) -> tf.keras.Model:
    """The Keras functional classifier (see the module docstring).

    By default the encoder is loaded with its pretrained weights from `model_config.checkpoint`.
    With `bert_config` (a transformers BertConfig) it is built with fresh weights instead, which
    is how `serving_copy` rebuilds a trained model (`head` then says which head it had).
    The current global Keras mixed-precision policy applies to everything but the last two layers.
    With `variable_length` the inputs are [batch, None] (any length up to max_seq_length: the
    Trainer's padding-trimmed batches); otherwise [batch, max_seq_length].
    """
    if num_classes < 2:
        raise ValueError(f"a classifier needs at least 2 classes, got {num_classes}")
    if head is not None and head not in HEADS:
        raise ValueError(f"head must be one of {HEADS}, got {head!r}")
    if bert_config is None:
        bert, supported = load_pretrained_bert(model_config.checkpoint)
        head = head or supported
        if head != supported:
            raise ValueError(f"head {head!r} requested but the checkpoint supports {supported!r}")
    else:
        from transformers import TFBertModel

        head = head or "pooler"
        bert = TFBertModel(bert_config, add_pooling_layer=head == "pooler", name=BERT_LAYER)

    # transformers' TF code needs no AutoGraph (its control flow is on Python values); converting
    # it costs tens of seconds each time a Keras call traces it, so it is called as plain Python.
    bert.call = tf.autograph.experimental.do_not_convert(bert.call)
    # The same attention, its head transposes done on the bits as integers: oneDNN's float
    # transposes cost a fifth of a batch-1 serving call. And the last layer computes only the
    # [CLS] position that the head reads (attention.py).
    from components.trainer.attention import use_first_token_output, use_integer_transposes

    use_integer_transposes(bert)
    use_first_token_output(bert)
    # Dropout as a float32-drawn mask: the exact rate under bfloat16, and faster (dropout.py).
    use_mask_dropout(bert)
    # Dense layers, LayerNorms and GELUs whose backward pass costs less under mixed_bfloat16
    # (dense.py, layer_norm.py, gelu.py).
    use_encoder_dense(bert)
    use_encoder_layer_norm(bert)
    use_float32_gelu(bert)

    length = None if variable_length else model_config.max_seq_length
    inputs = {
        name: tf.keras.Input(shape=(length,), dtype=INPUT_DTYPE, name=name)
        for name in MODEL_INPUT_KEYS
    }
    outputs = bert(
        input_ids=inputs["input_ids"],
        attention_mask=inputs["attention_mask"],
        token_type_ids=inputs["token_type_ids"],
    )
    # The pooled output, or the [CLS] hidden state for a checkpoint without pooler weights.
    features = outputs.pooler_output if head == "pooler" else outputs.last_hidden_state[:, 0, :]
    features = MaskDropout(model_config.dropout, name=DROPOUT_LAYER)(features)
    logits = tf.keras.layers.Dense(
        num_classes,
        kernel_initializer=tf.keras.initializers.TruncatedNormal(
            stddev=getattr(bert.config, "initializer_range", 0.02)
        ),
        dtype="float32",
        name=DENSE_LAYER,
    )(features)
    probabilities = tf.keras.layers.Activation("softmax", dtype="float32", name=OUTPUT_LAYER)(
        logits
    )
    return tf.keras.Model(inputs=inputs, outputs=probabilities, name="bert_classifier")


def classifier_head(model: tf.keras.Model) -> str:
    """'pooler' or 'cls': which encoder output the classifier of `model` reads."""
    bert = model.get_layer(BERT_LAYER)
    return "pooler" if getattr(bert.bert, "pooler", None) is not None else "cls"


@contextlib.contextmanager
def keras_policy(policy: str):
    """Temporarily sets the global Keras mixed-precision policy."""
    previous = tf.keras.mixed_precision.global_policy()
    tf.keras.mixed_precision.set_global_policy(policy)
    try:
        yield
    finally:
        tf.keras.mixed_precision.set_global_policy(previous)


def serving_copy(
    model: tf.keras.Model, max_seq_length: int | None = None, *, variable_length: bool = False
) -> tf.keras.Model:
    """A float32, non-distributed copy of a trained classifier, with the same weights.

    Training may run under a distribution strategy (TPU, mirrored) and a mixed-precision policy;
    the exported model should not: it is rebuilt outside any strategy scope in float32 and the
    trained weights are copied in (in order; the architecture is identical). The copy takes
    [batch, None] inputs with `variable_length` (any length up to max_seq_length: the serving
    functions cut padding), else static [batch, max_seq_length] inputs: `max_seq_length` is needed
    for a model trained with variable-length inputs, and must match the input length of one
    trained without.
    """
    bert = model.get_layer(BERT_LAYER)
    trained_length = model.inputs[0].shape[1]
    if max_seq_length is None and trained_length is None:
        raise ValueError("the model takes inputs of any length: pass max_seq_length")
    if None not in (max_seq_length, trained_length) and max_seq_length != trained_length:
        raise ValueError(
            f"max_seq_length {max_seq_length} differs from the model's input length "
            f"{trained_length}"
        )
    model_config = ModelConfig(
        max_seq_length=int(max_seq_length or trained_length),
        dropout=float(model.get_layer(DROPOUT_LAYER).rate),
    )
    num_classes = int(model.get_layer(DENSE_LAYER).units)
    with keras_policy("float32"):
        copy = build_classifier(
            model_config,
            num_classes,
            bert_config=bert.config,
            head=classifier_head(model),
            variable_length=variable_length,
        )
    copy.set_weights(model.get_weights())
    return copy


# -- optimizer -----------------------------------------------------------------------------------
class WarmupLinearDecay(tf.keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup from 0 to `peak` over `warmup_steps`, then linear decay to 0 at `total_steps`.

    Step s (0-based, the optimizer's iteration count) trains with
    peak * min((s + 1) / warmup_steps, (total_steps - s) / (total_steps - warmup_steps)).
    """

    def __init__(self, peak: float, warmup_steps: int, total_steps: int):
        super().__init__()
        self.peak = float(peak)
        self.total_steps = int(total_steps)
        self.warmup_steps = min(int(warmup_steps), self.total_steps - 1)

    def _factors(self, step):
        warmup = (step + 1.0) / max(self.warmup_steps, 1)
        decay = (self.total_steps - step) / max(self.total_steps - self.warmup_steps, 1)
        return warmup, decay

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        warmup, decay = self._factors(step)
        if self.warmup_steps <= 0:
            warmup = tf.ones_like(step)
        return self.peak * tf.clip_by_value(tf.minimum(warmup, decay), 0.0, 1.0)

    def value(self, step: int) -> float:
        """The same in plain Python (for the training history)."""
        warmup, decay = self._factors(float(step))
        if self.warmup_steps <= 0:
            warmup = 1.0
        return self.peak * min(max(min(warmup, decay), 0.0), 1.0)

    def get_config(self):
        return {
            "peak": self.peak,
            "warmup_steps": self.warmup_steps,
            "total_steps": self.total_steps,
        }


def learning_rate_schedule(train_config: TrainConfig) -> WarmupLinearDecay:
    steps = train_config.train_steps
    return WarmupLinearDecay(
        peak=train_config.learning_rate,
        warmup_steps=int(round(train_config.warmup_fraction * steps)),
        total_steps=steps,
    )


def make_optimizer(train_config: TrainConfig, fused: bool = True) -> tf.keras.optimizers.Optimizer:
    """AdamW with the warmup/decay schedule, no weight decay on LayerNorm and biases: the update
    of a step in a few XLA programs (optimizer.FusedAdamW), or with `fused=False` tf-keras's
    AdamW op by op (the same arithmetic)."""
    optimizer = (FusedAdamW if fused else AdamW)(
        learning_rate=learning_rate_schedule(train_config),
        weight_decay=train_config.weight_decay,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-6,
    )
    optimizer.exclude_from_weight_decay(var_names=list(NO_WEIGHT_DECAY))
    return optimizer


def compile_classifier(
    model: tf.keras.Model, train_config: TrainConfig, fused_optimizer: bool = True
) -> tf.keras.Model:
    """Compiles with AdamW, sparse categorical cross-entropy and (sample-weighted) accuracy.

    Accuracy is a weighted metric so that evaluation can pad its last batch with zero-weight
    examples (static shapes) without counting them.
    """
    # AutoGraph leaves packages named `keras` alone but converts `tf_keras` (Keras 2 since TF
    # 2.16) and transformers, which takes minutes to trace a BERT step; neither needs it.
    for step in ("train_step", "test_step", "predict_step"):
        setattr(model, step, tf.autograph.experimental.do_not_convert(getattr(model, step)))
    model.compile(
        optimizer=make_optimizer(train_config, fused_optimizer),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(),
        weighted_metrics=[tf.keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        steps_per_execution=train_config.steps_per_execution,
        jit_compile=train_config.jit_compile,
    )
    return model
