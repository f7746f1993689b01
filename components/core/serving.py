"""The serving model's interface and where models in production live: one name for each.

An exported model (components/trainer/export.py writes it) has three signatures:

- `serving_default`:  text      tf.string [None]  (raw sentences)
                      text_pair tf.string [None]  (a pair model only: the second texts)
                      -> label          tf.string  [None]   predicted class label
                         label_id       tf.int64   [None]   its id (index in the label vocabulary)
                         probabilities  tf.float32 [None, num_classes]  (by label id)
- `serving_examples`: examples  tf.string [None]  (serialized tf.Examples with a `text` feature,
                                                   and `text_pair` for a pair model)
                      -> the same three outputs (for TFMA and TF Serving's Predict on Examples)
- `transform_features`: examples tf.string [None] -> the Transform's output features

and a saved function `class_labels()` (the labels by id). A model trained on sentence pairs
(data.text_pair_column) is a *pair model*: its `serving_default` takes `text_pair` beside `text`,
which is how anything that holds the SavedModel tells (`is_pair_model`, from saved_model.pb alone);
a single-text model's signatures have no `text_pair`. Models in production are version
folders under a push folder, `<push_dir>/<version>/saved_model.pb`; a version counts once its
saved_model.pb is in place (TF Serving's rule). `ProductionBaseline` (components/baseline.py)
marks its outputs with `HAS_MODEL`, `VERSION`, `SOURCE` and `HAS_STATISTICS`.

A version folder also carries the drift statistics of the data its model was trained on
(components/drift/), written by the Pusher before saved_model.pb, under `assets.extra/`, which TF
Serving does not read: `assets.extra/bertpipe/training_statistics/Split-<split>/FeatureStats.pb`
and `lineage.json` ({"span": ..., "split_names": [...], "statistics": the artifact's URI}).

Loading a serving model needs only TensorFlow and tensorflow_text (imported here: it registers
the tokenizer's ops), as in TF Serving; `predict` classifies raw texts (or pairs) with one, and
batch scoring (components/scoring/) loads one with `load_classifier`.
"""

from __future__ import annotations

import functools
import json
import os
from typing import NamedTuple

import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the ops the serving model's tokenizer uses)
from tensorflow.core.protobuf import saved_model_pb2

from components.core.errors import UserError
from components.core.features import (
    INPUT_IDS,
    LABEL_FEATURE,
    LABEL_ID,
    TEXT_FEATURE,
    TEXT_PAIR_FEATURE,
    TRUNCATED,
)

SERVING_DEFAULT = "serving_default"
SERVING_EXAMPLES = "serving_examples"
TRANSFORM_FEATURES = "transform_features"
TEXT_INPUT = "text"
TEXT_PAIR_INPUT = "text_pair"  # a pair model's second texts (serving_default)
EXAMPLES_INPUT = "examples"
OUTPUT_LABEL = "label"
OUTPUT_PROBABILITIES = "probabilities"
SAVED_MODEL_FILE = "saved_model.pb"
# The Trainer's model artifact keeps the SavedModel here (TFX's path_utils.serving_model_dir).
SERVING_MODEL_FOLDER = "Format-Serving"

# Custom properties of a ProductionBaseline output.
HAS_MODEL = "has_model"
VERSION = "production_version"
SOURCE = "production_model_path"
HAS_STATISTICS = "has_statistics"
# The drift statistics of a version's training data, inside its folder (the module docstring).
TRAINING_STATISTICS_DIR = os.path.join("assets.extra", "bertpipe", "training_statistics")
LINEAGE_FILE = "lineage.json"


# -- models in production ---------------------------------------------------------------------------
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
        if name.isdigit() and tf.io.gfile.exists(os.path.join(push_dir, name, SAVED_MODEL_FILE)):
            versions.append(int(name))
    return sorted(versions)


def latest_production_model(push_dir: str) -> str | None:
    """The folder of the newest complete version under `push_dir`, or None."""
    versions = production_versions(push_dir)
    return os.path.join(push_dir, str(versions[-1])) if versions else None


def newest_version(push_dir: str) -> int:
    """The newest complete version under `push_dir`, 0 when there is none."""
    versions = production_versions(push_dir)
    return versions[-1] if versions else 0


class TrainingStatistics(NamedTuple):
    """The drift statistics carried in a version folder: where, and of which span and splits."""

    folder: str
    span: int
    split_names: list[str]


