"""The serving SavedModel, and `predict` for the CLI.

`export_serving_model` writes a SavedModel (a plain tf.Module, not a Keras model, so that TFMA
treats it as a generic TF model and nothing Keras- or transformers-specific is needed to load it)
with three signatures:

- `serving_default`:  text      tf.string [None]  (raw sentences)
                      -> label          tf.string  [None]   predicted class label
                         label_id       tf.int64   [None]   its id (index in the label vocabulary)
                         probabilities  tf.float32 [None, num_classes]  (by label id)
- `serving_examples`: examples  tf.string [None]  (serialized tf.Examples with a `text` feature)
                      -> the same three outputs (for TFMA and TF Serving's Predict on Examples)
- `transform_features`: examples tf.string [None] -> the Transform's output features
                      (input_ids, attention_mask, token_type_ids, truncated, label_id); the examples
                      must carry the raw features the Transform's raw schema requires (for TFMA:
                      `text` and `label`). TFMA uses it as `preprocessing_function_names`.

Tokenization runs inside the model, through the Transform graph
(`tf_transform_output.transform_features_layer()`); labels are mapped back to strings with the
Transform's `label_vocab` vocabulary, embedded as a constant (also returned by the saved
function `class_labels()`, not a signature). Loading the model needs only
`import tensorflow, tensorflow_text` (the latter registers the WordPiece/normalisation ops).

The exported weights are float32 whatever the training precision (components.model.serving_copy).
"""

from __future__ import annotations

import functools
import logging
import os
from typing import NamedTuple

import tensorflow as tf

from components.features import LABEL_ID
from pipeline.configs import LABEL_FEATURE, TEXT_FEATURE

log = logging.getLogger(__name__)

SERVING_DEFAULT = "serving_default"
SERVING_EXAMPLES = "serving_examples"
TRANSFORM_FEATURES = "transform_features"
OUTPUT_LABEL = "label"
OUTPUT_LABEL_ID = LABEL_ID
OUTPUT_PROBABILITIES = "probabilities"
TEXT_INPUT = "text"
EXAMPLES_INPUT = "examples"


def _raw_text(text: tf.Tensor, spec) -> tf.Tensor | tf.SparseTensor | tf.RaggedTensor:
    """A [batch] string tensor in the form the raw feature spec of `text` declares."""
    if isinstance(spec, tf.io.FixedLenFeature):
        shape = list(spec.shape)
        if shape in ([], [1]):
            return text if not shape else tf.expand_dims(text, 1)
        raise ValueError(f"raw feature {TEXT_FEATURE!r} must be a single string, got shape {shape}")
    if isinstance(spec, tf.io.VarLenFeature):
        rows = tf.shape(text, out_type=tf.int64)[0]
        indices = tf.stack([tf.range(rows), tf.zeros([rows], tf.int64)], axis=1)
        return tf.SparseTensor(indices, text, dense_shape=tf.stack([rows, 1]))
    if isinstance(spec, tf.io.RaggedFeature):
        return tf.RaggedTensor.from_tensor(tf.expand_dims(text, 1))
    raise ValueError(f"unsupported raw feature spec for {TEXT_FEATURE!r}: {spec}")


def export_serving_model(model: tf.keras.Model, tf_transform_output, export_dir: str) -> str:
    """Writes the serving SavedModel of a trained classifier to `export_dir` (see module doc)."""
    from components.model import INPUT_DTYPE, INPUT_FEATURES, serving_copy
    from components.trainer import label_vocabulary, sequence_length

    labels = label_vocabulary(tf_transform_output)
    serving_model = serving_copy(model, max_seq_length=sequence_length(tf_transform_output))
    raw_spec = tf_transform_output.raw_feature_spec()
    if TEXT_FEATURE not in raw_spec:
        raise ValueError(f"the Transform's raw schema has no {TEXT_FEATURE!r} feature: {raw_spec}")
    example_spec = {name: spec for name, spec in raw_spec.items() if name != LABEL_FEATURE}

    module = tf.Module()
    module.tft_layer = tf_transform_output.transform_features_layer()
    # The functions below call the Keras model directly; only its variables are tracked, so the
    # SavedModel holds no Keras (or transformers) objects that a loader would have to revive.
    module.model_variables = list(serving_model.variables)
    label_strings = tf.constant(labels, dtype=tf.string)

    def classify(raw_features):
        transformed = module.tft_layer(raw_features)
        missing = [name for name in INPUT_FEATURES if name not in transformed]
        if missing:
            raise ValueError(
                f"the Transform graph does not produce {missing} from {sorted(raw_features)}"
            )
        inputs = {name: tf.cast(transformed[name], INPUT_DTYPE) for name in INPUT_FEATURES}
        probabilities = tf.cast(serving_model(inputs, training=False), tf.float32)
        label_id = tf.argmax(probabilities, axis=-1, output_type=tf.int64)
        return {
            OUTPUT_LABEL: tf.gather(label_strings, label_id),
            OUTPUT_LABEL_ID: label_id,
            OUTPUT_PROBABILITIES: probabilities,
        }

    @tf.function(
        input_signature=[tf.TensorSpec([None], tf.string, name=TEXT_INPUT)], autograph=False
    )
    def serve_text(text):
        return classify({TEXT_FEATURE: _raw_text(text, raw_spec[TEXT_FEATURE])})

    @tf.function(
        input_signature=[tf.TensorSpec([None], tf.string, name=EXAMPLES_INPUT)], autograph=False
    )
    def serve_examples(examples):
        return classify(tf.io.parse_example(examples, example_spec))

    @tf.function(
        input_signature=[tf.TensorSpec([None], tf.string, name=EXAMPLES_INPUT)], autograph=False
    )
    def transform_features(examples):
        return dict(module.tft_layer(tf.io.parse_example(examples, raw_spec)))

    @tf.function(input_signature=[], autograph=False)
    def labels_by_id():
        return label_strings

    module.class_labels = labels_by_id
    module.serve_text = serve_text
    module.serve_examples = serve_examples
    module.transform_features = transform_features
    signatures = {
        SERVING_DEFAULT: serve_text.get_concrete_function(),
        SERVING_EXAMPLES: serve_examples.get_concrete_function(),
        TRANSFORM_FEATURES: transform_features.get_concrete_function(),
    }
    tf.saved_model.save(module, export_dir, signatures=signatures)
    log.info("exported the serving model (labels %s) to %s", labels, export_dir)
    print(f"Exported the serving model to {export_dir}", flush=True)
    return export_dir


