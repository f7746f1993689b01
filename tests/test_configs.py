"""The typed configuration: defaults, flags, JSON round trip and validation."""

import argparse
import dataclasses

import pytest

from components.core.config import Config, DataConfig
from components.core.settings import (
    ConfigError,
    Interval,
    field_types,
    flag_for,
    register_section,
    section_types,
    with_flag_names,
)
from pipeline.cli import ALL_SECTIONS, build_parser
from pipeline.flags import add_config_arguments, config_from_args
from pipeline.kubeflow.settings import COMPILE_SECTIONS, CompileConfig


def parse(*flags: str) -> Config:
    parser = argparse.ArgumentParser()
    add_config_arguments(parser, ALL_SECTIONS)
    return config_from_args(parser.parse_args(list(flags)))


def test_flags_override_only_what_is_given():
    config = parse("--train-steps", "7", "--labels", "ham, spam", "--xla", "--tpu", "grpc://x:8470")
    assert config.train.train_steps == 7
    assert config.data.labels == ("ham", "spam")
    assert config.train.jit_compile is True and Config().train.jit_compile is False
    assert config.train.tpu_address == "grpc://x:8470"
    assert config.model == Config().model
    assert config.train.learning_rate == Config().train.learning_rate


def test_json_round_trip_keeps_types():
    # A value other than the default in every section, so that a section lost on the way fails.
    config = Config().replace(
        data={"labels": ("b", "a")},
        model={"max_seq_length": 64},
        train={"learning_rate": 3e-5, "jit_compile": True},
        eval={"min_accuracy": 0.75},
        drift={"max_label_distance": -1.0, "on_drift": "report"},
        run={"beam_args": ("--direct_num_workers=2",)},
    )
    assert all(getattr(config, name) != getattr(Config(), name) for name in ALL_SECTIONS)
    again = Config.from_json(config.to_json())
    assert again == config
    assert isinstance(again.data.labels, tuple) and isinstance(again.run.beam_args, tuple)
    assert isinstance(again.train.learning_rate, float) and again.train.jit_compile is True


def test_unknown_settings_are_named():
    with pytest.raises(ValueError, match=r"unknown train setting\(s\) \['steps'\]"):
        Config.from_dict({"train": {"steps": 3}})
    with pytest.raises(ValueError, match=r"unknown config section\(s\) \['trainer'\]"):
        Config.from_dict({"trainer": {}})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"data": {"eval_percent": 0}}, r"--eval-percent must be in \[1, 99\], got 0"),
        ({"data": {"max_rejected_fraction": 1.5}}, r"--max-rejected-fraction must be in \[0, 1\]"),
        ({"data": {"labels": ("spam",)}}, r"--labels declares one label \('spam'\)"),
        ({"data": {"labels": ("a", "b", "a")}}, "--labels names a label twice"),
        ({"data": {"text_column": "x", "label_column": "x"}}, "both name 'x'"),
        (
            {"data": {"text_pair_column": "2", "label_column": "2"}},
            "--text-pair-column and --label-column both name '2'",
        ),
        (
            {"data": {"text_pair_column": "b", "format": "folder"}},
            "--text-pair-column needs CSV/TSV columns or JSON Lines keys: folder-per-label",
        ),
        ({"data": {"data": " "}}, "--data must not be empty"),
        ({"data": {"format": "xml"}}, r"--format must be one of auto, csv, tsv, jsonl, folder"),
        ({"model": {"max_seq_length": 2}}, "--max-seq-length must be at least 3, got 2"),
        ({"model": {"dropout": 1.5}}, r"--dropout must be in \[0, 1\), got 1.5"),
        ({"train": {"batch_size": 0}}, "--batch-size must be at least 1"),
        ({"train": {"learning_rate": -1.0}}, "--learning-rate must be above 0, got -1.0"),
        ({"train": {"learning_rate": float("nan")}}, "--learning-rate must be above 0, got nan"),
        ({"train": {"weight_decay": -0.1}}, "--weight-decay must be at least 0"),
        ({"train": {"warmup_fraction": 1.0}}, r"--warmup-fraction must be in \[0, 1\)"),
        ({"train": {"seed": -1}}, "--seed must be in"),
        ({"eval": {"min_accuracy": 1.2}}, r"--min-accuracy must be in \[0, 1\]"),
        ({"eval": {"majority_margin": 1.0}}, r"--majority-margin must be in \[-1, 1\)"),
        ({"eval": {"max_accuracy_drop": -0.5}}, r"--max-accuracy-drop must be in \[0, 1\]"),
        ({"run": {"beam_workers": 0}}, "--beam-workers must be at least 1"),
        ({"run": {"output": ""}}, "--output must not be empty"),
    ],
)  # fmt: skip
def test_invalid_values_fail_naming_the_flag_and_the_range(changes, message):
    with pytest.raises(ConfigError, match=message):
        Config().replace(**changes)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kubeflow": {"trainer_cpu": -1.0}}, "--trainer-cpu must be at least 0"),
        ({"vertex": {"replica_count": 0}}, "--vertex-replicas must be at least 1"),
        ({"train": {"batch_size": 0}}, "--batch-size must be at least 1"),
    ],
)
def test_invalid_compile_settings_fail_naming_the_flag_and_the_range(changes, message):
    with pytest.raises(ConfigError, match=message):
        CompileConfig().replace(**changes)


