"""The drift check between spans, without a pipeline: the drift statistics of a Transform output,
the comparison by TFX's DistributionValidator executor, the choice of baseline (the statistics
carried with the model in production, the previous span's, none), the gate, and the lineage that
the Pusher carries and ProductionBaseline hands on."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from tfx.types import artifact_utils, standard_artifacts
from tfx.types.experimental import simple_artifacts

from components.core.artifacts import read_drift_result
from components.core.config import Config, DriftConfig
from components.core.drift import JENSEN_SHANNON, UNKNOWN_PIECE, WORD_PIECE_RANGE, DriftResult
from components.core.features import LABEL_ID, TRUNCATED, UNKNOWN_PIECES, WORD_PIECES
from components.core.serving import HAS_MODEL, HAS_STATISTICS, VERSION
from components.core.settings import ConfigError
from components.drift import statistics
from components.drift.component import OFF, validator_config
from components.drift.executor import SPAN_RECORDS, Executor
from components.drift.gate import DriftError, check_drift

LABELS = ["negative", "positive"]


# -- a Transform output, written by hand --------------------------------------------------------
def example(label_id: int, pieces: int, unknown: int = 0, truncated: int = 0) -> bytes:
    values = {
        LABEL_ID: label_id,
        WORD_PIECES: pieces,
        UNKNOWN_PIECES: unknown,
        TRUNCATED: truncated,
    }
    feature = {
        name: tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
        for name, value in values.items()
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def rows(count: int, negative_share: float, lengths=(6, 9, 12, 15)) -> list[bytes]:
    """`count` examples, the first `negative_share` of them negative, lengths cycling."""
    negatives = round(count * negative_share)
    return [example(0 if i < negatives else 1, lengths[i % len(lengths)]) for i in range(count)]


def transform_output(folder: Path, splits: dict[str, list[bytes]]) -> tuple:
    """(transformed_examples, transform_graph) artifacts over hand-written files."""
    for split, records in splits.items():
        path = folder / "transformed" / f"Split-{split}" / "part-0.gz"
        path.parent.mkdir(parents=True)
        with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
            for record in records:
                writer.write(record)
    assets = folder / "graph" / "transform_fn" / "assets"
    assets.mkdir(parents=True)
    (assets / "label_vocab").write_text("".join(f"{label}\n" for label in LABELS))
    transformed = standard_artifacts.Examples()
    transformed.uri = str(folder / "transformed")
    transformed.split_names = artifact_utils.encode_split_names(list(splits))
    graph = standard_artifacts.TransformGraph()
    graph.uri = str(folder / "graph")
    return transformed, graph


def production_statistics(uri: str, version: int = 0, carried: DriftResult | None = None):
    """A ProductionBaseline `baseline_statistics` output: no model (version 0), a model without
    statistics, or a model with the statistics at `uri`."""
    artifact = standard_artifacts.ExampleStatistics()
    artifact.uri = uri
    artifact.set_int_custom_property(HAS_MODEL, int(version > 0))
    artifact.set_int_custom_property(VERSION, version)
    artifact.set_int_custom_property(HAS_STATISTICS, int(carried is not None))
    if carried is not None:
        artifact.span = carried.span or 0
        artifact.split_names = artifact_utils.encode_split_names(["train", "eval"])
    return artifact


def run_check(
    folder: Path,
    span: int,
    splits: dict[str, list[bytes]],
    baseline,
    push_dir: Path,
    drift: DriftConfig | None = None,
):
    """Runs DriftCheck's executor; returns (its result, its statistics output, drift folder)."""
    folder.mkdir(parents=True)
    transformed, graph = transform_output(folder, splits)
    examples = standard_artifacts.Examples()
    examples.uri = str(folder / "examples")
    examples.span = span
    outputs = {
        "statistics": standard_artifacts.ExampleStatistics(),
        "anomalies": standard_artifacts.ExampleAnomalies(),
        "drift": simple_artifacts.File(),
    }
    for name, artifact in outputs.items():
        artifact.uri = str(folder / name)
    Executor().Do(
        {
            "examples": [examples],
            "transformed_examples": [transformed],
            "transform_graph": [graph],
            "baseline_statistics": [baseline],
        },
        {name: [artifact] for name, artifact in outputs.items()},
        {
            "distribution_validator_config": validator_config(drift or DriftConfig()),
            "include_split_pairs": "null",
            "push_dir": str(push_dir),
        },
    )
    result = read_drift_result(outputs["drift"].uri)
    return result, outputs["statistics"], outputs["drift"].uri


