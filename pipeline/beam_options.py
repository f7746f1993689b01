"""The Beam pipeline options of the pipeline's Beam steps, from the typed Config, checked.

`run.beam_args` (`--beam-arg=...`, one flag per option) go unchanged to every Beam-using component
(TextExampleGen, StatisticsGen, Transform, Evaluator): locally as `create_pipeline`'s
`beam_pipeline_args`, on Kubeflow as arguments of each container, where TFX's KubeflowV2 compiler
puts them. `run.beam_workers` stays the DirectRunner shorthand (`--direct_num_workers=N` with
multi-processing above 1; nothing at its default, 1, which is the DirectRunner's own default).

They are checked before anything runs or is compiled, because every mistake here would otherwise
show late and far away, on the cluster:

- every option must be one Beam knows: Beam drops an unknown one with a log line, so a typo such as
  `--runer=DataflowRunner` would quietly run the step on the DirectRunner inside the pod;
- the runner must be one Beam can create;
- `beam_workers` above 1 only with the DirectRunner, and not together with `--direct_num_workers`;
- runners whose workers start a container must name the image, because the workers import
  tensorflow-text (the tokenizer's ops; without it "Op type not registered 'CaseFoldUTF8'") and
  this project: Dataflow needs `--sdk_container_image`, and a portable runner (Flink, Spark, a
  job service) with the DOCKER environment, its default for a remote cluster, needs
  `--environment_config=<image>`. The project image (build/Dockerfile) is such an image.
"""

from __future__ import annotations

import difflib
import re

from apache_beam.options import pipeline_options
from apache_beam.runners import runner as beam_runner
from apache_beam.runners.portability.flink_runner import MAGIC_HOST_NAMES
from apache_beam.runners.portability.portable_runner import PortableRunner
from apache_beam.runners.portability.spark_runner import LOCAL_MASTER_PATTERN

from components.core.config import ConfigError, RunConfig

DIRECT_RUNNERS = ("DirectRunner", "BundleBasedDirectRunner", "SwitchingDirectRunner")
EMBEDDED_JOB_ENDPOINT = "embed"


def beam_pipeline_args(run: RunConfig) -> list[str]:
    """The Beam pipeline arguments of every Beam step: the DirectRunner shorthand, then
    `run.beam_args`. Raises ValueError naming the option when they cannot work (module docstring)."""
    args = list(run.beam_args)
    _check_known(args)
    options = pipeline_options.PipelineOptions(args)
    runner = _runner_class(options)
    if runner.__name__ not in DIRECT_RUNNERS:
        if run.beam_workers != 1:
            raise ConfigError(
                f"--beam-workers is the DirectRunner shorthand; with --runner={runner.__name__}"
                " set the runner's own parallelism through --beam-arg (e.g. --max_num_workers"
                " for Dataflow, --parallelism for Flink)"
            )
        _check_worker_image(runner, options)
        return args
    if run.beam_workers == 1:
        return args
    if any(arg.split("=", 1)[0] == "--direct_num_workers" for arg in args):
        raise ConfigError(
            "give the DirectRunner's workers once: --beam-workers or"
            " --beam-arg=--direct_num_workers, not both"
        )
    shorthand = [f"--direct_num_workers={run.beam_workers}"]
    if run.beam_workers > 1:
        shorthand.append("--direct_running_mode=multi_processing")
    return shorthand + args


def _known_options() -> set[str]:
    """Every option string of Beam's PipelineOptions classes, built as Beam builds its parser."""
    parser = pipeline_options._BeamArgumentParser()
    for cls in pipeline_options.PipelineOptions.__subclasses__():
        cls._add_argparse_args(parser)
    return {name for action in parser._actions for name in action.option_strings}


def _check_known(args: list[str]) -> None:
    known = _known_options()
    for arg in args:
        name = arg.split("=", 1)[0]
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConfigError(
                f"--beam-arg={arg}: Beam has no pipeline option {name}{hint}; Beam would drop it"
                " with a warning and run the step without it"
            )


def _runner_class(options: pipeline_options.PipelineOptions) -> type:
    name = options.view_as(pipeline_options.StandardOptions).runner or "DirectRunner"
    try:
        return type(beam_runner.create_runner(name))
    except (ValueError, ImportError) as error:
        raise ConfigError(f"--beam-arg=--runner={name}: {error}") from None


def _check_worker_image(runner: type, options: pipeline_options.PipelineOptions) -> None:
    """Workers that start a container must start one with tensorflow-text and this project."""
    if runner.__name__ == "DataflowRunner":
        workers = options.view_as(pipeline_options.WorkerOptions)
        if not (workers.sdk_container_image or workers.worker_harness_container_image):
            raise ConfigError(
                "--runner=DataflowRunner needs --beam-arg=--sdk_container_image=<the project"
                " image, e.g. REGISTRY/bertpipe:0.1.0>: Dataflow's default worker image lacks"
                " tensorflow-text (\"Op type not registered 'CaseFoldUTF8'\") and this project"
            )
        return
    if not issubclass(runner, PortableRunner):
        return
    portable = options.view_as(pipeline_options.PortableOptions)
    environment = (portable.environment_type or "").upper()
    docker = environment in ("DOCKER", "BEAM:ENV:DOCKER:V1") or (
        not environment and not _runs_locally(runner.__name__, options)
    )
    image = portable.environment_config or portable.lookup_environment_option(
        "docker_container_image"
    )
    if docker and not image:
        raise ConfigError(
            f"--runner={runner.__name__} starts its SDK workers as Docker containers (environment"
            " type DOCKER, Beam's default for a cluster) whose default image lacks tensorflow-text"
            " and this project: add --beam-arg=--environment_type=DOCKER"
            " --beam-arg=--environment_config=<the project image>, or run a worker pool of the"
            " project image and add --beam-arg=--environment_type=EXTERNAL"
            " --beam-arg=--environment_config=HOST:PORT"
        )


def _runs_locally(runner: str, options: pipeline_options.PipelineOptions) -> bool:
    """Whether the portable runner brings up its cluster on this machine with the SDK workers in
    this process (Beam's LOOPBACK default for a local Flink or Spark, and the embedded job
    service)."""
    if runner == "FlinkRunner":
        return options.view_as(pipeline_options.FlinkRunnerOptions).flink_master in MAGIC_HOST_NAMES
    if runner == "SparkRunner":
        master = options.view_as(pipeline_options.SparkRunnerOptions).spark_master_url
        return re.match(LOCAL_MASTER_PATTERN, master) is not None
    endpoint = options.view_as(pipeline_options.PortableOptions).job_endpoint
    return endpoint in (None, EMBEDDED_JOB_ENDPOINT)
