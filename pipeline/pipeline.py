"""The TFX pipeline: raw text in, a blessed serving model out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tfx.components import ExampleValidator, StatisticsGen
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.orchestration.pipeline import Pipeline
from tfx.proto import trainer_pb2

from components.baseline import ProductionBaseline
from components.core import runtime_settings
from components.core.config import CUSTOM_CONFIG_KEY, PIPELINE_NAME, Config
from components.core.serving import newest_version
from components.drift import DriftCheck, DriftGate
from components.evaluator import Evaluator, build_eval_config
from components.pusher import Pusher
from components.report import Report
from components.schema import schema_file
from components.serving_check import ServingCheck, kubernetes_infra_validator
from components.text_example_gen import text_example_gen
from components.trainer.component import RUN_FN, Trainer
from components.transform.component import PREPROCESSING_FN, Transform
from components.validation_gate import ValidationGate


def create_pipeline(
    config: Config,
    pipeline_root: str,
    metadata_connection_config=None,
    beam_pipeline_args: list[str] | None = None,
    runtime: Mapping[str, Any] | None = None,
    trainer_platform_config=None,
    vertex_trainer: Mapping[str, Any] | None = None,
    serving_image: str | None = None,
) -> Pipeline:
    """Implements the BERT text-classification pipeline with TFX.

    The orchestrator-specific settings come in as arguments, from whichever runner calls this:
    `beam_pipeline_args` for every Beam-using component, `metadata_connection_config` (local
    runners), `trainer_platform_config` (the Trainer's resource request on Kubeflow, a
    PipelineContainerSpec.ResourceSpec), `vertex_trainer` (the custom_config entries of TFX's
    Vertex AI Trainer: when given, the Trainer runs as a Vertex AI Training job) and `runtime`,
    the settings an operator may change per run (components.core.runtime_settings):
    RuntimeParameters when compiling for Kubeflow; by default the values in `config`.
    """
    components = []
    # Reads raw text (CSV/TSV, JSON Lines, folder per label) into tf.Examples, reporting bad rows.
    example_gen = text_example_gen(config, input_base=runtime["data_root"] if runtime else None)
    components.append(example_gen)
    if runtime is None:
        runtime = runtime_settings.config_values(config, example_gen.exec_properties["input_base"])
    runtime_settings.check_values(runtime)

    # Imports the curated raw-data schema from schemas/.
    schema_gen = ImportSchemaGen(schema_file=schema_file(config.data))
    components.append(schema_gen)

    # Computes statistics over the data for validation and the report.
    statistics_gen = StatisticsGen(
        examples=example_gen.outputs["examples"], schema=schema_gen.outputs["schema"]
    )
    components.append(statistics_gen)

    # Checks the statistics against the schema.
    example_validator = ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"]
    )
    components.append(example_validator)

    # Stops the run before Transform when ExampleValidator found anomalies.
    validation_gate = ValidationGate(anomalies=example_validator.outputs["anomalies"])
    components.append(validation_gate)

    # Tokenizes with the checkpoint's WordPiece vocabulary and maps labels to ids, in the graph.
    transform = Transform(
        runtime=runtime,
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        preprocessing_fn=PREPROCESSING_FN,
        custom_config={CUSTOM_CONFIG_KEY: config.to_json(Config.TRANSFORM_SECTIONS)},
    )
    transform.add_upstream_node(validation_gate)
    components.append(transform)

    # Finds the model in production (newest pushed version) for warm start and the regression check.
    # Locally the newest version at build time keys the cache, so a new push makes it run again;
    # the Kubeflow package turns caching off for this step (pipeline.kubeflow.compile).
    production_baseline = ProductionBaseline(
        push_dir=runtime["push_dir"],
        expected_version=(
            newest_version(runtime["push_dir"]) if isinstance(runtime["push_dir"], str) else 0
        ),
    )
    components.append(production_baseline)

    # Compares the span with the training data of the model in production (its statistics carried
    # with it), and stops the run before the Trainer when it drifted (on_drift: stop).
    drift_check = DriftCheck(
        runtime=runtime,
        examples=example_gen.outputs["examples"],
        transformed_examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        baseline_statistics=production_baseline.outputs["baseline_statistics"],
        drift=config.drift,
    )
    components.append(drift_check)
    drift_gate = DriftGate(drift=drift_check.outputs["drift"], on_drift=runtime["on_drift"])
    components.append(drift_gate)

    # Fine-tunes BERT with a classification head under the configured distribution strategy, in
    # its own step, or on Vertex AI Training (the same run_fn on the job's worker pools).
    trainer_class = Trainer
    if vertex_trainer:  # imported only here: it imports google-cloud-aiplatform (3 s CPU)
        from components.trainer.vertex import VertexTrainer

        trainer_class = VertexTrainer
    trainer = trainer_class(
        runtime=runtime,
        run_fn=RUN_FN,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        base_model=production_baseline.outputs["baseline"] if config.train.warm_start else None,
        train_args=trainer_pb2.TrainArgs(num_steps=config.train.train_steps),
        eval_args=trainer_pb2.EvalArgs(num_steps=config.train.eval_steps or None),
        custom_config={
            CUSTOM_CONFIG_KEY: config.to_json(Config.TRAINER_SECTIONS),
            **(vertex_trainer or {}),
        },
    )
    trainer.add_upstream_node(drift_gate)
    if vertex_trainer:  # the same node as the Trainer's: task name, MLMD history, consumers
        trainer.with_id(Trainer.__name__)
    if trainer_platform_config is not None:
        trainer.with_platform_config(trainer_platform_config)
    components.append(trainer)

    # Computes metrics and slices with TFMA and blesses the model if it passes the bounds.
    evaluator = Evaluator(
        runtime=runtime,
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=production_baseline.outputs["baseline"],
        schema=schema_gen.outputs["schema"],
        eval_config=build_eval_config(config),
    )
    components.append(evaluator)

    # Loads the model as a model server does, in a fresh process, and calls every signature with
    # canaries from the eval split; infra-blesses a copy with warmup requests and serving record.
    check = {"model": trainer.outputs["model"], "examples": example_gen.outputs["examples"]}
    serving_check = (
        kubernetes_infra_validator(**check, image=serving_image)
        if serving_image
        else ServingCheck(**check)
    )
    components.append(serving_check)

    # Pushes the infra-blessed copy of a blessed model to a versioned folder that TF Serving watches.
    model_pusher = Pusher(
        runtime=runtime,
        model_blessing=evaluator.outputs["blessing"],
        infra_blessing=serving_check.outputs["blessing"],
        statistics=drift_check.outputs["statistics"],  # carried beside the model it pushes
    )
    components.append(model_pusher)

    # Writes this run's report (report.md, a self-contained report.html) from its own artifacts,
    # after the push: a report that fails cannot change what was pushed.
    report = Report(
        runtime=runtime,
        examples=example_gen.outputs["examples"],
        transform_graph=transform.outputs["transform_graph"],
        post_transform_stats=transform.outputs["post_transform_stats"],
        model_run=trainer.outputs["model_run"],
        evaluation=evaluator.outputs["evaluation"],
        blessing=evaluator.outputs["blessing"],
        baseline=production_baseline.outputs["baseline"],
        infra_blessing=serving_check.outputs["blessing"],
        pushed_model=model_pusher.outputs["pushed_model"],
        drift=drift_check.outputs["drift"],
    )
    components.append(report)

    return Pipeline(
        pipeline_name=PIPELINE_NAME,
        pipeline_root=pipeline_root,
        components=components,
        enable_cache=config.run.enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=beam_pipeline_args,
    )
