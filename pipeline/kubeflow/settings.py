"""The settings of `bertpipe compile` alone: how the Kubeflow Pipelines package is built
(`kubeflow`), the Trainer on Vertex AI Training (`vertex`), and `CompileConfig`, the pipeline's
Config together with these two sections, where the checks across them live (where the Trainer
runs, and the strategy it can use there).

Both sections are registered like the pipeline's own (components/core/settings.py), so that
pipeline/flags.py generates their flags and messages may name their settings as config keys
(`vertex.replica_count` -> `--vertex-replicas`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from components.core.config import Config
from components.core.settings import (
    AT_LEAST_1,
    NOT_NEGATIVE,
    ConfigError,
    check_settings,
    register_section,
    setting,
)

# Where `bertpipe compile` writes the package, and where submit, schedule and run-package read it.
DEFAULT_PACKAGE = "build/pipeline.yaml"
# Where `bertpipe compile --inference` writes the scoring package.
DEFAULT_INFERENCE_PACKAGE = "build/inference.yaml"
# The image that `bertpipe compile` names by default (build/Dockerfile); override with --image.
DEFAULT_IMAGE = "bertpipe:0.1.0"
# The Kubernetes resource of GKE TPU chips (what a TPU pod requests).
GKE_TPU_RESOURCE = "google.com/tpu"
# Vertex AI machine types that carry TPUs (TPU v2/v3 as "cloud-tpu"; TPU VM types v4, v5e, v5p,
# v6e); Vertex TPU accelerator types are named TPU_*.
VERTEX_TPU_MACHINE_PREFIXES = ("cloud-tpu", "ct4p-", "ct5lp-", "ct5p-", "ct6e-")
# The sections that `bertpipe compile` adds to the pipeline's (CompileConfig's own fields).
COMPILE_SECTIONS = ("kubeflow", "vertex")


@register_section("kubeflow")
@dataclass(frozen=True)
class KubeflowConfig:
    """How `bertpipe compile` builds the Kubeflow Pipelines package (and what the Trainer asks for)."""

    package: str = setting(
        "",
        f"where the compiled KFP v2 pipeline package is written; '' = {DEFAULT_PACKAGE}"
        f" ({DEFAULT_INFERENCE_PACKAGE} with --inference)",
    )
    inference: bool = setting(
        False,
        "compile the scoring pipeline instead of the training one: the newest data span scored"
        " by the model in production with TFX's BulkInferrer, into the output_dir parameter's"
        " folder (README: Batch scoring)",
    )
    image: str = setting(
        DEFAULT_IMAGE,
        "container image every step runs (build it from build/Dockerfile)",
        required=True,
    )
    accelerator_type: str = setting(
        "",
        "accelerator resource the Trainer requests: a Kubernetes resource name such as"
        " nvidia.com/gpu or google.com/tpu (open-source KFP), or a Vertex type such as"
        " NVIDIA_TESLA_T4 or TPU_V3; '' = none",
    )
    accelerator_count: int = setting(
        1, "how many accelerators the Trainer requests", valid=AT_LEAST_1
    )
    node_selector: tuple[str, ...] = setting(
        (),
        "key=value node labels the Trainer pod needs, comma separated (e.g. cloud.google.com/"
        "gke-tpu-accelerator=tpu-v5-lite-podslice,cloud.google.com/gke-tpu-topology=2x2)",
    )
    trainer_cpu: float = setting(
        0.0, "CPU limit of the Trainer (cores); 0 = the cluster's", valid=NOT_NEGATIVE
    )
    trainer_memory: float = setting(
        0.0, "memory limit of the Trainer (GB); 0 = the cluster's", valid=NOT_NEGATIVE
    )
    tpu_image: str = setting(
        "",
        "image the Trainer runs on TPUs (build it from build/Dockerfile.tpu); '' = --image with"
        " '-tpu' added to its name (REGISTRY/bertpipe:0.1.0 -> REGISTRY/bertpipe-tpu:0.1.0)",
    )

    def __post_init__(self):
        check_settings(self)
        if self.package and not self.package.endswith((".yaml", ".yml")):
            raise ConfigError(
                f"--package must be a .yaml file (KFP's client rejects .json packages),"
                f" got {self.package!r}"
            )
        for item in self.node_selector:
            key, sep, value = item.partition("=")
            if not sep or not key.strip() or not value.strip():
                raise ConfigError(f"--node-selector entries must be key=value, got {item!r}")
        if self.node_selector and not self.accelerator_type:
            raise ConfigError(
                "--node-selector is for accelerator nodes: set accelerator_type too"
                " (--accelerator-type)"
            )

    @property
    def package_path(self) -> str:
        """Where the package goes: `package`, or the default of the pipeline it holds."""
        return self.package or (DEFAULT_INFERENCE_PACKAGE if self.inference else DEFAULT_PACKAGE)

    @property
    def node_labels(self) -> dict[str, str]:
        pairs = (item.partition("=") for item in self.node_selector)
        return {key.strip(): value.strip() for key, _, value in pairs}

    @property
    def uses_tpu(self) -> bool:
        """Whether the Trainer step asks for TPUs (GKE's google.com/tpu, or a Vertex TPU_* type)."""
        return self.accelerator_type == GKE_TPU_RESOURCE or self.accelerator_type.startswith("TPU_")

    @property
    def trainer_tpu_image(self) -> str:
        """The image of a Trainer on TPUs: `tpu_image`, or `image` with '-tpu' added to its name."""
        if self.tpu_image:
            return self.tpu_image
        if "@" in self.image:
            raise ConfigError(
                f"cannot derive the TPU image from the digest {self.image!r}: set tpu_image"
                " (--tpu-image) to the image built from build/Dockerfile.tpu"
            )
        name, sep, tag = self.image.rpartition(":")
        if not sep or "/" in tag:  # no tag (the colon was a registry port)
            return f"{self.image}-tpu"
        return f"{name}-tpu:{tag}"


@register_section("vertex")
@dataclass(frozen=True)
class VertexConfig:
    """Vertex AI Training for the Trainer (`bertpipe compile --vertex`): TFX's Vertex AI Trainer
    extension submits a Vertex AI CustomJob with these worker pools, which runs the same run_fn
    in the project image (the TPU image on TPUs)."""

    enabled: bool = setting(
        False,
        "run the Trainer as a Vertex AI Training job (TFX's google_cloud_ai_platform.Trainer)"
        " instead of inside its pipeline step",
        flag="vertex",
    )
    project: str = setting("", "Google Cloud project of the Vertex AI job", flag="vertex-project")
    region: str = setting("us-central1", "Vertex AI region of the job", flag="vertex-region")
    machine_type: str = setting(
        "n1-standard-8",
        "machine type of every replica (e.g. n1-highmem-16, a2-highgpu-1g, cloud-tpu for"
        " TPU_V2/TPU_V3, ct5lp-hightpu-4t for TPU v5e)",
        flag="vertex-machine-type",
    )
    accelerator_type: str = setting(
        "",
        "accelerator of every replica, a Vertex AcceleratorType (NVIDIA_TESLA_T4, NVIDIA_L4,"
        " NVIDIA_TESLA_A100, TPU_V2, TPU_V3, TPU_V5_LITEPOD, ...); '' = none",
        flag="vertex-accelerator-type",
    )
    accelerator_count: int = setting(
        1,
        "accelerators per replica (8 for TPU_V2 and TPU_V3)",
        flag="vertex-accelerator-count",
        valid=AT_LEAST_1,
    )
    tpu_topology: str = setting(
        "",
        "TPU slice topology of a TPU VM machine type (e.g. 2x2 with ct5lp-hightpu-4t); '' = none",
        flag="vertex-tpu-topology",
    )
    replica_count: int = setting(
        1,
        "machines: 1, or a chief plus replica_count - 1 workers training together under"
        " MultiWorkerMirroredStrategy (Vertex sets TF_CONFIG)",
        flag="vertex-replicas",
        valid=AT_LEAST_1,
    )

    def __post_init__(self):
        check_settings(self)
        if self.enabled and not (self.project and self.region and self.machine_type):
            raise ConfigError(
                "Vertex AI training needs a project, a region and a machine type"
                " (--vertex-project, --vertex-region, --vertex-machine-type)"
            )
        if self.uses_tpu and self.replica_count > 1:
            raise ConfigError(
                f"Vertex AI TPU training runs on one replica (a larger TPU slice scales it), got"
                f" --vertex-replicas {self.replica_count} with {self.machine_type}"
                f" {self.accelerator_type}".rstrip()
            )

    @property
    def uses_tpu(self) -> bool:
        return self.accelerator_type.startswith("TPU_") or self.machine_type.startswith(
            VERTEX_TPU_MACHINE_PREFIXES
        )


@dataclass(frozen=True)
class CompileConfig:
    """What `bertpipe compile` compiles: the pipeline's Config (`pipeline`), the package and the
    Trainer's resources on Kubeflow (`kubeflow`), and the Trainer on Vertex AI (`vertex`)."""

    pipeline: Config = field(default_factory=Config)
    kubeflow: KubeflowConfig = field(default_factory=KubeflowConfig)
    vertex: VertexConfig = field(default_factory=VertexConfig)

    def __post_init__(self):
        """Checks across sections: where the Trainer runs and the strategy it can use there."""
        strategy = self.pipeline.train.strategy
        kubeflow = self.kubeflow
        trainer_only = kubeflow.accelerator_type or kubeflow.trainer_cpu or kubeflow.trainer_memory
        if kubeflow.inference and (trainer_only or self.vertex.enabled):
            raise ConfigError(
                "--inference compiles the scoring pipeline, which has no Trainer: leave out the"
                " Trainer's settings (--accelerator-type, --node-selector, --trainer-cpu,"
                " --trainer-memory, --vertex)"
            )
        if self.vertex.enabled and (self.kubeflow.accelerator_type or self.kubeflow.node_selector):
            raise ConfigError(
                "the Trainer runs on Vertex AI (--vertex): give its accelerators as"
                " --vertex-accelerator-type / --vertex-machine-type, not --accelerator-type /"
                " --node-selector (those are for the Trainer's own pipeline step)"
            )
        on_tpu = self.vertex.uses_tpu if self.vertex.enabled else self.kubeflow.uses_tpu
        if on_tpu and strategy not in ("auto", "tpu"):
            raise ConfigError(
                f"the Trainer runs on TPUs but strategy is {strategy!r}: use --strategy auto or tpu (both"
                " find the TPU attached to the machine)"
            )
        several = self.vertex.enabled and self.vertex.replica_count > 1
        if several and strategy not in ("auto", "multi_worker"):
            raise ConfigError(
                f"--vertex-replicas {self.vertex.replica_count} trains on several machines"
                f" together, which needs strategy auto or multi_worker (--strategy), got {strategy!r}"
            )

    def replace(self, **sections: dict) -> CompileConfig:
        """A copy with some settings changed, of any section: the pipeline's
        (`train={"strategy": "tpu"}`) or this record's own (`kubeflow={"image": ...}`)."""
        own = {name: sections.pop(name) for name in COMPILE_SECTIONS if name in sections}
        pipeline = self.pipeline.replace(**sections)  # its sections are checked first
        return dataclasses.replace(
            self,
            pipeline=pipeline,
            **{
                name: dataclasses.replace(getattr(self, name), **changes)
                for name, changes in own.items()
            },
        )
