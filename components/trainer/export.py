"""Exporting the trained classifier as the serving SavedModel, and warm starts from one.

`export_serving_model` writes a SavedModel (a plain tf.Module, not a Keras model, so that TFMA
treats it as a generic TF model and nothing Keras- or transformers-specific is needed to load it)
with the signatures that components.core.serving names and describes. `transform_features` maps
serialized tf.Examples to the Transform's output features (input_ids, attention_mask,
token_type_ids, truncated, label_id); its examples must carry the raw features the Transform's raw
schema requires (for TFMA: `text` and `label`, and `text_pair` for a pair model). TFMA uses it as
`preprocessing_function_names`. A pair model (the Transform's raw schema has `text_pair`) has a
`serving_default` that takes `text_pair` beside `text`.

Tokenization runs inside the model, through the Transform graph
(`tf_transform_output.transform_features_layer()`); labels are mapped back to strings with the
Transform's `label_vocab` vocabulary, embedded as a constant (also returned by the saved
function `class_labels()`, not a signature). Loading the model needs only
`import tensorflow, tensorflow_text` (the latter registers the WordPiece/normalisation ops).

The exported weights are float32 whatever the training precision (model.serving_copy).

**Real length.** The Transform pads every example to max_seq_length. Before the encoder, the
serving functions cut the batch's token features to its used length (one past the last position
where any row has a real token; data.used_length), so a batch of short sentences runs the encoder
on their tokens, not on max_seq_length: the same outputs (padding is masked), a fraction of the
work. The signatures, their inputs and outputs are unchanged. `cut_padding=False` exports the
static full-length model instead (for a server that needs static shapes, e.g. on a TPU).

**Length groups.** A batch's rows are not of one length: cut to its longest row, a batch of 32
SST-2 sentences is half padding. With `length_groups` (the default, with the cut) the rows are
split by real length into the groups of `group_bounds` (1-16, 17-32, 33-64, 65-128 tokens at
L = 128), and the encoder runs once per group that has rows, each cut to its own longest row
(`encode_by_length`); the outputs are put back in order. On SST-2 dev batches of 32 that
computes 79% real tokens instead of 51% (about 1.5x less CPU time per example). A batch whose
rows all lie in one group (a batch of one, always) runs the encoder once without splitting. Each
row's probabilities are those it gets alone (to float rounding, < 1e-7).
"""

from __future__ import annotations

import logging

import tensorflow as tf

from components.core import serving
from components.core.features import (
    ATTENTION_MASK,
    LABEL_FEATURE,
    LABEL_ID,
    MODEL_INPUT_KEYS,
    TEXT_FEATURE,
    TEXT_PAIR_FEATURE,
)
from components.core.transform_output import label_vocabulary, sequence_length, takes_pairs
from components.trainer.data import row_lengths, used_length
from components.trainer.model import INPUT_DTYPE, serving_copy

log = logging.getLogger(__name__)

MIN_GROUP_LENGTH = 16  # the first serving length group: real lengths 1-16


def _raw_text(
    text: tf.Tensor, spec, name: str = TEXT_FEATURE
) -> tf.Tensor | tf.SparseTensor | tf.RaggedTensor:
    """A [batch] string tensor in the form the raw feature spec of `name` declares."""
    if isinstance(spec, tf.io.FixedLenFeature):
        shape = list(spec.shape)
        if shape in ([], [1]):
            return text if not shape else tf.expand_dims(text, 1)
        raise ValueError(f"raw feature {name!r} must be a single string, got shape {shape}")
    if isinstance(spec, tf.io.VarLenFeature):
        rows = tf.shape(text, out_type=tf.int64)[0]
        indices = tf.stack([tf.range(rows), tf.zeros([rows], tf.int64)], axis=1)
        return tf.SparseTensor(indices, text, dense_shape=tf.stack([rows, 1]))
    if isinstance(spec, tf.io.RaggedFeature):
        return tf.RaggedTensor.from_tensor(tf.expand_dims(text, 1))
    raise ValueError(f"unsupported raw feature spec for {name!r}: {spec}")


def export_serving_model(
    model: tf.keras.Model,
    tf_transform_output,
    export_dir: str,
    *,
    cut_padding: bool = True,
    length_groups: bool = True,
) -> str:
    """Writes the serving SavedModel of a trained classifier to `export_dir` (see module doc)."""
    module, signatures = serving_module(
        model,
        tf_transform_output,
        cut_padding=cut_padding,
        length_groups=length_groups,
    )
    tf.saved_model.save(module, export_dir, signatures=signatures)
    log.info("exported the serving model (labels %s) to %s", module.labels, export_dir)
    print(f"Exported the serving model to {export_dir}", flush=True)
    return export_dir