def carry_training_statistics(
    version_folder: str, statistics_uri: str, span: int, split_names: list[str]
) -> None:
    """Copies a Split-* statistics folder into a (staging) version folder, with its lineage."""
    folder = os.path.join(version_folder, TRAINING_STATISTICS_DIR)
    tf.io.gfile.makedirs(folder)
    for split in split_names:
        source = os.path.join(statistics_uri, f"Split-{split}")
        for name in tf.io.gfile.listdir(source):
            target = os.path.join(folder, f"Split-{split}", name)
            tf.io.gfile.makedirs(os.path.dirname(target))
            tf.io.gfile.copy(os.path.join(source, name), target, overwrite=True)
    lineage = {"span": span, "split_names": split_names, "statistics": statistics_uri}
    with tf.io.gfile.GFile(os.path.join(folder, LINEAGE_FILE), "w") as handle:
        handle.write(json.dumps(lineage, sort_keys=True))


def training_statistics(version_folder: str) -> TrainingStatistics | None:
    """The drift statistics a version folder carries, or None (a model pushed without them)."""
    folder = os.path.join(version_folder, TRAINING_STATISTICS_DIR)
    path = os.path.join(folder, LINEAGE_FILE)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as handle:
        lineage = json.loads(handle.read())
    return TrainingStatistics(folder, int(lineage["span"]), list(lineage["split_names"]))


def has_model(model) -> bool:
    """Whether a ProductionBaseline output (or any Model artifact) holds a model."""
    if model.has_custom_property(HAS_MODEL):
        return bool(model.get_int_custom_property(HAS_MODEL))
    return True


# -- loading and prediction -------------------------------------------------------------------------
class ModelNotFoundError(UserError, FileNotFoundError):
    """No exported model where the user pointed (`bertpipe predict --model`)."""


class Prediction(NamedTuple):
    """The predicted label of one text and its probability."""

    label: str
    probability: float


def find_saved_model(path: str) -> str:
    """The SavedModel folder at `path`: the folder itself, a TFX Trainer model artifact
    (`Format-Serving/`), or a Pusher/serving folder of numbered versions (the newest)."""
    if tf.io.gfile.exists(os.path.join(path, SAVED_MODEL_FILE)):
        return path
    serving = os.path.join(path, SERVING_MODEL_FOLDER)
    if tf.io.gfile.exists(os.path.join(serving, SAVED_MODEL_FILE)):
        return serving
    versions = production_versions(path)
    if versions:
        return os.path.join(path, str(versions[-1]))
    raise ModelNotFoundError(
        f"no SavedModel at {path!r} (expected saved_model.pb, Format-Serving/, or numbered "
        "version folders)"
    )


@functools.lru_cache(maxsize=4)
def load_serving_model(path: str):
    """tf.saved_model.load of the SavedModel at (or under) `path`, cached per process."""
    return tf.saved_model.load(find_saved_model(path))


def load_classifier(path: str):
    """`load_serving_model`, checked: a model this pipeline exported, with the `serving_examples`
    signature and `class_labels()`. Raises ModelNotFoundError (one line) for a folder that holds
    no such model: none at all, a file that is not a SavedModel, or another kind of model."""
    try:
        loaded = load_serving_model(path)
    except OSError as error:  # not a SavedModel (tf.saved_model.load cannot parse it)
        raise ModelNotFoundError(f"cannot load a SavedModel from {path!r}: {error}") from None
    if SERVING_EXAMPLES not in loaded.signatures or not hasattr(loaded, "class_labels"):
        raise ModelNotFoundError(
            f"the SavedModel at {path!r} is not a classifier this pipeline exported: it has the"
            f" signatures {sorted(loaded.signatures)}, expected {SERVING_EXAMPLES!r} and"
            " class_labels()"
        )
    return loaded


def signature_inputs(path: str, signature: str = SERVING_DEFAULT) -> tuple[str, ...]:
    """The input names of a signature of the SavedModel at (or under) `path`, read from its
    saved_model.pb without loading the model (no TensorFlow graph is built)."""
    saved_model_path = os.path.join(find_saved_model(path), SAVED_MODEL_FILE)
    saved_model = saved_model_pb2.SavedModel()
    with tf.io.gfile.GFile(saved_model_path, "rb") as handle:
        saved_model.ParseFromString(handle.read())
    for meta_graph in saved_model.meta_graphs:
        if signature in meta_graph.signature_def:
            return tuple(sorted(meta_graph.signature_def[signature].inputs))
    raise ModelNotFoundError(
        f"{saved_model_path} has no {signature!r} signature: not a model this pipeline exported"
    )


def is_pair_model(path: str) -> bool:
    """Whether the model at (or under) `path` classifies pairs of texts (its `serving_default`
    takes `text_pair`)."""
    return TEXT_PAIR_INPUT in signature_inputs(path)


