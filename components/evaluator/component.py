"""The Evaluator component: TFX's Evaluator with this room's executor."""

from __future__ import annotations

from tfx.components import Evaluator as TfxEvaluator
from tfx.dsl.components.base import executor_spec

from components.core.runtime_settings import TakesRuntimeSettings
from components.evaluator.executor import BOUNDS, Executor


class Evaluator(TakesRuntimeSettings, TfxEvaluator):
    """TFX's Evaluator judging the first model (no model in production) on absolute bounds alone.

    Takes its lower bounds `min_accuracy` and `majority_margin` as runtime settings
    (components.core.runtime_settings).
    """

    SETTINGS = BOUNDS
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)