@pytest.fixture
def span_1(tmp_path):
    """Span 1 (45% negative), checked with nothing in production: its statistics."""
    splits = {"train": rows(200, 0.45), "eval": rows(40, 0.45)}
    nothing = production_statistics(str(tmp_path / "none"))
    result, stats, _ = run_check(tmp_path / "span1", 1, splits, nothing, tmp_path / "serving")
    return result, stats


# -- statistics -------------------------------------------------------------------------------------
def test_the_statistics_hold_the_shares_the_checks_compare():
    labels = [b"negative", b"positive", b"positive", b"positive"]
    stats = statistics.compute_statistics(labels, [4, 2, 0, 3], [1, 0, 0, 3], [0, 0, 0, 1])
    dataset = stats.datasets[0]
    assert dataset.num_examples == 4
    label = statistics.rows("label", dataset, None)
    assert [(r.name, r.current, r.baseline) for r in label] == [
        ("negative", 0.25, None),
        ("positive", 0.75, None),
    ]
    # [UNK] share of the word pieces (4 of 9), not of the texts; truncated share of the texts.
    (unknown,) = statistics.rows(UNKNOWN_PIECE, dataset, dataset)
    assert unknown.current == pytest.approx(4 / 9) and unknown.baseline == unknown.current
    (cut,) = statistics.rows(TRUNCATED, dataset, None)
    assert cut.current == 0.25
    # Lengths in fixed ranges, in the order of the ranges.
    lengths = [(r.name, r.current) for r in statistics.rows(WORD_PIECE_RANGE, dataset, None)]
    assert lengths == [("0", 0.25), ("1-4", 0.75)]
    ranges = [statistics.length_range(n) for n in (5, 12, 13, 129, 513)]
    assert ranges == ["5-8", "9-12", "13-16", "129-192", "over 512"]
    with pytest.raises(ValueError, match="more \\[UNK\\] pieces than pieces"):
        statistics.compute_statistics([b"a"], [1], [2], [0])


# -- the check ----------------------------------------------------------------------------------------
def test_nothing_in_production_means_nothing_to_compare_with(span_1, tmp_path):
    result, stats = span_1
    assert not result.compared and result.reason == "no model in production"
    assert result.features == [] and result.span == 1
    assert result.headline() == "drift: nothing to compare span 1 with: no model in production"
    assert artifact_utils.decode_split_names(stats.split_names) == ["train", "eval"]
    # The span is recorded under push_dir, for a later model in production without statistics.
    recorded = tmp_path / "serving" / SPAN_RECORDS / "span-1" / "Split-train" / "FeatureStats.pb"
    assert recorded.is_file()


