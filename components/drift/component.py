"""The DriftCheck component: this span's drift statistics, compared with the baseline's by TFX's
DistributionValidator (TFDV's comparators), and the result as a typed record."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.proto import distribution_validator_pb2
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter
from tfx.types.experimental import simple_artifacts
from tfx.utils import json_utils

from components.core.config import DriftConfig
from components.core.drift import CHECKS, L_INFINITY
from components.core.runtime_settings import TakesRuntimeSettings
from components.drift.executor import (
    DRIFT_KEY,
    EXAMPLES_KEY,
    TRANSFORM_GRAPH_KEY,
    TRANSFORMED_EXAMPLES_KEY,
    Executor,
)

_VALIDATOR = standard_component_specs.DistributionValidatorSpec
# What an off check's threshold becomes: never exceeded (both measures lie in [0, 1]); the
# distance is still measured and shown.
OFF = math.inf


class DriftCheckSpec(types.ComponentSpec):
    PARAMETERS = {
        standard_component_specs.DISTRIBUTION_VALIDATOR_CONFIG_KEY: _VALIDATOR.PARAMETERS[
            standard_component_specs.DISTRIBUTION_VALIDATOR_CONFIG_KEY
        ],
        standard_component_specs.INCLUDE_SPLIT_PAIRS_KEY: _VALIDATOR.PARAMETERS[
            standard_component_specs.INCLUDE_SPLIT_PAIRS_KEY
        ],
    }
    INPUTS = {
        EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),  # its span
        TRANSFORMED_EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
        TRANSFORM_GRAPH_KEY: ChannelParameter(type=standard_artifacts.TransformGraph),
        # ProductionBaseline's: the statistics carried with the model in production.
        standard_component_specs.BASELINE_STATISTICS_KEY: ChannelParameter(
            type=standard_artifacts.ExampleStatistics
        ),
    }
    OUTPUTS = {
        # This span's drift statistics (the Pusher carries them beside the model it pushes).
        standard_component_specs.STATISTICS_KEY: ChannelParameter(
            type=standard_artifacts.ExampleStatistics
        ),
        # DistributionValidator's anomalies per split pair (SplitPair-train_train/SchemaDiff.pb).
        standard_component_specs.ANOMALIES_KEY: ChannelParameter(
            type=standard_artifacts.ExampleAnomalies
        ),
        # A folder: drift.json (components.core.drift.DriftResult) and drift.md.
        DRIFT_KEY: ChannelParameter(type=simple_artifacts.File),
    }


def validator_config(drift: DriftConfig) -> distribution_validator_pb2.DistributionValidatorConfig:
    """DistributionValidator's config: every check's comparator with its threshold (an off
    check's is OFF)."""
    config = distribution_validator_pb2.DistributionValidatorConfig()
    for check in CHECKS:
        threshold = getattr(drift, check.setting)
        feature = config.default_slice_config.feature.add()
        feature.path.step.append(check.feature)
        comparator = feature.distribution_comparator
        measure = (
            comparator.infinity_norm
            if check.measure == L_INFINITY
            else comparator.jensen_shannon_divergence
        )
        measure.threshold = OFF if threshold < 0 else threshold
    return config


class DriftCheck(TakesRuntimeSettings, base_component.BaseComponent):
    """Compares this span with the data of the model in production (components/drift/).

    Same-named splits are compared (train with train, eval with eval); `push_dir` (a runtime
    setting) is where the previous spans' statistics are recorded, for a model in production
    that carries none of its own.
    """

    SPEC_CLASS = DriftCheckSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)
    SETTINGS = ("push_dir",)

    def __init__(
        self,
        *,
        runtime: Mapping[str, Any],
        examples: types.BaseChannel,
        transformed_examples: types.BaseChannel,
        transform_graph: types.BaseChannel,
        baseline_statistics: types.BaseChannel,
        drift: DriftConfig,
    ):
        spec = DriftCheckSpec(
            examples=examples,
            transformed_examples=transformed_examples,
            transform_graph=transform_graph,
            baseline_statistics=baseline_statistics,
            distribution_validator_config=validator_config(drift),
            include_split_pairs=json_utils.dumps(None),
            statistics=types.Channel(type=standard_artifacts.ExampleStatistics),
            anomalies=types.Channel(type=standard_artifacts.ExampleAnomalies),
            drift=types.Channel(type=simple_artifacts.File),
        )
        super().__init__(runtime=runtime, spec=spec)
