"""The Trainer on Vertex AI Training: TFX's Vertex AI Trainer extension, running this room's
executor and run_fn on the job's replicas.

`VertexTrainer` is TFX's `google_cloud_ai_platform.Trainer` with the runtime settings (checkpoint,
train_steps, learning_rate) as typed execution properties, like `Trainer`. Its executor,
`VertexExecutor`, runs in the pipeline's Trainer step: it writes the runtime settings into the
Config (so the job gets one consistent Config), then lets TFX submit the Vertex AI CustomJob
described in custom_config (pipeline/kubeflow/vertex.py builds it) and wait for it. Every replica
of the job runs `python -m tfx.scripts.run_executor` with this room's `Executor` (executor.py),
which calls `run_fn` (module.py): the same code as the Trainer step of a local or Kubeflow run.
"""

from __future__ import annotations

from tfx.dsl.components.base import executor_spec
from tfx.extensions.google_cloud_ai_platform.trainer import executor as vertex_executor
from tfx.v1.extensions import google_cloud_ai_platform

from components.core.runtime_settings import TakesRuntimeSettings, apply_to_custom_config
from components.trainer.component import Trainer
from components.trainer.executor import Executor


class VertexExecutor(vertex_executor.GenericExecutor):
    """Submits the Trainer as a Vertex AI CustomJob whose replicas run `Executor`."""

    def _GetExecutorClass(self):  # noqa: N802  (TFX's interface)
        return Executor

    def Do(self, input_dict, output_dict, exec_properties):  # noqa: N802  (TFX's interface)
        exec_properties, _ = apply_to_custom_config(exec_properties, "Trainer")
        return super().Do(input_dict, output_dict, exec_properties)


class VertexTrainer(TakesRuntimeSettings, google_cloud_ai_platform.Trainer):
    """TFX's Vertex AI Trainer taking checkpoint, train_steps and learning_rate as runtime settings."""

    SETTINGS = Trainer.SETTINGS
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(VertexExecutor)
