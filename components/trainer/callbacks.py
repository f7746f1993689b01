"""Keras callbacks of the Trainer: resumable backups and the per-step training history."""

from __future__ import annotations

import json
import os

import tensorflow as tf

from components.core.training_history import TrainingStep


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


class StepHistory(tf.keras.callbacks.Callback):
    """Records loss, accuracy and learning rate per training step, across resumed runs.

    Keras reports running means since the start of the (single) epoch; the value of each step is
    recovered from consecutive means. With steps_per_execution > 1 a record covers the steps of
    one execution (the step field is its last step). The records are saved (JSON, in
    history.json's form: `steps` and `resumed_at`) to `progress_path` with every backup, and a
    resumed run starts from the saved records up to the step it resumes at.
    """

    def __init__(self, progress_path: str | None, schedule, writer: bool = True):
        super().__init__()
        self.progress_path = progress_path
        self.schedule = schedule
        self.writer = writer
        self.records: list[TrainingStep] = []
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
            steps = [TrainingStep.from_dict(r, self.progress_path) for r in saved["steps"]]
            self.records = [r for r in steps if r.step <= self.start_step]
            self.resumed_at = list(saved["resumed_at"])
        if self.start_step:
            self.resumed_at.append(self.start_step)
            print(f"Resuming training at step {self.start_step}", flush=True)
        self._previous = {"n": 0}

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        step = int(batch) + 1
        count = step - self.start_step
        values: dict[str, float] = {}
        for name in ("loss", "accuracy"):
            if name in logs:
                mean = float(logs[name])
                previous_n, previous = self._previous["n"], self._previous.get(name, 0.0)
                values[name] = (count * mean - previous_n * previous) / max(count - previous_n, 1)
                self._previous[name] = mean
        self._previous["n"] = count
        self.records.append(
            TrainingStep(
                step=step,
                loss=values["loss"],  # Keras logs the loss of every step
                accuracy=values.get("accuracy"),
                learning_rate=self.schedule.value(step - 1),
            )
        )
        if self._pending is not None and step >= self._pending:
            self._write_progress()

    def save_progress(self, step: int) -> None:
        """Saves the records up to `step` (now, or once that step's record is in)."""
        if self.records and self.records[-1].step >= step:
            self._write_progress()
        else:  # the backup callback runs before this one for the same step
            self._pending = step

    def _write_progress(self) -> None:
        self._pending = None
        if self.writer and self.progress_path:
            progress = {"steps": [r.to_dict() for r in self.records], "resumed_at": self.resumed_at}
            write_json(self.progress_path, progress)


def write_json(path: str, value: dict) -> None:
    """Writes JSON through a temporary file and a rename (gfile, so gs:// works too)."""
    folder = os.path.dirname(path)
    if folder:
        tf.io.gfile.makedirs(folder)
    temporary = f"{path}.tmp-{os.getpid()}"
    with tf.io.gfile.GFile(temporary, "w") as handle:
        json.dump(value, handle, indent=1)
    tf.io.gfile.rename(temporary, path, overwrite=True)
