"""The Trainer on Vertex AI Training: what TFX's Vertex AI Trainer extension needs, from the typed
compile config (`config.vertex`, `config.kubeflow` for the images).

TFX's `google_cloud_ai_platform.Trainer` (tfx/extensions/google_cloud_ai_platform/trainer/) reads
three entries of its custom_config:

- ENABLE_VERTEX_KEY: submit to Vertex AI (not to the retired AI Platform Training);
- VERTEX_REGION_KEY: the region whose API endpoint takes the job;
- TRAINING_ARGS_KEY: the job, `{"project": ..., "job_spec": <CustomJobSpec>}`, the spec as a dict
  of its proto field names (what the Vertex AI client takes).

Its executor runs in the pipeline's Trainer step: it fills in every worker pool's container
command (`python -m tfx.scripts.run_executor --executor_class_path <the Trainer executor> ...`,
with the step's input and output artifacts and execution properties), submits the CustomJob and
waits for it. Each replica thus runs the project's Trainer executor and run_fn on the same
artifacts, in the image named here.

Worker pools: pool 0 is the chief (one replica); with replica_count N > 1, pool 1 holds N - 1
workers of the same machine spec. Vertex AI sets TF_CONFIG on every replica (task `chief` in pool
0, `worker` in pool 1), from which run_fn builds a MultiWorkerMirroredStrategy. Every pool runs the
project image (`--image`), or the TPU image (`--tpu-image`) when its machines carry TPUs, where
the strategy finds the TPU attached to the replica.
"""

from __future__ import annotations

from typing import Any

from google.cloud.aiplatform_v1.types import AcceleratorType, CustomJobSpec
from tfx.v1.extensions import google_cloud_ai_platform as vertex

from components.core.settings import ConfigError
from pipeline.kubeflow.settings import CompileConfig


def vertex_image(config: CompileConfig) -> str:
    """The image of the job's replicas: the TPU image on TPU machines, else the project image."""
    image = config.kubeflow.trainer_tpu_image if config.vertex.uses_tpu else config.kubeflow.image
    if "/" not in image:
        raise ConfigError(
            f"Vertex AI pulls the Trainer's image from a registry, but {image!r} names none: pass"
            " --image (and --tpu-image) as REGISTRY/NAME:TAG, e.g."
            " us-docker.pkg.dev/PROJECT/REPOSITORY/bertpipe:0.1.0"
        )
    return image


def machine_spec(config: CompileConfig) -> dict[str, Any]:
    """The MachineSpec of every replica."""
    settings = config.vertex
    spec: dict[str, Any] = {"machine_type": settings.machine_type}
    if settings.accelerator_type:
        if settings.accelerator_type not in AcceleratorType.__members__:
            known = sorted(n for n in AcceleratorType.__members__ if not n.endswith("UNSPECIFIED"))
            raise ConfigError(
                f"--vertex-accelerator-type {settings.accelerator_type!r} is not a Vertex AI"
                f" accelerator type; expected one of {known}"
            )
        spec["accelerator_type"] = settings.accelerator_type
        spec["accelerator_count"] = settings.accelerator_count
    if settings.tpu_topology:
        spec["tpu_topology"] = settings.tpu_topology
    return spec


def job_spec(config: CompileConfig) -> dict[str, Any]:
    """The CustomJobSpec (as a dict) of the Trainer's Vertex AI job; checked against the proto."""
    replicas = config.vertex.replica_count
    pools = [
        {
            "machine_spec": machine_spec(config),
            "replica_count": count,
            "container_spec": {"image_uri": vertex_image(config)},
        }
        for count in ((1, replicas - 1) if replicas > 1 else (1,))
    ]
    spec = {"worker_pool_specs": pools}
    CustomJobSpec(spec)  # raises on a field or value the Vertex AI API would refuse
    return spec


def vertex_trainer_config(config: CompileConfig) -> dict[str, Any]:
    """The custom_config entries of TFX's Vertex AI Trainer (see the module docstring)."""
    if not config.vertex.enabled:
        raise ValueError("Vertex AI training is off (config.vertex.enabled, --vertex)")
    return {
        vertex.ENABLE_VERTEX_KEY: True,
        vertex.VERTEX_REGION_KEY: config.vertex.region,
        vertex.TRAINING_ARGS_KEY: {"project": config.vertex.project, "job_spec": job_spec(config)},
    }


def describe_job(config: CompileConfig) -> str:
    """One line on where the Vertex AI job trains (for `bertpipe compile`)."""
    settings = config.vertex
    machine = settings.machine_type + (
        f" with {settings.accelerator_count} {settings.accelerator_type}"
        if settings.accelerator_type
        else ""
    )
    return (
        f"the Trainer runs as a Vertex AI job in {settings.project} ({settings.region}):"
        f" {settings.replica_count} x {machine}, image {vertex_image(config)}"
    )