def serving_module(
    model: tf.keras.Model,
    tf_transform_output,
    *,
    cut_padding: bool = True,
    length_groups: bool = True,
) -> tuple[tf.Module, dict]:
    """The tf.Module that export_serving_model saves, and its signatures (concrete functions)."""
    labels = label_vocabulary(tf_transform_output)
    max_seq_length = sequence_length(tf_transform_output)
    serving_model = serving_copy(
        model,
        max_seq_length=max_seq_length,
        variable_length=cut_padding,
    )
    raw_spec = tf_transform_output.raw_feature_spec()
    if TEXT_FEATURE not in raw_spec:
        raise ValueError(f"the Transform's raw schema has no {TEXT_FEATURE!r} feature: {raw_spec}")
    example_spec = {name: spec for name, spec in raw_spec.items() if name != LABEL_FEATURE}

    module = tf.Module()
    module.labels = labels
    tft_layer = tf_transform_output.transform_features_layer()
    module.transform_resources = _transform_resources(tft_layer)
    # The functions below call the Keras model directly; only its variables are tracked, so the
    # SavedModel holds no Keras (or transformers) objects that a loader would have to revive.
    module.model_variables = list(serving_model.variables)
    label_strings = tf.constant(labels, dtype=tf.string)
    groups = group_bounds(max_seq_length)

    # One function for the encoder, traced once: every length group's branch and every
    # signature calls it (tracing it inline in each would export, and load, it 8 times). It is
    # also kept out of line at run time (`_noinline`): TensorFlow would otherwise inline and
    # optimise a copy of the whole encoder at each of its five call sites per signature on the
    # first request (a first request of 3.1 to 3.4 s instead of 1.4 s; the same latency after).
    length = None if cut_padding else max_seq_length

    @tf.function(
        input_signature=[
            {name: tf.TensorSpec([None, length], INPUT_DTYPE) for name in MODEL_INPUT_KEYS}
        ],
        autograph=False,
        experimental_attributes={"_noinline": True},
    )
    def encode(inputs):
        return tf.cast(serving_model(inputs, training=False), tf.float32)

    def cut(inputs):
        length = used_length(inputs[ATTENTION_MASK])
        return {name: value[:, :length] for name, value in inputs.items()}

    def classify(raw_features):
        transformed = tft_layer(raw_features)
        missing = [name for name in MODEL_INPUT_KEYS if name not in transformed]
        if missing:
            raise ValueError(
                f"the Transform graph does not produce {missing} from {sorted(raw_features)}"
            )
        inputs = {name: tf.cast(transformed[name], INPUT_DTYPE) for name in MODEL_INPUT_KEYS}
        if cut_padding and length_groups:
            probabilities = encode_by_length(inputs, encode, groups, len(labels), cut)
        else:
            probabilities = encode(cut(inputs) if cut_padding else inputs)
        label_id = tf.argmax(probabilities, axis=-1, output_type=tf.int64)
        return {
            serving.OUTPUT_LABEL: tf.gather(label_strings, label_id),
            LABEL_ID: label_id,
            serving.OUTPUT_PROBABILITIES: probabilities,
        }

    if takes_pairs(tf_transform_output):  # a pair model: serving_default takes both texts

        @tf.function(
            input_signature=[
                tf.TensorSpec([None], tf.string, name=serving.TEXT_INPUT),
                tf.TensorSpec([None], tf.string, name=serving.TEXT_PAIR_INPUT),
            ],
            autograph=False,
        )
        def serve_text(text, text_pair):
            return classify(
                {
                    TEXT_FEATURE: _raw_text(text, raw_spec[TEXT_FEATURE]),
                    TEXT_PAIR_FEATURE: _raw_text(
                        text_pair, raw_spec[TEXT_PAIR_FEATURE], TEXT_PAIR_FEATURE
                    ),
                }
            )

    else:

        @tf.function(
            input_signature=[tf.TensorSpec([None], tf.string, name=serving.TEXT_INPUT)],
            autograph=False,
        )
        def serve_text(text):
            return classify({TEXT_FEATURE: _raw_text(text, raw_spec[TEXT_FEATURE])})

    @tf.function(
        input_signature=[tf.TensorSpec([None], tf.string, name=serving.EXAMPLES_INPUT)],
        autograph=False,
    )
    def serve_examples(examples):
        return classify(tf.io.parse_example(examples, example_spec))

    @tf.function(
        input_signature=[tf.TensorSpec([None], tf.string, name=serving.EXAMPLES_INPUT)],
        autograph=False,
    )
    def transform_features(examples):
        return dict(tft_layer(tf.io.parse_example(examples, raw_spec)))

    @tf.function(input_signature=[], autograph=False)
    def labels_by_id():
        return label_strings

    signatures = {
        serving.SERVING_DEFAULT: serve_text.get_concrete_function(),
        serving.SERVING_EXAMPLES: serve_examples.get_concrete_function(),
        serving.TRANSFORM_FEATURES: transform_features.get_concrete_function(),
    }
    # The module keeps the functions traced above (concrete functions): tf.functions would be
    # traced again by tf.saved_model.save, the whole BERT graph with them (4 to 5 s a save).
    module.class_labels = labels_by_id.get_concrete_function()
    module.serve_text = signatures[serving.SERVING_DEFAULT]
    module.serve_examples = signatures[serving.SERVING_EXAMPLES]
    module.transform_features = signatures[serving.TRANSFORM_FEATURES]
    return module, signatures


