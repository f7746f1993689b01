"""The scoring pipeline: a data span in, the scores of the model in production out.

    TextExampleGen (inference mode) -> BulkInferrer (TFX's) -> ScoreWriter
    ProductionBaseline -> ScoringModel ----^

`bertpipe compile --inference` compiles it into a Kubeflow package (pipeline/kubeflow/compile.py)
with the run-time parameters `data_root`, `push_dir` and `output_dir`
(components.core.runtime_settings.SCORING_SETTINGS). ExampleGen reads the newest span of the data
as the training pipeline's does, with the label optional and each example's file and line kept;
the scores are the same JSON lines as `bertpipe predict --data` writes (components/core/
scoring.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tfx import v1 as tfx
from tfx.proto import bulk_inferrer_pb2

from components.baseline import ProductionBaseline
from components.core import runtime_settings
from components.core.config import SCORING_PIPELINE_NAME, Config
from components.core.serving import SERVING_EXAMPLES
from components.scoring import ScoreWriter, ScoringModel
from components.text_example_gen import text_example_gen


def create_inference_pipeline(
    config: Config,
    pipeline_root: str,
    runtime: Mapping[str, Any],
    metadata_connection_config=None,
    beam_pipeline_args: list[str] | None = None,
) -> tfx.dsl.Pipeline:
    """The scoring pipeline of `config.data`; `runtime` holds its run-time settings
    (RuntimeParameters when compiling for Kubeflow)."""
    runtime_settings.check_values(runtime, runtime_settings.SCORING_SETTINGS)
    # Reads the newest span like the training pipeline, keeping each row's file and line.
    example_gen = text_example_gen(config, input_base=runtime["data_root"], inference=True)
    # The model in production (never cached on Kubeflow, see pipeline.kubeflow.compile).
    production_baseline = ProductionBaseline(push_dir=runtime["push_dir"])
    # That model as BulkInferrer can run it; fails the run when there is none.
    scoring_model = ScoringModel(baseline=production_baseline.outputs["baseline"])
    # TFX's batch inference over every split, through the serving_examples signature.
    bulk_inferrer = tfx.components.BulkInferrer(
        examples=example_gen.outputs["examples"],
        model=scoring_model.outputs["model"],
        model_spec=bulk_inferrer_pb2.ModelSpec(model_signature_name=[SERVING_EXAMPLES]),
    )
    # Its predictions as JSON lines and CSV in output_dir, with the rejected rows and a summary.
    score_writer = ScoreWriter(
        runtime=runtime,
        inference_result=bulk_inferrer.outputs["inference_result"],
        model=scoring_model.outputs["model"],
        examples=example_gen.outputs["examples"],
    )
    return tfx.dsl.Pipeline(
        pipeline_name=SCORING_PIPELINE_NAME,
        pipeline_root=pipeline_root,
        components=[example_gen, production_baseline, scoring_model, bulk_inferrer, score_writer],
        enable_cache=config.run.enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=beam_pipeline_args,
    )