def class_labels(loaded) -> list[str]:
    """The class labels by label id, from a loaded serving model (its `class_labels` function)."""
    return [value.decode("utf-8") for value in loaded.class_labels().numpy()]


def load_serving_weights(model: tf.keras.Model, export_dir: str, labels: list[str]) -> None:
    """Warm start: copies the weights of an exported serving model into `model`, in place.

    The serving model must classify the same labels in the same order and hold weights of the
    same shapes (the same checkpoint architecture); otherwise a ValueError says what differs.
    """
    import tensorflow_text  # noqa: F401  (registers the ops the tokenizer uses)

    loaded = tf.saved_model.load(find_saved_model(export_dir))
    if not all(hasattr(loaded, name) for name in ("class_labels", "model_variables")):
        raise ValueError(
            f"cannot warm-start from {export_dir}: it is not a model this pipeline exported (no"
            " class_labels or model_variables); train from the checkpoint with --no-warm-start"
        )
    production_labels = class_labels(loaded)
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


# -- prediction ----------------------------------------------------------------------------------
class Prediction(NamedTuple):
    """The predicted label of one text and its probability."""

    label: str
    probability: float


def production_versions(push_dir: str) -> list[int]:
    """Version numbers of the complete models under a serving folder, oldest first.

    A version counts once its `saved_model.pb` is in place (TF Serving's own rule); staging folders
    (non-numeric names) are ignored.
    """
    if not push_dir or not tf.io.gfile.isdir(push_dir):
        return []
    versions = []
    for name in tf.io.gfile.listdir(push_dir):
        name = name.rstrip("/")
        if name.isdigit() and tf.io.gfile.exists(os.path.join(push_dir, name, "saved_model.pb")):
            versions.append(int(name))
    return sorted(versions)


def find_saved_model(path: str) -> str:
    """The SavedModel folder at `path`: the folder itself, a TFX Trainer model artifact
    (`Format-Serving/`), or a Pusher/serving folder of numbered versions (the newest)."""
    if tf.io.gfile.exists(os.path.join(path, "saved_model.pb")):
        return path
    serving = os.path.join(path, "Format-Serving")
    if tf.io.gfile.exists(os.path.join(serving, "saved_model.pb")):
        return serving
    versions = production_versions(path)
    if versions:
        return os.path.join(path, str(versions[-1]))
    raise FileNotFoundError(
        f"no SavedModel at {path!r} (expected saved_model.pb, Format-Serving/, or numbered "
        "version folders)"
    )


@functools.lru_cache(maxsize=4)
def load_serving_model(path: str):
    """tf.saved_model.load of the SavedModel at (or under) `path`, cached per process."""
    import tensorflow_text  # noqa: F401  (registers the ops the tokenizer uses)

    return tf.saved_model.load(find_saved_model(path))


def _classify(model_dir: str, texts: list[str], batch_size: int):
    """Yields (label, label_id, probabilities row) per text, through `serving_default`."""
    serving = load_serving_model(model_dir).signatures[SERVING_DEFAULT]
    for start in range(0, len(texts), batch_size):
        batch = tf.constant(list(texts[start : start + batch_size]), dtype=tf.string)
        outputs = serving(**{TEXT_INPUT: batch})
        labels = [value.decode("utf-8") for value in outputs[OUTPUT_LABEL].numpy()]
        yield from zip(
            labels,
            outputs[OUTPUT_LABEL_ID].numpy().tolist(),
            outputs[OUTPUT_PROBABILITIES].numpy().tolist(),
            strict=True,
        )


def predict(model_dir: str, texts: list[str], batch_size: int = 64) -> list[Prediction]:
    """Classifies raw texts with an exported model: one Prediction(label, probability) per text,
    in order. `model_dir` may be the SavedModel, a Trainer model artifact or a Pusher folder."""
    return [
        Prediction(label=label, probability=float(row[label_id]))
        for label, label_id, row in _classify(model_dir, texts, batch_size)
    ]


def predict_probabilities(
    model_dir: str, texts: list[str], batch_size: int = 64
) -> list[dict[str, float]]:
    """The probability of every class label, per text."""
    classes = class_labels(load_serving_model(model_dir))
    return [
        dict(zip(classes, map(float, row), strict=True))
        for _, _, row in _classify(model_dir, texts, batch_size)
    ]
