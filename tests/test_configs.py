"""The typed configuration: defaults, flags, JSON round trip and validation."""

import argparse

import pytest

from components.core.config import Config
from pipeline.cli import ALL_SECTIONS, build_parser
from pipeline.flags import add_config_arguments, config_from_args


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
    config = Config().replace(data={"labels": ("b", "a")}, train={"learning_rate": 1e-4})
    again = Config.from_json(config.to_json())
    assert again == config
    assert isinstance(again.data.labels, tuple)


def test_unknown_settings_are_named():
    with pytest.raises(ValueError, match=r"unknown train setting\(s\) \['steps'\]"):
        Config.from_dict({"train": {"steps": 3}})
    with pytest.raises(ValueError, match=r"unknown config section\(s\) \['trainer'\]"):
        Config.from_dict({"trainer": {}})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"data": {"eval_percent": 0}}, "eval_percent"),
        ({"data": {"max_rejected_fraction": 1.5}}, "max_rejected_fraction"),
        ({"model": {"max_seq_length": 2}}, "max_seq_length"),
        ({"train": {"batch_size": 0}}, "batch_size"),
        ({"train": {"warmup_fraction": 1.0}}, "warmup_fraction"),
        ({"eval": {"majority_margin": 1.0}}, r"majority_margin must be in \[-1, 1\)"),
    ],
)
def test_invalid_values_fail_with_the_setting_named(changes, message):
    with pytest.raises(ValueError, match=message):
        Config().replace(**changes)


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
