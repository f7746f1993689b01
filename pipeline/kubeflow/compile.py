"""Compiles the pipeline for Kubeflow Pipelines: `bertpipe compile` writes build/pipeline.yaml.

The same `create_pipeline` as the local runners, compiled by TFX's `KubeflowV2DagRunner` into a KFP
v2 `PipelineSpec` (YAML; schema 2.1, the one with which TFX 1.16 writes YAML for runtime
parameters). The package is then finished in ways TFX's compiler does not offer:

- every run-time parameter (components.core.runtime_settings) gets its default from the Config, so a
  run needs only what has no sensible default (`push_dir`, when no gs:// folder was compiled in);
- `ProductionBaseline` is never cached: what is in production changes between runs with the same
  inputs (nor is the scoring package's `ScoreWriter`, which writes outside the pipeline root);
- the Beam pipeline options (`run.beam_args`, pipeline/beam_options.py) become arguments of every
  container, as TFX's compiler writes them, so the Beam steps run on the runner they name;
- the Trainer's accelerator request comes from `config.kubeflow` through TFX's platform config,
  and its node selector as a Kubernetes platform spec (a second YAML document, as kfp-kubernetes
  writes it); a Trainer on TPUs (`google.com/tpu`) runs the TPU image (build/Dockerfile.tpu);
- the Report step starts through components/report/entrypoint.py, which lets TFX's entry point
  rebuild its `system.HTML` output (the type the KFP UI displays as a page);
- with `config.vertex.enabled` the Trainer is TFX's Vertex AI Trainer, which runs the training as
  a Vertex AI job on the worker pools of pipeline.kubeflow.vertex;
- with `config.kubeflow.inference` the package holds the scoring pipeline instead
  (pipeline/inference_pipeline.py, run-time parameters data_root, push_dir and output_dir);
- files of this project (the bundled sample, schemas/) are named by their path in the image
  (build/Dockerfile copies the project to IMAGE_PROJECT_ROOT); any other local path is an error,
  since Kubeflow steps (and TPU workers) cannot read the compiling machine's disk: use gs:// URIs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx.orchestration import data_types
from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner, pipeline_builder

from components.baseline import ProductionBaseline
from components.core.config import PACKAGE_ROOT, Config
from components.core.runtime_settings import (
    RUNTIME_SETTINGS,
    SCORING_SETTINGS,
    config_values,
    training_settings,
)
from components.core.settings import ConfigError
from components.core.uris import has_scheme
from components.report import Report
from components.report import entrypoint as report_entrypoint
from components.scoring import ScoreWriter
from components.text_example_gen import input_split_config
from components.trainer.component import Trainer
from pipeline.beam_options import beam_pipeline_args
from pipeline.inference_pipeline import create_inference_pipeline
from pipeline.kubeflow.package import IMAGE_PROJECT_ROOT
from pipeline.kubeflow.settings import CompileConfig, KubeflowConfig
from pipeline.kubeflow.vertex import vertex_trainer_config
from pipeline.pipeline import create_pipeline

# TFX needs a pipeline root to compile; KFP sets the real one per run (`--pipeline-root`, or the
# cluster's default), so none is written into the package.
_COMPILE_ROOT = "gs://pipeline-root-is-set-per-run"
# Task names are the components' node ids: their class names.
# (the ScoreWriter of the scoring package writes into a folder that a run-time parameter names)
UNCACHED_TASKS = (ProductionBaseline.__name__, ScoreWriter.__name__)
HEADER = (
    "# KFP v2 pipeline package of the BERT text classifier, compiled by `bertpipe compile`\n"
    "# (pipeline/kubeflow/compile.py) from pipeline/pipeline.py. Do not edit: recompile.\n"
    "# A test compiles it again and fails when this file is out of date.\n"
)
INFERENCE_HEADER = (
    "# KFP v2 package of the scoring pipeline of the BERT text classifier, compiled by\n"
    "# `bertpipe compile --inference` (pipeline/kubeflow/compile.py) from\n"
    "# pipeline/inference_pipeline.py. Do not edit: recompile.\n"
    "# A test compiles it again and fails when this file is out of date.\n"
)


def portable_path(path: str, what: str) -> str:
    """`path` as a step on Kubeflow sees it: URIs as they are, project files inside the image."""
    if not path or has_scheme(path):
        return path
    resolved = Path(path).resolve()
    if resolved.is_relative_to(PACKAGE_ROOT):
        return f"{IMAGE_PROJECT_ROOT}/{resolved.relative_to(PACKAGE_ROOT).as_posix()}"
    raise ConfigError(
        f"{what} {path!r} is a local path that Kubeflow steps cannot read: use a gs:// URI"
        f" (or a file of this project, which the image holds under {IMAGE_PROJECT_ROOT})"
    )


def runtime_defaults(config: Config, names: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Each run-time parameter's default in the package (None: the run must give it), of the
    training package or of those `names`."""
    values = config_values(config, input_split_config(config.data)[0])
    defaults = {}
    for name in training_settings() if names is None else names:
        value = values.get(name)
        if name == "push_dir":
            # The local default (<output>/serving) means nothing on a cluster.
            defaults[name] = portable_path(config.run.push_dir, "push_dir") or None
        elif isinstance(value, str):
            defaults[name] = portable_path(value, name)
        else:
            defaults[name] = value  # None for a parameter that is no Config setting (output_dir)
    return defaults


def check_portable(config: Config) -> None:
    """Fails when a setting names a local file that a Kubeflow step could not read."""
    portable_path(config.data.data, "data")
    portable_path(config.data.schema, "schema")
    portable_path(config.model.checkpoint, "checkpoint")
    if config.run.push_dir:
        portable_path(config.run.push_dir, "push_dir")


