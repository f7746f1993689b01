"""The Transform executor: TFX's, with the runtime settings written into the Config first and,
on Beam's DirectRunner, the transformed data kept out of memory (components.core.beam_memory)."""

from __future__ import annotations

import tensorflow_text  # noqa: F401  (the tokenizer's ops, in every process that runs the graph)
from tfx.components.transform import executor as transform_executor

from components.core.beam_memory import BoundedMemoryExecutor
from components.core.runtime_settings import apply_to_custom_config


class Executor(BoundedMemoryExecutor, transform_executor.Executor):
    """TFX's Transform executor, with the runtime settings applied to the Config first.

    On the DirectRunner, TFX's Flatten of the transformed splits (the input of the post-transform
    statistics) goes through local files, so memory does not grow with the rows.
    """

    DIRECT_RUNNER_FLATTENS = ("FlattenTransformedDatasets",)  # TFX 1.16's _RunBeamImpl

    def Do(self, input_dict, output_dict, exec_properties):  # noqa: N802  (TFX's interface)
        exec_properties, _ = apply_to_custom_config(exec_properties, "Transform")
        super().Do(input_dict, output_dict, exec_properties)