def test_a_span_of_other_labels_drifts_and_the_gate_names_it(span_1, tmp_path):
    _, stats = span_1
    carried = production_statistics(stats.uri, version=1700000000, carried=DriftResult(span=1))
    splits = {"train": rows(200, 0.95), "eval": rows(40, 0.95)}
    result, _, drift_uri = run_check(tmp_path / "span3", 3, splits, carried, tmp_path / "serving")
    assert result.compared and result.baseline.source == "production model"
    assert (result.baseline.version, result.baseline.span) == (1700000000, 1)
    drifted = {(f.split, f.feature) for f in result.drifted}
    assert drifted == {("train", "label"), ("eval", "label")}
    train_label = next(f for f in result.features if (f.split, f.feature) == ("train", "label"))
    assert train_label.distance == pytest.approx(0.5) and train_label.threshold == 0.2
    shares = {r.name: (r.current, r.baseline) for r in train_label.rows}
    assert shares == {"negative": (0.95, 0.45), "positive": (pytest.approx(0.05), 0.55)}
    lengths = next(f for f in result.features if f.feature == WORD_PIECE_RANGE)
    assert lengths.check.measure == JENSEN_SHANNON and lengths.distance == pytest.approx(
        0, abs=1e-6
    )

    text = Path(drift_uri, "drift.md").read_text()
    assert "| label distribution | this span | baseline |" in text
    assert "| negative | 95.0% | 45.0% |" in text and "--max-label-distance" in text
    with pytest.raises(DriftError) as stopped:
        check_drift(drift_uri, "stop")
    line = str(stopped.value)
    assert "\n" not in line
    assert line.startswith("span 3 drifted from the training data of the model in production")
    assert (
        "label distribution (train split): L-infinity distance 0.5000, above the threshold 0.2"
        in line
    )
    assert "(drift.max_label_distance) (and 1 more); stopping before the Trainer" in line
    assert line.endswith(f"The comparison: {drift_uri}/drift.md")
    assert check_drift(drift_uri, "report").drifted  # goes on, with a warning
    with pytest.raises(ConfigError, match="--on-drift must be one of stop, report"):
        check_drift(drift_uri, "ignore")


def test_the_same_distribution_passes_and_an_off_check_is_shown_not_judged(span_1, tmp_path):
    _, stats = span_1
    carried = production_statistics(stats.uri, version=5, carried=DriftResult(span=1))
    splits = {"train": rows(200, 0.45), "eval": rows(40, 0.95)}  # only eval drifts
    off = DriftConfig(max_label_distance=-1)
    result, _, drift_uri = run_check(tmp_path / "span2", 2, splits, carried, tmp_path / "s", off)
    assert result.compared and result.drifted == []
    label = next(f for f in result.features if (f.split, f.feature) == ("eval", "label"))
    assert label.threshold is None and label.distance == pytest.approx(0.5)
    assert "not checked: drift.max_label_distance is off" in label.describe()
    assert check_drift(drift_uri, "stop").headline().endswith("no drift (8 checks)")
    comparator = validator_config(off).default_slice_config.feature[0].distribution_comparator
    assert comparator.infinity_norm.threshold == OFF  # measured, never exceeded


def test_a_model_without_statistics_is_compared_through_the_previous_span(span_1, tmp_path):
    push_dir = tmp_path / "serving"  # span 1 is recorded there (the fixture)
    bare = production_statistics(str(tmp_path / "bare"), version=9)
    splits = {"train": rows(200, 0.95), "eval": rows(40, 0.45)}
    result, _, _ = run_check(tmp_path / "span4", 4, splits, bare, push_dir)
    assert result.baseline.source == "previous span" and result.baseline.span == 1
    assert result.baseline.describe().startswith("the previous span's data (span 1; the model")
    assert {(f.split, f.feature) for f in result.drifted} == {("train", "label")}

    result, _, _ = run_check(tmp_path / "span1-again", 1, splits, bare, push_dir)
    assert not result.compared
    assert "carries no statistics of its training data" in result.reason
    assert f"no span before 1 is recorded under {push_dir / SPAN_RECORDS}" in result.reason


def test_the_result_round_trips_through_json(span_1, tmp_path):
    _, stats = span_1
    carried = production_statistics(stats.uri, version=5, carried=DriftResult(span=1))
    result, _, _ = run_check(
        tmp_path / "s2", 2, {"train": rows(50, 0.9), "eval": rows(9, 0.1)}, carried, tmp_path / "p"
    )
    assert DriftResult.from_json(result.to_json()) == result
    assert json.loads(result.to_json())["features"][0]["rows"][0]["name"] == "negative"


def test_thresholds_are_settings_with_flags():
    config = Config()
    assert config.drift.max_label_distance == 0.2 and config.drift.on_drift == "stop"
    with pytest.raises(ConfigError, match=r"--max-length-divergence must be in \[-1, 1\]"):
        Config().replace(drift={"max_length_divergence": 1.5})
    assert np.isinf(OFF)
