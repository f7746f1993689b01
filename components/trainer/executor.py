"""The Trainer executor: TFX's generic Trainer, with the runtime settings written into the Config
first."""

from __future__ import annotations

import tensorflow_text  # noqa: F401  (the transform graph's tokenizer ops, for TFX to load it)
from tfx.components.trainer import executor as trainer_executor
from tfx.proto import trainer_pb2
from tfx.types import standard_component_specs
from tfx.utils import proto_utils

from components.core.runtime_settings import apply_to_custom_config


class Executor(trainer_executor.GenericExecutor):
    """TFX's Trainer executor, with the runtime settings applied to the Config first."""

    def Do(self, input_dict, output_dict, exec_properties):  # noqa: N802  (TFX's interface)
        exec_properties, config = apply_to_custom_config(exec_properties, "Trainer")
        # TrainArgs follows the Config (run_fn trains config.train.train_steps steps).
        train_args = trainer_pb2.TrainArgs(num_steps=config.train.train_steps)
        exec_properties[standard_component_specs.TRAIN_ARGS_KEY] = proto_utils.proto_to_json(
            train_args
        )
        super().Do(input_dict, output_dict, exec_properties)
