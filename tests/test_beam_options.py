"""Beam pipeline options from the Config (`--beam-arg`, `--beam-workers`): what every Beam step
gets, and the mistakes that are refused before anything runs or is compiled."""

from __future__ import annotations

import pytest

from components.core.config import Config, RunConfig
from pipeline.beam_options import beam_pipeline_args
from pipeline.cli import build_parser
from pipeline.flags import config_from_args

DATAFLOW = (
    "--runner=DataflowRunner",
    "--project=my-project",
    "--region=europe-west4",
    "--temp_location=gs://my-bucket/tmp",
    "--sdk_container_image=europe-docker.pkg.dev/my-project/ml/bertpipe:0.1.0",
)
FLINK = (
    "--runner=FlinkRunner",
    "--flink_master=flink-jobmanager:8081",
    "--environment_type=EXTERNAL",
    "--environment_config=localhost:50000",
)


def test_beam_arg_flags_build_the_setting_one_option_each():
    args = build_parser().parse_args(
        ["run", "--beam-arg=--runner=PortableRunner", "--beam-arg=--experiments=a,b"]
    )
    config = config_from_args(args)
    assert config.run.beam_args == ("--runner=PortableRunner", "--experiments=a,b")
    assert Config.from_json(config.to_json()).run.beam_args == config.run.beam_args


@pytest.mark.parametrize(
    "run, expected",
    [
        (RunConfig(), []),  # the DirectRunner with its defaults
        (RunConfig(beam_workers=2), ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]),
        (RunConfig(beam_args=DATAFLOW), list(DATAFLOW)),
        (RunConfig(beam_args=FLINK), list(FLINK)),
        (RunConfig(beam_args=("--runner=FlinkRunner",)), ["--runner=FlinkRunner"]),  # local Flink
        (
            RunConfig(beam_workers=3, beam_args=("--direct_running_mode=multi_threading",)),
            ["--direct_num_workers=3", "--direct_running_mode=multi_processing",
             "--direct_running_mode=multi_threading"],
        ),
    ],
)  # fmt: skip
def test_pipeline_args(run, expected):
    assert beam_pipeline_args(run) == expected


@pytest.mark.parametrize(
    "run, message",
    [
        (RunConfig(beam_args=("--runer=DataflowRunner",)), r"no pipeline option --runer \(did you mean --runner\?\)"),
        (RunConfig(beam_args=("--runner=FlinRunner",)), r"--runner=FlinRunner: Unexpected pipeline runner"),
        (RunConfig(beam_args=DATAFLOW[:-1]), r"DataflowRunner needs --beam-arg=--sdk_container_image"),
        (RunConfig(beam_args=FLINK[:2]), r"FlinkRunner starts its SDK workers as Docker containers"),
        (RunConfig(beam_args=(*FLINK[:2], "--environment_type=DOCKER")), r"--environment_config=<the project image>"),
        (RunConfig(beam_workers=4, beam_args=FLINK), r"--beam-workers is the DirectRunner shorthand"),
        (RunConfig(beam_workers=2, beam_args=("--direct_num_workers=2",)), r"not both"),
    ],
)  # fmt: skip
def test_options_that_cannot_work_are_refused(run, message):
    with pytest.raises(ValueError, match=message):
        beam_pipeline_args(run)


@pytest.mark.parametrize("value", ["runner=FlinkRunner", "--", " --runner=FlinkRunner"])
def test_a_beam_arg_must_be_an_option(value):
    with pytest.raises(ValueError, match="beam_args entries are Beam pipeline options"):
        RunConfig(beam_args=(value,))


def test_a_local_run_checks_its_beam_options_before_anything_runs(tmp_path):
    from pipeline.local_runner import RunPaths, run_pipeline

    config = Config().replace(
        run={"output": str(tmp_path / "run"), "beam_args": ("--runner=DataflowRunner",)}
    )
    with pytest.raises(ValueError, match="DataflowRunner needs --beam-arg=--sdk_container_image"):
        run_pipeline(config)
    paths = RunPaths(tmp_path / "run")
    assert not paths.pipeline_root.exists() and not paths.metadata_path.exists()