def test_compile_settings_change_the_section_they_name():
    config = CompileConfig().replace(train={"train_steps": 3}, kubeflow={"image": "r/bp:1"})
    assert config.pipeline == Config().replace(train={"train_steps": 3})
    assert config.kubeflow.image == "r/bp:1" and config.vertex == CompileConfig().vertex
    assert not hasattr(Config(), "kubeflow") and not hasattr(Config(), "vertex")


def test_every_numeric_setting_has_a_range_that_its_default_meets():
    """Each int/float field declares the Interval it is checked against (metadata `valid`)."""
    assert tuple(section_types()) == (*ALL_SECTIONS, *COMPILE_SECTIONS)
    for section, section_cls in section_types().items():
        for f in dataclasses.fields(section_cls):
            if field_types(section_cls)[f.name] in (int, float):
                assert isinstance(f.metadata["valid"], Interval), f"{section}.{f.name}"
                assert f.default in f.metadata["valid"], f"{section}.{f.name}"


def test_config_keys_in_messages_become_flags():
    message = "set data.text_column (and data.header=no); train.csv and runs/data.schema stay"
    assert with_flag_names(message) == (
        "set --text-column (and --header=no); train.csv and runs/data.schema stay"
    )
    assert flag_for("train", "tpu_address") == "--tpu"
    assert flag_for("vertex", "replica_count") == "--vertex-replicas"
    assert with_flag_names("vertex.replica_count") == "--vertex-replicas"
    assert with_flag_names("kubeflow.tpu_image") == "--tpu-image"
    assert with_flag_names("run.enable_cache and train.jit_compile") == "--cache and --xla"


def test_choices_are_enforced_on_the_command_line(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--strategy", "gpu"])
    assert "invalid choice: 'gpu'" in capsys.readouterr().err


def test_push_dir_defaults_under_the_run_folder():
    assert Config().replace(run={"output": "/x/run"}).push_dir == "/x/run/serving"
    assert Config().replace(run={"push_dir": "gs://b/serving"}).push_dir == "gs://b/serving"


def test_components_get_the_config_from_custom_config_or_fail_naming_themselves():
    config = Config().replace(train={"train_steps": 3})
    as_json = {"config": config.to_json(Config.TRAINER_SECTIONS)}
    assert Config.from_custom_config(as_json, "Trainer").train.train_steps == 3
    assert Config.from_custom_config({"config": config.to_dict()}, "Trainer") == config
    with pytest.raises(ValueError, match="the Transform's custom_config must hold"):
        Config.from_custom_config(None, "Transform")


def test_a_section_name_names_one_section():
    register_section("data")(DataConfig)  # the same class again: nothing changes
    with pytest.raises(ValueError, match="settings section 'data' is components.core.config"):
        register_section("data")(type("DataConfig", (), {}))
    assert section_types()["data"] is DataConfig
