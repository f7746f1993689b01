"""The tokenization Transform component: TFX's Transform running this room's preprocessing_fn."""

from __future__ import annotations

from tfx import v1 as tfx
from tfx.dsl.components.base import executor_spec

from components.core.runtime_settings import TakesRuntimeSettings
from components.transform.executor import Executor

# The module function TFX's Transform imports in its executor (preprocessing.py).
PREPROCESSING_FN = "components.transform.preprocessing.preprocessing_fn"


class Transform(TakesRuntimeSettings, tfx.components.Transform):
    """TFX's Transform taking the checkpoint (whose vocabulary it uses) as a runtime setting."""

    SETTINGS = ("checkpoint",)
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)
