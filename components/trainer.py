"""The Trainer's module code: `run_fn` fine-tunes the classifier on the transformed examples.

What `run_fn` does:

1. parses `Config.from_json(fn_args.custom_config["config"])` (once; nothing else reads settings);
2. picks the distribution strategy and precision policy (components.strategy);
3. reads the Transform's gzip TFRecords with tf.data (transformed feature spec of the
   TFTransformOutput): training batches of the *global* batch size with drop_remainder=True,
   shuffled (seeded) and repeated; evaluation batches padded to the full batch size with
   zero-weight copies of an example, so no example is dropped. With `trim_padding` (the default
   off TPU; see `use_trim_padding`) every batch is cut to its longest sequence rounded up to a
   bucket length (16, 32, 64, ... max_seq_length; `length_buckets`), so the encoder does not
   run on all-[PAD] columns: the model takes [batch, None] inputs (one Keras trace), XLA compiles
   once per bucket that occurs. Without it (TPU) every shape is static;
4. builds and compiles the model inside `strategy.scope()` (steps_per_execution, jit_compile);
5. trains `config.train.train_steps` steps as one Keras epoch (`fn_args.train_steps`, from the
   TFX TrainArgs, is ignored: the typed config is the one source of settings), with
   - BackupAndRestore every `checkpoint_every` steps into a stable resume folder (below), so a
     Trainer killed mid-run and started again continues from its last checkpoint (weights,
     optimizer state, step, and position in the input data) instead of starting over;
   - TensorBoard logs in `fn_args.model_run_dir`;
   - the training curve (loss, accuracy, learning rate per step) in
     `fn_args.model_run_dir/history.json`, together with the evaluation result;
6. evaluates on the eval split (`config.train.eval_steps` batches, or all of it when 0);
7. exports the serving SavedModel to `fn_args.serving_model_dir` (components.export).

The resume folder is `<parent of model_run_dir>/_resume/<fingerprint>`: TFX gives every execution
its own model_run_dir (`.../Trainer/model_run/<execution id>`), so a folder inside it would be
lost when a killed pipeline is run again. The fingerprint covers the model and train settings and
the transformed-examples URIs, so only a run of the same training on the same data resumes. The
folder is removed once the model is exported.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import tempfile
import time
from typing import Any

import tensorflow as tf
import tensorflow_transform as tft

from components import export, features
from components import strategy as strategies
from components.model import (
    INPUT_DTYPE,
    INPUT_FEATURES,
    LABEL_ID_FEATURE,
    build_classifier,
    compile_classifier,
    keras_policy,
    learning_rate_schedule,
)
from pipeline.configs import Config

log = logging.getLogger(__name__)

LABEL_VOCABULARY = features.LABEL_VOCAB_NAME
HISTORY_FILE = "history.json"
RESUME_FOLDER = "_resume"
SHUFFLE_BUFFER = 10_000
_PARSE_BATCH = 256
MIN_BUCKET = 16


# -- input ---------------------------------------------------------------------------------------
def transformed_files(patterns: list[str] | str) -> list[str]:
    """The files matched by TFX file patterns (e.g. `.../Split-train/*`), sorted."""
    patterns = [patterns] if isinstance(patterns, str) else list(patterns)
    files = sorted({name for pattern in patterns for name in tf.io.gfile.glob(pattern)})
    if not files:
        raise FileNotFoundError(f"no transformed examples match {patterns}")
    return files


def label_vocabulary(tf_transform_output: tft.TFTransformOutput) -> list[str]:
    """The class labels, by label id (the Transform's `label_vocab` vocabulary)."""
    labels = tf_transform_output.vocabulary_by_name(LABEL_VOCABULARY)
    return [label.decode("utf-8") if isinstance(label, bytes) else str(label) for label in labels]


def sequence_length(tf_transform_output: tft.TFTransformOutput) -> int:
    """max_seq_length as written by the Transform (the static length of input_ids)."""
    spec = tf_transform_output.transformed_feature_spec()
    missing = [name for name in (*INPUT_FEATURES, LABEL_ID_FEATURE) if name not in spec]
    if missing:
        raise ValueError(
            f"the Transform output lacks the feature(s) {missing}; it has {sorted(spec)}"
        )
    shapes = {name: list(getattr(spec[name], "shape", []) or []) for name in INPUT_FEATURES}
    lengths = {tuple(shape) for shape in shapes.values()}
    if len(lengths) != 1 or len(next(iter(lengths))) != 1:
        raise ValueError(f"the token features must be fixed-length vectors, got shapes {shapes}")
    return int(next(iter(lengths))[0])


def length_buckets(max_seq_length: int) -> tuple[int, ...]:
    """The lengths a trimmed batch is cut to: 16, 32, 64, ... below max_seq_length, then it."""
    buckets = []
    length = MIN_BUCKET
    while length < max_seq_length:
        buckets.append(length)
        length *= 2
    return (*buckets, max_seq_length)


def use_trim_padding(train_config, strategy: tf.distribute.Strategy) -> bool:
    """Whether batches are trimmed (config.train.trim_padding; auto = on unless on a TPU)."""
    tpu = strategies.is_tpu(strategy)
    if train_config.trim_padding == "on" and tpu:
        raise ValueError(
            "trim_padding=on gives batches of varying length, but a TPU needs static shapes; "
            "use trim_padding=auto or off on a TPU"
        )
    return train_config.trim_padding == "on" or (train_config.trim_padding == "auto" and not tpu)


def trim_batch(features: dict, buckets: tuple[int, ...]) -> dict:
    """Cuts the [batch, max_seq_length] token features of a batch to the smallest bucket that
    holds its last real token (the last position where any attention_mask is set); only trailing
    positions whose attention_mask is 0 in every row are removed."""
    mask = features["attention_mask"]
    positions = tf.range(1, tf.shape(mask)[1] + 1, dtype=mask.dtype)
    used = tf.reduce_max(tf.where(mask > 0, positions[tf.newaxis, :], tf.zeros_like(mask)))
    bounds = tf.constant(buckets, dtype=mask.dtype)
    target = tf.gather(bounds, tf.reduce_sum(tf.cast(bounds < used, tf.int32)))
    return {name: value[:, :target] for name, value in features.items()}


def _parser(tf_transform_output: tft.TFTransformOutput, trim_padding: bool = False):
    """serialized [batch] -> (features {name: int32 [batch, length]}, label_id int64 [batch]).

    length = max_seq_length, or with `trim_padding` the batch's bucket (`trim_batch`).
    """
    full_spec = tf_transform_output.transformed_feature_spec()
    spec = {name: full_spec[name] for name in (*INPUT_FEATURES, LABEL_ID_FEATURE)}
    buckets = length_buckets(sequence_length(tf_transform_output)) if trim_padding else ()

    def parse(serialized):
        parsed = tf.io.parse_example(serialized, spec)
        features = {name: tf.cast(parsed[name], INPUT_DTYPE) for name in INPUT_FEATURES}
        label = tf.reshape(parsed[LABEL_ID_FEATURE], [-1])
        if buckets:
            features = trim_batch(features, buckets)
        return features, label

    return parse


def _options() -> tf.data.Options:
    options = tf.data.Options()
    options.deterministic = True
    # Few, unevenly sized files: shard by element across workers, not by file.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return options


def make_train_dataset(
    file_patterns: list[str] | str,
    tf_transform_output: tft.TFTransformOutput,
    batch_size: int,
    *,
    seed: int = 42,
    skip_batches: int = 0,
    trim_padding: bool = False,
) -> tf.data.Dataset:
    """Shuffled, repeated batches of the global batch size, every shape static unless
    `trim_padding` (then [batch, bucket length]; see `trim_batch`).

    `skip_batches` skips the batches a resumed run has already trained on (the order is
    deterministic for a given seed, so the resumed run sees the batches it would have seen).
    """
    files = transformed_files(file_patterns)
    dataset = tf.data.Dataset.from_tensor_slices(files).shuffle(len(files), seed=seed)
    dataset = dataset.interleave(
        lambda name: tf.data.TFRecordDataset(name, compression_type="GZIP"),
        cycle_length=min(4, len(files)),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    dataset = dataset.shuffle(SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True).repeat()
    dataset = dataset.batch(batch_size, drop_remainder=True)
    if skip_batches:
        dataset = dataset.skip(skip_batches)
    dataset = dataset.map(
        _parser(tf_transform_output, trim_padding), num_parallel_calls=tf.data.AUTOTUNE
    )
    return dataset.prefetch(tf.data.AUTOTUNE).with_options(_options())


def make_eval_dataset(
    file_patterns: list[str] | str,
    tf_transform_output: tft.TFTransformOutput,
    batch_size: int,
    *,
    steps: int = 0,
    trim_padding: bool = False,
) -> tf.data.Dataset:
    """(features, label_id, weight) batches over the whole split (or its first `steps` batches).

    The last batch is filled up with zero-weight copies of the first example, so every batch has
    the full static batch size (as a TPU needs) and still no example is left out. With
    `trim_padding` each batch is cut to its bucket length (`trim_batch`).
    """
    files = transformed_files(file_patterns)
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP")
    dataset = dataset.batch(_PARSE_BATCH).map(_parser(tf_transform_output)).unbatch()
    weighted = dataset.map(lambda x, y: (x, y, tf.constant(1.0)))
    padding = weighted.take(1).map(lambda x, y, w: (x, y, tf.constant(0.0))).repeat(batch_size - 1)
    dataset = weighted.concatenate(padding).batch(batch_size, drop_remainder=True)
    if trim_padding:
        buckets = length_buckets(sequence_length(tf_transform_output))
        dataset = dataset.map(lambda x, y, w: (trim_batch(x, buckets), y, w))
    if steps:
        dataset = dataset.take(steps)
    return dataset.prefetch(tf.data.AUTOTUNE).with_options(_options())


def _count_examples(eval_dataset: tf.data.Dataset) -> tuple[int, int]:
    """(real examples, batches) in an eval dataset from make_eval_dataset."""
    counted = eval_dataset.map(lambda x, y, w: (tf.reduce_sum(w), 1.0)).reduce(
        (0.0, 0.0), lambda total, item: (total[0] + item[0], total[1] + item[1])
    )
    return int(round(float(counted[0]))), int(round(float(counted[1])))


# -- resume --------------------------------------------------------------------------------------
def completed_steps(backup_dir: str) -> int:
    """How many training steps the backup in `backup_dir` holds (0 when there is none)."""
    checkpoint = tf.train.latest_checkpoint(os.path.join(backup_dir, "chief"))
    if not checkpoint:
        return 0
    reader = tf.train.load_checkpoint(checkpoint)
    values = {
        key.split("/", 1)[0]: reader.get_tensor(key)
        for key in reader.get_variable_to_shape_map()
        if key.startswith(("ckpt_saved_batch/", "ckpt_saved_epoch/"))
    }
    batch = int(values.get("ckpt_saved_batch", -1))
    return max(batch + 1, 0)


class ResumableBackup(tf.keras.callbacks.BackupAndRestore):
    """BackupAndRestore every `save_every_steps` steps, that also backs up when training ends.

    - The backup records the *last* step of a `steps_per_execution` group (the stock callback
      records the first, so a resumed run would repeat steps_per_execution - 1 steps).
    - A backup at the end of training means a Trainer that dies later (evaluation, export) does
      not train again when it is restarted; run_fn removes the folder after the export.
    - `on_backup(step)` is called after each backup (the history is saved with it).
    """

    def __init__(self, backup_dir: str, save_every_steps: int, steps_per_execution: int, on_backup):
        super().__init__(
            backup_dir,
            save_freq=max(1, save_every_steps // max(1, steps_per_execution)),
            delete_checkpoint=False,
        )
        self._on_backup = on_backup
        self._last_batch = None
        self._saved_batch = None

    def on_train_batch_end(self, batch, logs=None):
        self._training_state._ckpt_saved_batch.assign(batch)
        self._last_batch = int(batch)
        super().on_train_batch_end(batch, logs)

    def _backup(self, epoch, batch=0):
        super()._backup(epoch=epoch, batch=batch)
        self._saved_batch = batch
        self._on_backup(batch + 1)

    def on_train_end(self, logs=None):
        if self._last_batch is not None and self._saved_batch != self._last_batch:
            self._backup(epoch=self._current_epoch, batch=self._last_batch)
        super().on_train_end(logs)


class TrainingHistory(tf.keras.callbacks.Callback):
    """Records loss, accuracy and learning rate per training step, across resumed runs.

    Keras reports running means since the start of the (single) epoch; the value of each step is
    recovered from consecutive means. With steps_per_execution > 1 a record covers the steps of
    one execution (the step field is its last step). The records are saved (JSON) to
    `progress_path` with every backup, and a resumed run starts from the saved records up to the
    step it resumes at.
    """

    def __init__(self, progress_path: str | None, schedule, writer: bool = True):
        super().__init__()
        self.progress_path = progress_path
        self.schedule = schedule
        self.writer = writer
        self.records: list[dict] = []
        self.resumed_at: list[int] = []
        self.start_step = 0
        self._pending = None

    def on_train_begin(self, logs=None):
        # BackupAndRestore (earlier in the callback list) has restored the optimizer by now.
        self.start_step = int(self.model.optimizer.iterations.numpy())
        self.records, self.resumed_at = [], []
        if self.start_step and self.progress_path and tf.io.gfile.exists(self.progress_path):
            with tf.io.gfile.GFile(self.progress_path) as handle:
                saved = json.load(handle)
            self.records = [r for r in saved.get("steps", []) if r["step"] <= self.start_step]
            self.resumed_at = list(saved.get("resumed_at", []))
        if self.start_step:
            self.resumed_at.append(self.start_step)
            print(f"Resuming training at step {self.start_step}", flush=True)
        self._previous = {"n": 0}

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        step = int(batch) + 1
        count = step - self.start_step
        record: dict[str, Any] = {"step": step}
        for name in ("loss", "accuracy"):
            if name in logs:
                mean = float(logs[name])
                previous_n, previous = self._previous["n"], self._previous.get(name, 0.0)
                record[name] = (count * mean - previous_n * previous) / max(count - previous_n, 1)
                self._previous[name] = mean
        self._previous["n"] = count
        record["learning_rate"] = self.schedule.value(step - 1)
        self.records.append(record)
        if self._pending is not None and step >= self._pending:
            self._write_progress()

    def save_progress(self, step: int) -> None:
        """Saves the records up to `step` (now, or once that step's record is in)."""
        if self.records and self.records[-1]["step"] >= step:
            self._write_progress()
        else:  # the backup callback runs before this one for the same step
            self._pending = step

    def _write_progress(self) -> None:
        self._pending = None
        if self.writer and self.progress_path:
            _write_json(self.progress_path, self.summary())

    def summary(self) -> dict:
        return {"steps": self.records, "resumed_at": self.resumed_at}


def _write_json(path: str, value: dict) -> None:
    """Writes JSON through a temporary file and a rename (gfile, so gs:// works too)."""
    folder = os.path.dirname(path)
    if folder:
        tf.io.gfile.makedirs(folder)
    temporary = f"{path}.tmp-{os.getpid()}"
    with tf.io.gfile.GFile(temporary, "w") as handle:
        json.dump(value, handle, indent=1)
    tf.io.gfile.rename(temporary, path, overwrite=True)


# -- training ------------------------------------------------------------------------------------
@dataclasses.dataclass
class TrainingResult:
    model: tf.keras.Model
    history: dict
    evaluation: dict
    labels: list[str]
    strategy: tf.distribute.Strategy
    precision: str
    tf_transform_output: tft.TFTransformOutput


def train_and_evaluate(
    config: Config,
    *,
    train_files: list[str] | str,
    eval_files: list[str] | str,
    transform_output: str,
    model_run_dir: str,
    backup_dir: str,
    strategy: tf.distribute.Strategy | None = None,
    extra_callbacks: tuple = (),
    verbose: int | str = 1,
    base_model: str | None = None,
) -> TrainingResult:
    """Trains config.train.train_steps steps (resuming from `backup_dir`), then evaluates.

    Writes TensorBoard logs and history.json into `model_run_dir` (chief only). The training
    backup in `backup_dir` is left in place; the caller removes it once the model is exported.
    With `base_model` (an exported serving model), training starts from its weights (warm start).
    """
    train = config.train
    tf.keras.utils.set_random_seed(train.seed)
    strategy = strategy or strategies.select_strategy(train)
    chief = strategies.is_chief(strategy)
    precision = strategies.select_precision(train, strategy)

    tf_transform_output = tft.TFTransformOutput(transform_output)
    labels = label_vocabulary(tf_transform_output)
    length = sequence_length(tf_transform_output)
    if length != config.model.max_seq_length:
        raise ValueError(
            f"the Transform output has sequences of {length} tokens but config.model."
            f"max_seq_length is {config.model.max_seq_length}; re-run the Transform"
        )

    done = min(completed_steps(backup_dir), train.train_steps)
    trim = use_trim_padding(train, strategy)
    train_dataset = make_train_dataset(
        train_files,
        tf_transform_output,
        train.batch_size,
        seed=train.seed,
        skip_batches=done,
        trim_padding=trim,
    )
    eval_dataset = make_eval_dataset(
        eval_files, tf_transform_output, train.batch_size, steps=train.eval_steps, trim_padding=trim
    )
    log_dir = model_run_dir if chief else tempfile.mkdtemp(prefix="tensorboard_")
    schedule = learning_rate_schedule(train)
    history = TrainingHistory(os.path.join(backup_dir, HISTORY_FILE), schedule, writer=chief)
    callbacks = [
        ResumableBackup(
            backup_dir, train.checkpoint_every, train.steps_per_execution, history.save_progress
        ),
        history,
        tf.keras.callbacks.TensorBoard(
            log_dir=log_dir,
            update_freq=max(1, train.train_steps // 100),
            write_graph=False,
            profile_batch=0,
        ),
        *extra_callbacks,
    ]

    started = time.monotonic()
    with keras_policy(precision), strategy.scope():
        model = build_classifier(config.model, len(labels), variable_length=trim)
        compile_classifier(model, train)
        # Optimizer state exists before BackupAndRestore restores it (restored at once, not
        # deferred, also when a finished training is resumed and no step runs).
        model.optimizer.build(model.trainable_variables)
        if base_model and not done:  # a resumed run restores its own weights instead
            export.load_serving_weights(model, base_model, labels)
        print(
            f"Training {train.train_steps} steps of {train.batch_size} examples "
            f"({strategies.describe(strategy)}, {precision}, XLA {train.jit_compile}, "
            f"trim padding {trim}), "
            f"{len(labels)} classes {labels}"
            + (f", resuming after step {done}" if done else "")
            + (f", warm-started from {base_model}" if base_model and not done else ""),
            flush=True,
        )
        model.fit(
            train_dataset,
            epochs=1,
            steps_per_epoch=train.train_steps,
            callbacks=callbacks,
            verbose=verbose,
        )
        train_seconds = time.monotonic() - started
        examples, batches = _count_examples(eval_dataset)
        evaluation = {}
        if batches:
            evaluation = model.evaluate(
                eval_dataset, steps=batches, return_dict=True, verbose=verbose
            )
        else:
            log.warning("the eval split is empty; nothing to evaluate")
    # The loss is averaged over padded batches (zero-weight rows add 0); rescale to real examples.
    evaluation = {name: float(value) for name, value in evaluation.items()}
    if examples:
        evaluation["loss"] *= batches * train.batch_size / examples
    evaluation.update(examples=examples, batches=batches)
    print(f"Evaluation on {examples} examples: {evaluation}", flush=True)

    summary = {
        **history.summary(),
        "eval": evaluation,
        "labels": labels,
        "train_steps": train.train_steps,
        "batch_size": train.batch_size,
        "strategy": strategies.describe(strategy),
        "replicas": strategy.num_replicas_in_sync,
        "precision": precision,
        "jit_compile": train.jit_compile,
        "trim_padding": trim,
        "train_seconds": round(train_seconds, 1),
        "warm_start": base_model or "",
        "config": config.to_dict(),
    }
    if chief:
        _write_json(os.path.join(model_run_dir, HISTORY_FILE), summary)
    return TrainingResult(
        model=model,
        history=summary,
        evaluation=evaluation,
        labels=labels,
        strategy=strategy,
        precision=precision,
        tf_transform_output=tf_transform_output,
    )


def config_from_fn_args(fn_args) -> Config:
    return Config.from_custom_config(fn_args.custom_config, "Trainer")


def base_model_dir(fn_args, config: Config) -> str | None:
    """The model in production to warm-start from, or None (warm start off, or no model yet)."""
    if not config.train.warm_start or not fn_args.base_model:
        return None
    if not tf.io.gfile.exists(os.path.join(fn_args.base_model, "saved_model.pb")):
        print("No model in production: training from the pretrained checkpoint", flush=True)
        return None
    return fn_args.base_model


def resume_dir(fn_args, config: Config, base_model: str | None = None) -> str:
    """The stable resume folder of this training (see the module docstring)."""
    key = json.dumps(
        {
            "model": dataclasses.asdict(config.model),
            "train": dataclasses.asdict(config.train),
            "train_files": list(fn_args.train_files),
            "transform": fn_args.transform_graph_path or fn_args.transform_output,
            "base_model": base_model or "",
        },
        sort_keys=True,
    )
    fingerprint = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
    parent = os.path.dirname(fn_args.model_run_dir.rstrip("/"))
    return os.path.join(parent, RESUME_FOLDER, fingerprint)


# TFX Trainer will call this function.
def run_fn(fn_args) -> None:
    """Trains, evaluates and exports the classifier (see the module docstring)."""
    config = config_from_fn_args(fn_args)
    if fn_args.train_steps and fn_args.train_steps != config.train.train_steps:
        log.warning(
            "TrainArgs.num_steps=%s is ignored; training config.train.train_steps=%s steps",
            fn_args.train_steps,
            config.train.train_steps,
        )
    base_model = base_model_dir(fn_args, config)
    backup_dir = resume_dir(fn_args, config, base_model)
    result = train_and_evaluate(
        config,
        train_files=fn_args.train_files,
        eval_files=fn_args.eval_files,
        transform_output=fn_args.transform_graph_path or fn_args.transform_output,
        model_run_dir=fn_args.model_run_dir,
        backup_dir=backup_dir,
        base_model=base_model,
    )
    chief = strategies.is_chief(result.strategy)
    target = fn_args.serving_model_dir if chief else tempfile.mkdtemp(prefix="serving_")
    export.export_serving_model(result.model, result.tf_transform_output, target)
    if chief and tf.io.gfile.exists(backup_dir):
        tf.io.gfile.rmtree(backup_dir)
