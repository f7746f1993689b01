"""The Trainer's module code: `run_fn` fine-tunes the classifier on the transformed examples.

What `run_fn` does:

1. parses `Config.from_json(fn_args.custom_config["config"])` (once; nothing else reads settings);
2. picks the distribution strategy (strategy.py) and the precision policy (precision.py:
   `auto` is mixed_bfloat16 on a TPU or a CPU with native bfloat16), printed with the reason;
3. reads the Transform's gzip TFRecords with tf.data (data.py: global batches; off TPU, batches
   of similar length from length-sorted windows, cut to a bucket length, so the model takes
   [batch, None] inputs there);
4. builds and compiles the model inside `strategy.scope()` (steps_per_execution, jit_compile);
5. trains `config.train.train_steps` steps as one Keras epoch (`fn_args.train_steps`, from the
   TFX TrainArgs, is ignored: the typed config is the one source of settings), with
   - BackupAndRestore (callbacks.py) every `checkpoint_every` steps into a stable resume folder (below), so a
     Trainer killed mid-run and started again continues from its last checkpoint (weights,
     optimizer state, step, and position in the input data) instead of starting over;
   - TensorBoard logs in `fn_args.model_run_dir`;
   - the training curve (loss, accuracy, learning rate per step) in
     `fn_args.model_run_dir/history.json`, together with the evaluation result;
6. evaluates on the first `config.train.eval_steps` batches of the eval split (all of it when
   0): a quick check recorded in the history; the Evaluator (TFMA) is the authority;
7. exports the serving SavedModel to `fn_args.serving_model_dir` (export.py).

Under MultiWorkerMirroredStrategy (TF_CONFIG naming a chief and workers, e.g. the worker pools of
a Vertex AI job) every worker runs run_fn on the same arguments. Each reads the whole input and
trains on its own slice of every global batch (data.py shards by DATA), the gradients are summed
across workers, so the training is that of one worker with the same global batch. Only the chief
writes what others read: the backup (resume) checkpoints, history.json, the TensorBoard logs and
the serving model (the export copies the weights without any collective op, so the other
workers do not export); the others wait for the chief at the end
(`strategies.wait_for_all_workers`), since TFX's Trainer executor checks on every worker that the
serving model exists. A killed run resumes on all workers from the chief's last backup.

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
import time

import tensorflow as tf
import tensorflow_transform as tft

from components.core.artifacts import HISTORY_FILE
from components.core.config import Config
from components.core.serving import SAVED_MODEL_FILE
from components.core.training_history import TrainerEvaluation, TrainingHistory
from components.core.transform_output import label_vocabulary, sequence_length
from components.trainer import strategy as strategies
from components.trainer.callbacks import (
    ResumableBackup,
    StepHistory,
    completed_steps,
    write_json,
)
from components.trainer.data import (
    count_examples,
    make_eval_dataset,
    make_train_dataset,
    use_trim_padding,
)
from components.trainer.export import export_serving_model, load_serving_weights
from components.trainer.model import (
    build_classifier,
    compile_classifier,
    keras_policy,
    learning_rate_schedule,
)
from components.trainer.precision import select_precision

log = logging.getLogger(__name__)

RESUME_FOLDER = "_resume"


@dataclasses.dataclass
class TrainingResult:
    model: tf.keras.Model
    history: TrainingHistory
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
    precision, precision_reason = select_precision(train, strategy)
    print(f"Precision: {precision} ({precision_reason})", flush=True)

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
        sort_window=train.sort_window,
        cut_to_bucket=train.jit_compile,
    )
    eval_dataset = make_eval_dataset(
        eval_files, tf_transform_output, train.batch_size, steps=train.eval_steps, trim_padding=trim
    )
    schedule = learning_rate_schedule(train)
    history = StepHistory(os.path.join(backup_dir, HISTORY_FILE), schedule, writer=chief)
    callbacks = [
        ResumableBackup(
            backup_dir, train.checkpoint_every, train.steps_per_execution, history.save_progress
        ),
        history,
    ]
    if chief:  # the other workers log nothing (the callback runs no collective op)
        callbacks.append(
            tf.keras.callbacks.TensorBoard(
                log_dir=model_run_dir,
                update_freq=max(1, train.train_steps // 100),
                write_graph=False,
                profile_batch=0,
            )
        )
    callbacks.extend(extra_callbacks)

    started = time.monotonic()
    with keras_policy(precision), strategy.scope():
        model = build_classifier(config.model, len(labels), variable_length=trim)
        compile_classifier(model, train)
        # The loss and metrics a step returns are already aggregated over all replicas (Keras
        # metrics are read with sync-on-read); Keras's default reduction then *sums* them again
        # across the replicas of a MultiWorkerMirroredStrategy (N workers: N times the loss).
        model.distribute_reduction_method = "first"
        # Optimizer state exists before BackupAndRestore restores it (restored at once, not
        # deferred, also when a finished training is resumed and no step runs).
        model.optimizer.build(model.trainable_variables)
        if base_model and not done:  # a resumed run restores its own weights instead
            load_serving_weights(model, base_model, labels, pairs=config.data.pairs)
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
        examples, batches = count_examples(eval_dataset)
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

    summary = TrainingHistory(
        steps=history.records,
        resumed_at=history.resumed_at,
        evaluation=TrainerEvaluation(**evaluation),
        labels=labels,
        train_steps=train.train_steps,
        batch_size=train.batch_size,
        strategy=strategies.describe(strategy),
        replicas=strategy.num_replicas_in_sync,
        precision=precision,
        precision_reason=precision_reason,
        jit_compile=train.jit_compile,
        trim_padding=trim,
        train_seconds=round(train_seconds, 1),
        warm_start=base_model or "",
        config=config.to_dict(),
    )
    if chief:
        write_json(os.path.join(model_run_dir, HISTORY_FILE), summary.to_dict())
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
    if not tf.io.gfile.exists(os.path.join(fn_args.base_model, SAVED_MODEL_FILE)):
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
    if chief:  # the export reads the weights locally (no collective op): the others need not
        export_serving_model(result.model, result.tf_transform_output, fn_args.serving_model_dir)
    strategies.wait_for_all_workers(result.strategy)
    if chief and tf.io.gfile.exists(backup_dir):
        tf.io.gfile.rmtree(backup_dir)
