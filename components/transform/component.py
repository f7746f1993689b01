"""The tokenization Transform component: TFX's Transform running this room's preprocessing_fn."""

from __future__ import annotations

from tfx.components import Transform as TfxTransform
from tfx.dsl.components.base import executor_spec

from components.core.runtime_settings import TakesRuntimeSettings
from components.transform.executor import Executor

# The module function TFX's Transform imports in its executor (preprocessing.py).
PREPROCESSING_FN = "components.transform.preprocessing.preprocessing_fn"


class Transform(TakesRuntimeSettings, TfxTransform):
    """TFX's Transform taking the checkpoint (whose vocabulary it uses) as a runtime setting."""

    SETTINGS = ("checkpoint",)
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)
