"""The Transform executor: TFX's, with the runtime settings written into the Config first."""

from __future__ import annotations

import tensorflow_text  # noqa: F401  (the tokenizer's ops, in every process that runs the graph)
from tfx.components.transform import executor as transform_executor

from components.core.runtime_settings import apply_to_custom_config


class Executor(transform_executor.Executor):
    """TFX's Transform executor, with the runtime settings applied to the Config first."""

    def Do(self, input_dict, output_dict, exec_properties):  # noqa: N802  (TFX's interface)
        exec_properties, _ = apply_to_custom_config(exec_properties, "Transform")
        super().Do(input_dict, output_dict, exec_properties)
