"""The Trainer executor: TFX's generic Trainer, with the runtime settings written into the Config
first and the checkpoint checked before the model is built.

On Kubeflow the checkpoint is a run-time parameter that no pre-flight saw, so the executor runs the
pre-flight's own check (components/core/checkpoint.py: check_checkpoint; milliseconds, after a
gs:// checkpoint is copied here) first: a broken checkpoint fails the step with the same one-line
CheckpointError as `bertpipe run`, not with transformers' traceback after the model is built."""

from __future__ import annotations

import tensorflow_text  # noqa: F401  (the transform graph's tokenizer ops, for TFX to load it)
from tfx.components.trainer import executor as trainer_executor
from tfx.proto import trainer_pb2
from tfx.types import standard_component_specs
from tfx.utils import proto_utils

from components.core.checkpoint import check_checkpoint
from components.core.runtime_settings import apply_to_custom_config


class Executor(trainer_executor.GenericExecutor):
    """TFX's Trainer executor, with the runtime settings applied to the Config and the checkpoint
    checked first."""

    def Do(self, input_dict, output_dict, exec_properties):  # noqa: N802  (TFX's interface)
        exec_properties, config = apply_to_custom_config(exec_properties, "Trainer")
        check_checkpoint(config.model)
        # TrainArgs follows the Config (run_fn trains config.train.train_steps steps).
        train_args = trainer_pb2.TrainArgs(num_steps=config.train.train_steps)
        exec_properties[standard_component_specs.TRAIN_ARGS_KEY] = proto_utils.proto_to_json(
            train_args
        )
        super().Do(input_dict, output_dict, exec_properties)
