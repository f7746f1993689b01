"""The scoring package's own steps, around TFX's BulkInferrer:

    TextExampleGen (inference mode) ----------------------------------> BulkInferrer -> ScoreWriter
    ProductionBaseline -> ScoringModel (the model in production, as BulkInferrer can run it) -^

`ScoringModel` fails the run, with one line, when there is no model in production; `ScoreWriter`
writes the scores into the `output_dir` run-time parameter's folder (writer.py).
"""

from collections.abc import Mapping
from typing import Any

from tfx import types
from tfx import v1 as tfx
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter
from tfx.types.experimental import simple_artifacts
from tfx.utils import path_utils

from components.core.errors import UserError
from components.core.runtime_settings import TakesRuntimeSettings
from components.core.serving import SOURCE, VERSION, has_model
from components.scoring.model import write_bulk_inference_model
from components.scoring.writer import (
    EXAMPLES_KEY,
    INFERENCE_RESULT_KEY,
    MODEL_KEY,
    SCORES_KEY,
    Executor,
)


class NoModelInProductionError(UserError, FileNotFoundError):
    """The scoring package ran with no model in production under its push_dir."""


# The model in production, saved as TFX's BulkInferrer can run it (model.py).
@tfx.dsl.components.component
def ScoringModel(  # noqa: N802
    baseline: tfx.dsl.components.InputArtifact[standard_artifacts.Model],
    model: tfx.dsl.components.OutputArtifact[standard_artifacts.Model],
) -> None:
    if not has_model(baseline):
        raise NoModelInProductionError(
            "there is no model in production to score with: ProductionBaseline found no complete"
            " version folder under push_dir; push one first (a training run that blesses a model)"
            " or give the push_dir parameter where models are pushed"
        )
    write_bulk_inference_model(
        path_utils.serving_model_path(baseline.uri), path_utils.serving_model_dir(model.uri)
    )
    model.set_string_custom_property(SOURCE, baseline.get_string_custom_property(SOURCE))
    model.set_int_custom_property(VERSION, baseline.get_int_custom_property(VERSION))


class ScoreWriterSpec(types.ComponentSpec):
    PARAMETERS = {}
    INPUTS = {
        INFERENCE_RESULT_KEY: ChannelParameter(type=standard_artifacts.InferenceResult),
        MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
        EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
    }
    # A folder holding summary.json and summary.txt (the scores are in output_dir).
    OUTPUTS = {SCORES_KEY: ChannelParameter(type=simple_artifacts.File)}


class ScoreWriter(TakesRuntimeSettings, base_component.BaseComponent):
    """Writes BulkInferrer's predictions as JSON lines and CSV into the `output_dir` runtime
    setting's folder; takes `data_root` (for its summary) too."""

    SPEC_CLASS = ScoreWriterSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)
    SETTINGS = ("data_root", "output_dir")

    def __init__(
        self,
        *,
        runtime: Mapping[str, Any],
        inference_result: types.BaseChannel,
        model: types.BaseChannel,
        examples: types.BaseChannel,
    ):
        spec = ScoreWriterSpec(
            inference_result=inference_result,
            model=model,
            examples=examples,
            scores=types.Channel(type=simple_artifacts.File),
        )
        super().__init__(runtime=runtime, spec=spec)
