"""The serving check as a pipeline step: the Trainer's model and the examples in, TFX's
InfraBlessing out (which the Pusher's `infra_blessing` input takes)."""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter

from components.serving_check.executor import Executor


class ServingCheckSpec(types.ComponentSpec):
    PARAMETERS = {}
    INPUTS = {
        standard_component_specs.MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
        standard_component_specs.EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
    }
    OUTPUTS = {
        standard_component_specs.BLESSING_KEY: ChannelParameter(
            type=standard_artifacts.InfraBlessing
        ),
    }


class ServingCheck(base_component.BaseComponent):
    """Loads the candidate in a fresh process that imports only tensorflow and tensorflow_text,
    as a model server does, calls every signature with canaries from the eval split and, when
    they all answer as they should, infra-blesses a copy of the model that carries its warmup
    requests and serving record (executor.py)."""

    SPEC_CLASS = ServingCheckSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, *, model: types.BaseChannel, examples: types.BaseChannel):
        super().__init__(
            spec=ServingCheckSpec(
                model=model,
                examples=examples,
                blessing=types.Channel(type=standard_artifacts.InfraBlessing),
            )
        )
