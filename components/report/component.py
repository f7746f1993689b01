"""The Report component: a pipeline step after the Evaluator and the Pusher.

It takes its own run's artifacts as inputs, so on every orchestrator the report is about the run
that wrote it, and a report that fails cannot change whether the model was pushed (the Pusher ran
before it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter
from tfx.types.experimental import simple_artifacts

from components.core.runtime_settings import TakesRuntimeSettings
from components.report import facts
from components.report.artifacts import HTML
from components.report.executor import HTML_KEY, REPORT_KEY, Executor


class ReportSpec(types.ComponentSpec):
    PARAMETERS = {}
    INPUTS = {
        facts.EXAMPLES: ChannelParameter(type=standard_artifacts.Examples),
        facts.TRANSFORM_GRAPH: ChannelParameter(type=standard_artifacts.TransformGraph),
        facts.POST_TRANSFORM_STATS: ChannelParameter(type=standard_artifacts.ExampleStatistics),
        facts.MODEL_RUN: ChannelParameter(type=standard_artifacts.ModelRun),
        facts.EVALUATION: ChannelParameter(type=standard_artifacts.ModelEvaluation),
        facts.BLESSING: ChannelParameter(type=standard_artifacts.ModelBlessing),
        facts.BASELINE: ChannelParameter(type=standard_artifacts.Model),
        facts.PUSHED_MODEL: ChannelParameter(type=standard_artifacts.PushedModel),
    }
    OUTPUTS = {
        # A folder: report.md and its plots, report.html, summary.txt, report.json.
        REPORT_KEY: ChannelParameter(type=simple_artifacts.File),
        # The same report.html, as the file at the URI (what the Kubeflow Pipelines UI shows).
        HTML_KEY: ChannelParameter(type=HTML),
    }


class Report(TakesRuntimeSettings, base_component.BaseComponent):
    """Writes the run report; takes `data_root` (for its header) and `push_dir` (where the run
    history is kept) as runtime settings."""

    SPEC_CLASS = ReportSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)
    SETTINGS = ("data_root", "push_dir")

    def __init__(
        self,
        *,
        runtime: Mapping[str, Any],
        examples: types.BaseChannel,
        transform_graph: types.BaseChannel,
        post_transform_stats: types.BaseChannel,
        model_run: types.BaseChannel,
        evaluation: types.BaseChannel,
        blessing: types.BaseChannel,
        baseline: types.BaseChannel,
        pushed_model: types.BaseChannel,
    ):
        spec = ReportSpec(
            examples=examples,
            transform_graph=transform_graph,
            post_transform_stats=post_transform_stats,
            model_run=model_run,
            evaluation=evaluation,
            blessing=blessing,
            baseline=baseline,
            pushed_model=pushed_model,
            report=types.Channel(type=simple_artifacts.File),
            html=types.Channel(type=HTML),
        )
        super().__init__(runtime=runtime, spec=spec)
