"""The DriftCheck executor: TFX's DistributionValidator executor, given this span's drift
statistics and the baseline's, and writing what it found as a DriftResult.

1. This span's drift statistics, per split, from the Transform's output (statistics.py), into
   the `statistics` output; with a span number, also recorded under
   `<push_dir>/span-statistics/span-<N>/` (a folder name TF Serving and ProductionBaseline
   ignore), for a later run whose model in production carries no statistics.
2. The baseline: the statistics carried with the model in production (ProductionBaseline's
   `baseline_statistics`); where that model carries none, the newest recorded span before this
   one; with no model in production, none: nothing to compare with.
3. TFX's DistributionValidator executor compares same-named splits with TFDV's comparators and
   writes its anomalies (the `anomalies` output); without a baseline it compares nothing.
4. The `drift` output: drift.json (components.core.drift.DriftResult: both distributions side
   by side, the distance, the threshold, whether TFDV found drift) and drift.md, the same for
   people. It never fails on drift: DriftGate (gate.py) stops the run.
"""

from __future__ import annotations

import logging
import math
import os
import re
from typing import Any

from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx import types
from tfx.components.distribution_validator import executor as validator_executor
from tfx.dsl.io import fileio
from tfx.proto import distribution_validator_pb2
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.utils import io_utils, proto_utils

from components.core import runtime_settings
from components.core.artifacts import DRIFT_MARKDOWN_FILE, DRIFT_RESULT_FILE, span_of
from components.core.drift import CHECKS, Baseline, DriftResult, FeatureDrift
from components.core.serving import HAS_MODEL, HAS_STATISTICS, VERSION
from components.core.transform_output import label_vocabulary
from components.drift import statistics
from components.drift.comparison import markdown

EXAMPLES_KEY = "examples"
TRANSFORMED_EXAMPLES_KEY = "transformed_examples"
TRANSFORM_GRAPH_KEY = "transform_graph"
DRIFT_KEY = "drift"
SPAN_RECORDS = "span-statistics"
_SPAN_FOLDER = re.compile(r"^span-(\d+)$")
_DRIFT_REASONS = (
    anomalies_pb2.AnomalyInfo.COMPARATOR_L_INFTY_HIGH,
    anomalies_pb2.AnomalyInfo.COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH,
)


# -- recorded spans ----------------------------------------------------------------------------------
def span_record(push_dir: str, span: int) -> str:
    return os.path.join(push_dir, SPAN_RECORDS, f"span-{span}")


def record_span(push_dir: str, span: int, artifact: types.Artifact) -> None:
    """Copies a span's drift statistics to its record under `push_dir` (spans > 0 only)."""
    if push_dir and span > 0:
        io_utils.copy_dir(artifact.uri, span_record(push_dir, span))


def previous_span(push_dir: str, span: int) -> tuple[int, str] | None:
    """(span, folder) of the newest span recorded under `push_dir` before `span`, or None."""
    folder = os.path.join(push_dir, SPAN_RECORDS)
    if not push_dir or not fileio.isdir(folder):
        return None
    spans = []
    for name in fileio.listdir(folder):
        match = _SPAN_FOLDER.match(name.rstrip("/"))
        if match and int(match.group(1)) < span:
            spans.append(int(match.group(1)))
    return (max(spans), span_record(push_dir, max(spans))) if spans else None


def _statistics_artifact(uri: str, span: int) -> types.Artifact:
    """An ExampleStatistics artifact over a folder of Split-* statistics."""
    artifact = standard_artifacts.ExampleStatistics()
    artifact.uri = uri
    artifact.span = span
    splits = [name.rstrip("/")[len("Split-") :] for name in fileio.listdir(uri)]
    artifact.split_names = artifact_utils.encode_split_names(sorted(s for s in splits if s))
    return artifact


def choose_baseline(
    carried: types.Artifact, push_dir: str, span: int
) -> tuple[types.Artifact | None, Baseline | None, str]:
    """(statistics artifact, its description, why there is none) for this span (see the module
    docstring, step 2)."""
    if not carried.get_int_custom_property(HAS_MODEL):
        return None, None, "no model in production"
    version = carried.get_int_custom_property(VERSION)
    if carried.get_int_custom_property(HAS_STATISTICS):
        return carried, Baseline(Baseline.PRODUCTION, version, carried.span, carried.uri), ""
    previous = previous_span(push_dir, span)
    if previous is None:
        return (
            None,
            None,
            f"the model in production (version {version}) carries no statistics of its training"
            f" data (pushed before drift checks, or by other means), and no span before"
            f" {span or 'this one'} is recorded under {os.path.join(push_dir, SPAN_RECORDS)}",
        )
    number, folder = previous
    baseline = Baseline(Baseline.PREVIOUS_SPAN, version, number, folder)
    return _statistics_artifact(folder, number), baseline, ""


