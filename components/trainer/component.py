"""The Trainer component: TFX's Trainer running this room's run_fn (module.py)."""

from __future__ import annotations

from tfx.components import Trainer as TfxTrainer
from tfx.dsl.components.base import executor_spec

from components.core.runtime_settings import TakesRuntimeSettings
from components.trainer.executor import Executor

# The module function TFX's Trainer calls in its executor.
RUN_FN = "components.trainer.module.run_fn"


class Trainer(TakesRuntimeSettings, TfxTrainer):
    """TFX's Trainer taking checkpoint, train_steps and learning_rate as runtime settings."""

    SETTINGS = ("checkpoint", "train_steps", "learning_rate")
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)