def trainer_resources(kubeflow: KubeflowConfig):
    """The Trainer's platform config: the accelerator and limits chosen in `config.kubeflow`
    (None when it asks for nothing)."""
    if not any((kubeflow.accelerator_type, kubeflow.trainer_cpu, kubeflow.trainer_memory)):
        return None
    # Both the older fields (what TFX's compiler checks, and Vertex reads) and the newer string
    # fields (what recent open-source KFP backends read first).
    resources = pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec.ResourceSpec()
    if kubeflow.trainer_cpu:
        resources.cpu_limit = kubeflow.trainer_cpu
        resources.resource_cpu_limit = f"{kubeflow.trainer_cpu:g}"
    if kubeflow.trainer_memory:
        resources.memory_limit = kubeflow.trainer_memory
        resources.resource_memory_limit = f"{kubeflow.trainer_memory:g}G"
    if kubeflow.accelerator_type:
        resources.accelerator.type = kubeflow.accelerator_type
        resources.accelerator.count = kubeflow.accelerator_count
        resources.accelerator.resource_type = kubeflow.accelerator_type
        resources.accelerator.resource_count = str(kubeflow.accelerator_count)
    return resources


def step_images(kubeflow: KubeflowConfig) -> str | dict[str, str]:
    """The image of every step: the project image; for a Trainer on TPUs, the TPU image."""
    if not kubeflow.uses_tpu:
        return kubeflow.image
    return {
        pipeline_builder.DEFAULT_IMAGE_PATH_KEY: kubeflow.image,
        Trainer.__name__: kubeflow.trainer_tpu_image,
    }


def _tfx_pipeline(config: CompileConfig):
    """(the TFX pipeline to compile, its run-time parameters' defaults): the training pipeline,
    or with `kubeflow.inference` the scoring one (pipeline/inference_pipeline.py)."""
    names = SCORING_SETTINGS if config.kubeflow.inference else training_settings()
    parameters = {
        name: data_types.RuntimeParameter(name=name, ptype=RUNTIME_SETTINGS[name].ptype)
        for name in names
    }
    beam_args = beam_pipeline_args(config.pipeline.run)
    if config.kubeflow.inference:
        tfx_pipeline = create_inference_pipeline(
            config.pipeline, _COMPILE_ROOT, parameters, beam_pipeline_args=beam_args
        )
        return tfx_pipeline, runtime_defaults(config.pipeline, names)
    tfx_pipeline = create_pipeline(
        config.pipeline,
        _COMPILE_ROOT,
        beam_pipeline_args=beam_args,
        runtime=parameters,
        trainer_platform_config=trainer_resources(config.kubeflow),
        vertex_trainer=vertex_trainer_config(config) if config.vertex.enabled else None,
    )
    return tfx_pipeline, runtime_defaults(config.pipeline)


def compile_spec(config: CompileConfig) -> list[dict]:
    """The package's YAML documents: the PipelineSpec, then a Kubernetes PlatformSpec if needed."""
    check_portable(config.pipeline)
    tfx_pipeline, defaults = _tfx_pipeline(config)
    runner = kubeflow_v2_dag_runner.KubeflowV2DagRunner(
        kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(
            default_image=step_images(config.kubeflow), use_pipeline_spec_2_1=True
        )
    )
    job = runner.run(tfx_pipeline, write_out=False)
    text = json.dumps(job["pipelineSpec"], sort_keys=True)
    if _COMPILE_ROOT in text:
        raise AssertionError("the pipeline root leaked into the package")
    # Project files by their path in the image (also inside JSON-encoded properties).
    text = text.replace(json.dumps(str(PACKAGE_ROOT))[1:-1], IMAGE_PROJECT_ROOT)
    spec = json.loads(text)

    declared = spec["root"]["inputDefinitions"]["parameters"]
    for name, default in defaults.items():
        declared[name]["description"] = RUNTIME_SETTINGS[name].help
        if default is not None:
            declared[name]["defaultValue"] = default
    tasks = spec["root"]["dag"]["tasks"]
    for name in UNCACHED_TASKS:
        if name in tasks:
            tasks[name]["cachingOptions"] = {"enableCache": False}
    # The Report step starts through its own thin entry point, which maps its system.HTML
    # output type to its class before running TFX's (components/report/entrypoint.py).
    if Report.__name__ in tasks:  # the training package
        component = tasks[Report.__name__]["componentRef"]["name"]
        report = spec["components"][component]["executorLabel"]
        spec["deploymentSpec"]["executors"][report]["container"]["command"] = [
            "python",
            "-m",
            report_entrypoint.MODULE,
        ]

    documents = [spec]
    labels = config.kubeflow.node_labels
    if labels:
        component = tasks[Trainer.__name__]["componentRef"]["name"]
        executor = spec["components"][component]["executorLabel"]
        documents.append(
            {
                "platforms": {
                    "kubernetes": {
                        "deploymentSpec": {
                            "executors": {executor: {"nodeSelector": {"labels": labels}}}
                        }
                    }
                }
            }
        )
    return documents


def compile_pipeline(config: CompileConfig, output: str | Path | None = None) -> Path:
    """Compiles the pipeline into `output` (default: config.kubeflow.package_path); returns its
    path."""
    path = Path(output or config.kubeflow.package_path)
    documents = compile_spec(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = yaml.safe_dump_all(documents, sort_keys=True, explicit_start=True, width=100)
    partial = path.with_name(path.name + ".partial")
    header = INFERENCE_HEADER if config.kubeflow.inference else HEADER
    partial.write_text(header + body, encoding="utf-8")
    partial.replace(path)
    return path
