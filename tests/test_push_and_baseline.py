"""Atomic pushes to a versioned folder, and finding the model in production from it, with the
drift statistics of its training data carried in its version folder."""

import os

import pytest
from tfx.types import standard_artifacts

from components import pusher
from components.baseline import ProductionBaseline
from components.core.serving import (
    HAS_MODEL,
    HAS_STATISTICS,
    VERSION,
    latest_production_model,
    production_versions,
    training_statistics,
)
from components.drift import statistics
from components.pusher import STAGING_PREFIX, push_model


def fake_saved_model(folder, marker: str) -> str:
    os.makedirs(os.path.join(folder, "variables"))
    with open(os.path.join(folder, "variables", "variables.index"), "w") as f:
        f.write(marker)
    with open(os.path.join(folder, "saved_model.pb"), "w") as f:
        f.write(marker)
    return str(folder)


def test_versions_increase_and_the_newest_is_in_production(tmp_path):
    push_dir = str(tmp_path / "serving")
    assert latest_production_model(push_dir) is None
    v1, _ = push_model(fake_saved_model(tmp_path / "m1", "one"), push_dir)
    v2, final = push_model(fake_saved_model(tmp_path / "m2", "two"), push_dir)
    assert int(v2) > int(v1)
    assert production_versions(push_dir) == [int(v1), int(v2)]
    assert latest_production_model(push_dir) == final
    with open(os.path.join(final, "saved_model.pb")) as f:
        assert f.read() == "two"


def test_a_crash_mid_push_leaves_no_version_a_server_would_load(tmp_path, monkeypatch):
    push_dir = str(tmp_path / "serving")
    v1, first = push_model(fake_saved_model(tmp_path / "m1", "one"), push_dir)

    def crash(*args, **kwargs):
        raise OSError("disk full while copying saved_model.pb")

    monkeypatch.setattr(pusher.io_utils, "copy_file", crash)
    with pytest.raises(OSError, match="disk full"):
        push_model(fake_saved_model(tmp_path / "m2", "two"), push_dir)
    staging = [e for e in os.listdir(push_dir) if e != v1]
    assert len(staging) == 1 and staging[0].startswith(STAGING_PREFIX)
    assert not os.path.exists(os.path.join(push_dir, staging[0], "saved_model.pb"))
    assert latest_production_model(push_dir) == first


def test_incomplete_numeric_folders_are_not_production(tmp_path):
    push_dir = tmp_path / "serving"
    (push_dir / "123").mkdir(parents=True)
    assert production_versions(str(push_dir)) == []


def drift_statistics(folder, span: int) -> standard_artifacts.ExampleStatistics:
    """A DriftCheck `statistics` output: two splits of three texts each."""
    artifact = standard_artifacts.ExampleStatistics()
    artifact.uri = str(folder)
    artifact.span = span
    stats = statistics.compute_statistics([b"a", b"b", b"b"], [3, 4, 5], [0, 1, 0], [0, 0, 1])
    statistics.write_statistics({"train": stats, "eval": stats}, artifact)
    return artifact


def test_the_pusher_carries_the_statistics_and_production_baseline_hands_them_on(tmp_path):
    stats = drift_statistics(tmp_path / "stats", span=7)
    push_dir = str(tmp_path / "serving")
    _, folder = push_model(fake_saved_model(tmp_path / "m1", "one"), push_dir, stats)
    carried = training_statistics(folder)
    assert carried.span == 7 and carried.split_names == ["train", "eval"]
    assert os.path.isfile(os.path.join(carried.folder, "Split-eval", "FeatureStats.pb"))

    baseline = standard_artifacts.Model()
    baseline.uri = str(tmp_path / "baseline")
    handed = standard_artifacts.ExampleStatistics()
    handed.uri = str(tmp_path / "handed")
    ProductionBaseline.test_call(push_dir=push_dir, baseline=baseline, baseline_statistics=handed)
    assert handed.get_int_custom_property(HAS_STATISTICS) == 1 and handed.span == 7
    assert statistics.load(handed, "train").num_examples == 3
    version = int(os.path.basename(folder))
    assert handed.get_int_custom_property(VERSION) == version
    assert baseline.get_int_custom_property(VERSION) == version

    # A model pushed without statistics (before drift checks): handed on as having none.
    _, bare = push_model(fake_saved_model(tmp_path / "m2", "two"), push_dir)
    assert training_statistics(bare) is None
    none = standard_artifacts.ExampleStatistics()
    none.uri = str(tmp_path / "none")
    baseline.uri = str(tmp_path / "baseline-2")
    ProductionBaseline.test_call(push_dir=push_dir, baseline=baseline, baseline_statistics=none)
    assert none.get_int_custom_property(HAS_MODEL) == 1
    assert none.get_int_custom_property(HAS_STATISTICS) == 0

    empty = standard_artifacts.ExampleStatistics()
    empty.uri = str(tmp_path / "empty")
    baseline.uri = str(tmp_path / "baseline-3")
    ProductionBaseline.test_call(
        push_dir=str(tmp_path / "nowhere"), baseline=baseline, baseline_statistics=empty
    )
    assert empty.get_int_custom_property(HAS_MODEL) == 0