def _transform_resources(tft_layer):
    """What the Transform graph that `tft_layer` calls needs in the SavedModel (the loaded
    transform graph, its tables and their vocabulary assets): the state of the layer's loader,
    which tf.Transform's layer itself tracks as `_saved_model_loader_tracked_dict`.

    The module tracks that state, not the layer: the layer is a Keras model, and tf_keras traces
    a Keras model reached by tf.saved_model.save for a default signature of its own (AutoGraph
    over the whole Transform graph: 3 to 5 s of every export, for a signature nobody calls).
    """
    resources = getattr(tft_layer, "_saved_model_loader_tracked_dict", None)
    if resources is None:
        raise RuntimeError(
            "tf.Transform's TransformFeaturesLayer has no _saved_model_loader_tracked_dict (it"
            " tracks its loader's state there in tensorflow-transform 1.16, eager mode); the"
            " serving export needs that state to save the Transform graph"
        )
    return resources


def group_bounds(max_seq_length: int) -> tuple[int, ...]:
    """The upper lengths of the serving length groups: 16, 32, 64, ... below max_seq_length, then
    max_seq_length (4 groups at 128)."""
    bounds, upper = [], MIN_GROUP_LENGTH
    while upper < max_seq_length:
        bounds.append(upper)
        upper *= 2
    return (*bounds, max_seq_length)


def encode_by_length(inputs: dict, encode, bounds: tuple[int, ...], num_classes: int, cut):
    """`encode` (-> [rows, num_classes]) of a batch, run once per length group that has rows:
    the rows whose real length (one past their last attention_mask position) lies in
    (previous bound, bound], gathered and cut by `cut` to the group's used length; the outputs
    are put back in the batch's order. A batch whose rows all lie in one group (a batch of one
    row, always) runs `encode` once on the whole batch, without gathering. Every row is computed
    as alone (padding is masked)."""
    mask = inputs[ATTENTION_MASK]
    # Each row's group: the first bound at or above its real length.
    groups = tf.searchsorted(tf.constant(bounds, mask.dtype), row_lengths(mask), side="left")

    def one_group():  # every row in one group (always at batch 1): no gathering, one run
        return encode(cut(inputs))

    def by_group():
        indices, outputs = [], []
        for group in range(len(bounds)):
            rows = tf.cast(tf.where(groups == group)[:, 0], tf.int32)

            def run(rows=rows):
                return encode(cut({name: tf.gather(value, rows) for name, value in inputs.items()}))

            def skip():
                return tf.zeros([0, num_classes], tf.float32)

            indices.append(rows)
            outputs.append(tf.cond(tf.size(rows) > 0, run, skip))
        return tf.dynamic_stitch(indices, outputs)

    # An empty batch has min > max and takes by_group, whose groups are all empty.
    return tf.cond(tf.reduce_min(groups) == tf.reduce_max(groups), one_group, by_group)


def load_serving_weights(
    model: tf.keras.Model, export_dir: str, labels: list[str], *, pairs: bool = False
) -> None:
    """Warm start: copies the weights of an exported serving model into `model`, in place.

    The serving model must classify the same labels in the same order, the same kind of input
    (pairs of texts when `pairs`, else single texts), and hold weights of the same shapes (the
    same checkpoint architecture); otherwise a ValueError says what differs.
    """
    if serving.is_pair_model(export_dir) != pairs:
        kinds = ("pairs of texts", "single texts")
        raise ValueError(
            f"cannot warm-start from {export_dir}: it classifies {kinds[pairs]}, this data"
            f" holds {kinds[not pairs]}; train from the checkpoint with --no-warm-start"
        )
    loaded = tf.saved_model.load(serving.find_saved_model(export_dir))
    if not all(hasattr(loaded, name) for name in ("class_labels", "model_variables")):
        raise ValueError(
            f"cannot warm-start from {export_dir}: it is not a model this pipeline exported (no"
            " class_labels or model_variables); train from the checkpoint with --no-warm-start"
        )
    production_labels = serving.class_labels(loaded)
    if production_labels != list(labels):
        raise ValueError(
            f"cannot warm-start from {export_dir}: it classifies {production_labels}, this data"
            f" has {list(labels)}; train from the checkpoint with --no-warm-start"
        )
    saved, current = list(loaded.model_variables), list(model.variables)
    shapes = [(tuple(s.shape), tuple(c.shape)) for s, c in zip(saved, current, strict=False)]
    mismatch = next((i for i, (a, b) in enumerate(shapes) if a != b), None)
    if len(saved) != len(current) or mismatch is not None:
        where = (
            f"variable {current[mismatch].name} is {shapes[mismatch][1]} here and"
            f" {shapes[mismatch][0]} there"
            if mismatch is not None
            else f"{len(current)} variables here, {len(saved)} there"
        )
        raise ValueError(
            f"cannot warm-start from {export_dir}: a different architecture ({where});"
            " train from the checkpoint with --no-warm-start"
        )
    for target, source in zip(current, saved, strict=True):
        target.assign(tf.cast(source, target.dtype))
    log.info("warm start: %d weights from %s", len(current), export_dir)