class PairInputError(UserError, ValueError):
    """Second texts given to a single-text model, or none to a pair model."""


def _pairs_for(model_dir: str, texts: list[str], text_pairs: list[str] | None) -> list | None:
    """`text_pairs` after checking that the model wants them, and one per text."""
    pair_model = is_pair_model(model_dir)
    if pair_model and text_pairs is None:
        raise PairInputError(
            f"the model at {model_dir} classifies pairs of texts: give each text its second text"
        )
    if not pair_model and text_pairs is not None:
        raise PairInputError(
            f"the model at {model_dir} classifies single texts, not pairs: give no second texts"
        )
    if text_pairs is not None and len(text_pairs) != len(texts):
        raise PairInputError(f"{len(texts)} texts but {len(text_pairs)} second texts")
    return text_pairs


def _classify(model_dir: str, texts: list[str], batch_size: int, text_pairs: list | None = None):
    """Yields (label, label_id, probabilities row) per text (or pair), through `serving_default`."""
    text_pairs = _pairs_for(model_dir, texts, text_pairs)
    serving = load_serving_model(model_dir).signatures[SERVING_DEFAULT]
    for start in range(0, len(texts), batch_size):
        batch = slice(start, start + batch_size)
        inputs = {TEXT_INPUT: tf.constant(list(texts[batch]), dtype=tf.string)}
        if text_pairs is not None:
            inputs[TEXT_PAIR_INPUT] = tf.constant(list(text_pairs[batch]), dtype=tf.string)
        outputs = serving(**inputs)
        labels = [value.decode("utf-8") for value in outputs[OUTPUT_LABEL].numpy()]
        yield from zip(
            labels,
            outputs[LABEL_ID].numpy().tolist(),
            outputs[OUTPUT_PROBABILITIES].numpy().tolist(),
            strict=True,
        )


def predict(
    model_dir: str,
    texts: list[str],
    batch_size: int = 64,
    text_pairs: list[str] | None = None,
) -> list[Prediction]:
    """Classifies raw texts with an exported model: one Prediction(label, probability) per text,
    in order. `model_dir` may be the SavedModel, a Trainer model artifact or a Pusher folder.
    A pair model takes the second text of each pair in `text_pairs` (PairInputError without)."""
    return [
        Prediction(label=label, probability=float(row[label_id]))
        for label, label_id, row in _classify(model_dir, texts, batch_size, text_pairs)
    ]


def predict_probabilities(
    model_dir: str,
    texts: list[str],
    batch_size: int = 64,
    text_pairs: list[str] | None = None,
) -> list[dict[str, float]]:
    """The probability of every class label, per text (or pair, as in `predict`)."""
    classes = class_labels(load_serving_model(model_dir))
    return [
        dict(zip(classes, map(float, row), strict=True))
        for _, _, row in _classify(model_dir, texts, batch_size, text_pairs)
    ]


def class_labels(loaded) -> list[str]:
    """The class labels by label id, from a loaded serving model (its `class_labels` function)."""
    return [value.decode("utf-8") for value in loaded.class_labels().numpy()]


def _bytes_feature(value: bytes) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def truncated_texts(
    model_dir: str, texts: list[str], text_pairs: list[str] | None = None
) -> tuple[int, list[int]]:
    """(max_seq_length, the indexes of the texts (or pairs) that the model cuts to it), from the
    model's `transform_features` signature. Its examples carry the raw features the Transform
    reads, so each gets the first class label as a stand-in (the label changes no token)."""
    text_pairs = _pairs_for(model_dir, texts, text_pairs)
    loaded = load_serving_model(model_dir)
    label = _bytes_feature(class_labels(loaded)[0].encode("utf-8"))
    examples = []
    for i, text in enumerate(texts):
        feature = {TEXT_FEATURE: _bytes_feature(text.encode("utf-8")), LABEL_FEATURE: label}
        if text_pairs is not None:
            feature[TEXT_PAIR_FEATURE] = _bytes_feature(text_pairs[i].encode("utf-8"))
        example = tf.train.Example(features=tf.train.Features(feature=feature))
        examples.append(example.SerializeToString())
    features = loaded.signatures[TRANSFORM_FEATURES](
        **{EXAMPLES_INPUT: tf.constant(examples, dtype=tf.string)}
    )
    cut = tf.reshape(features[TRUNCATED], [-1]).numpy().tolist()
    return int(features[INPUT_IDS].shape[-1]), [i for i, flag in enumerate(cut) if flag]