# -- the comparison ----------------------------------------------------------------------------------
def compared_features(
    anomalies_artifact: types.Artifact, current: types.Artifact, baseline: types.Artifact, config
) -> list[FeatureDrift]:
    """Every check on every compared split, from DistributionValidator's anomalies and both
    statistics (for the side-by-side rows)."""
    thresholds = {}
    for feature in config.default_slice_config.feature:
        comparator = feature.distribution_comparator
        measure = (
            comparator.infinity_norm
            if comparator.HasField("infinity_norm")
            else comparator.jensen_shannon_divergence
        )
        off = math.isinf(measure.threshold)
        thresholds[feature.path.step[0]] = None if off else measure.threshold
    found = []
    compared = artifact_utils.decode_split_names(anomalies_artifact.split_names)
    for split in artifact_utils.decode_split_names(current.split_names):
        pair = f"{split}_{split}"  # DistributionValidator's name of a same-named pair
        if pair not in compared:
            continue
        path = os.path.join(
            anomalies_artifact.uri, f"SplitPair-{pair}", validator_executor.DEFAULT_FILE_NAME
        )
        anomalies = anomalies_pb2.Anomalies()
        anomalies.ParseFromString(io_utils.read_bytes_file(path))
        distances = {
            ".".join(info.path.step): info.drift_measurements[0].value
            for info in anomalies.drift_skew_info
            if info.drift_measurements
        }
        ours, theirs = statistics.load(current, split), statistics.load(baseline, split)
        for check in CHECKS:
            info = anomalies.anomaly_info.get(check.feature)
            drifted = info is not None and any(r.type in _DRIFT_REASONS for r in info.reason)
            found.append(
                FeatureDrift(
                    split=split,
                    feature=check.feature,
                    distance=distances.get(check.feature),
                    threshold=thresholds.get(check.feature),
                    drifted=drifted,
                    rows=statistics.rows(check.feature, ours, theirs),
                )
            )
    return found


def _single(artifacts: dict[str, list[types.Artifact]], key: str) -> types.Artifact:
    return artifact_utils.get_single_instance(artifacts[key])


def _validator_config(value) -> distribution_validator_pb2.DistributionValidatorConfig:
    """DistributionValidator's config as its executor needs it: TFX's local runners give the
    proto, Kubeflow's entry point its JSON."""
    if isinstance(value, str):
        return proto_utils.json_to_proto(
            value, distribution_validator_pb2.DistributionValidatorConfig()
        )
    return value


def write_result(result: DriftResult, folder: str) -> None:
    """drift.json and drift.md into the `drift` output folder."""
    fileio.makedirs(folder)
    for name, text in (
        (DRIFT_RESULT_FILE, result.to_json()),
        (DRIFT_MARKDOWN_FILE, markdown(result)),
    ):
        with fileio.open(os.path.join(folder, name), "w") as handle:
            handle.write(text)


class Executor(validator_executor.Executor):
    """DriftCheck's executor (see the module docstring)."""

    def Do(  # noqa: N802  (TFX's executor interface)
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        exec_properties, settings = runtime_settings.pop_settings(exec_properties)
        push_dir = str(settings.get("push_dir", ""))
        key = standard_component_specs.DISTRIBUTION_VALIDATOR_CONFIG_KEY
        config = _validator_config(exec_properties[key])

        # 1. This span's drift statistics (and its record under push_dir).
        span = span_of(_single(input_dict, EXAMPLES_KEY)) or 0
        transformed = _single(input_dict, TRANSFORMED_EXAMPLES_KEY)
        vocabulary = label_vocabulary(_single(input_dict, TRANSFORM_GRAPH_KEY).uri)
        splits = artifact_utils.decode_split_names(transformed.split_names)
        splits.sort(key=lambda split: (split != "train", split))  # train first, as people read
        by_split = {s: statistics.split_statistics(transformed.uri, s, vocabulary) for s in splits}
        current = _single(output_dict, standard_component_specs.STATISTICS_KEY)
        statistics.write_statistics(by_split, current)
        current.span = span
        record_span(push_dir, span, current)

        # 2. The baseline; 3. DistributionValidator's comparison.
        carried = _single(input_dict, standard_component_specs.BASELINE_STATISTICS_KEY)
        baseline_artifact, baseline, reason = choose_baseline(carried, push_dir, span)
        result = DriftResult(span or None, baseline, reason, statistics=current.uri)
        anomalies = _single(output_dict, standard_component_specs.ANOMALIES_KEY)
        if baseline_artifact is None:  # as DistributionValidator marks it, without its warning
            anomalies.set_json_value_custom_property(
                validator_executor.ARTIFACT_PROPERTY_BLESSED_KEY,
                {split: validator_executor.NO_BASELINE_STATS for split in splits},
            )
        else:
            super().Do(
                {
                    standard_component_specs.STATISTICS_KEY: [current],
                    standard_component_specs.BASELINE_STATISTICS_KEY: [baseline_artifact],
                },
                {standard_component_specs.ANOMALIES_KEY: [anomalies]},
                {**exec_properties, key: config},
            )
            result.features = compared_features(anomalies, current, baseline_artifact, config)

        # 4. The result.
        logging.info(result.headline())
        write_result(result, _single(output_dict, DRIFT_KEY).uri)
