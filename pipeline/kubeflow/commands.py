"""The Kubeflow commands of `bertpipe`: compile (the package into build/), submit (one run),
schedule (a recurring run) and run-package (a package through kfp.local here). `add_commands`
adds them to the command line that pipeline/cli.py builds."""

from __future__ import annotations

import argparse
import time

from components.core.config import PIPELINE_NAME
from components.core.settings import flag_for
from pipeline.command_line import ALL_SECTIONS, Commands, NotUsed
from pipeline.flags import add_config_arguments, compile_config_from_args
from pipeline.kubeflow.settings import COMPILE_SECTIONS, DEFAULT_PACKAGE

# Run settings that `bertpipe compile` does not use, and what to say instead of accepting them.
NOT_COMPILED = {
    "output": "the package goes to --package",
    "runner": "Kubeflow Pipelines orchestrates the compiled package",
    "beam_workers": "pass Beam options to the steps with --beam-arg",
}


def _compile(args: argparse.Namespace) -> int:
    from pipeline import preflight
    from pipeline.kubeflow.compile import compile_pipeline
    from pipeline.kubeflow.vertex import describe_job

    config = compile_config_from_args(args)
    preflight.check_compile(config.pipeline, inference=config.kubeflow.inference)
    path = compile_pipeline(config)
    which = "scoring pipeline" if config.kubeflow.inference else "pipeline"
    print(
        f"Compiled the {which} for Kubeflow Pipelines into {path} (image {config.kubeflow.image})"
    )
    if config.vertex.enabled:
        print(f"  {describe_job(config)}")
    elif config.kubeflow.uses_tpu:
        print(f"  the Trainer runs the TPU image {config.kubeflow.trainer_tpu_image}")
    return 0


def _kfp_options(args: argparse.Namespace) -> dict:
    """The keyword arguments that submit and schedule share (see _add_kfp_arguments)."""
    from pipeline.kubeflow.package import parse_parameter_values

    return {
        "params": parse_parameter_values(args.package, args.param),
        "namespace": args.namespace,
        "pipeline_root": args.pipeline_root,
        "pipeline_name": args.pipeline_name,
        "service_account": args.service_account,
    }


def _submit(args: argparse.Namespace) -> int:
    from pipeline.kubeflow.client import submit

    run_id = submit(
        args.package,
        args.endpoint,
        args.experiment,
        args.run_name or f"{PIPELINE_NAME}-{time.strftime('%Y%m%d-%H%M%S')}",
        **_kfp_options(args),
    )
    print(f"Started run {run_id} in experiment {args.experiment!r} at {args.endpoint}")
    return 0


def _schedule(args: argparse.Namespace) -> int:
    from pipeline.kubeflow.client import schedule

    job_id = schedule(
        args.package,
        args.endpoint,
        args.experiment,
        args.job_name,
        args.cron,
        max_concurrency=args.max_concurrency,
        catchup=args.catchup,
        **_kfp_options(args),
    )
    print(
        f"Created recurring run {job_id} ({args.job_name!r}, cron {args.cron!r}) in experiment"
        f" {args.experiment!r} at {args.endpoint}"
    )
    return 0


def _add_kfp_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--endpoint", required=True, help="KFP API URL, e.g. http://127.0.0.1:8888")
    parser.add_argument("--package", default=DEFAULT_PACKAGE, help="compiled pipeline package")
    parser.add_argument("--experiment", default=PIPELINE_NAME, help="KFP experiment (created)")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="run-time parameter (repeatable): data_root, checkpoint, train_steps,"
        " learning_rate, min_accuracy, majority_margin, push_dir, on_drift; of the scoring"
        " package: data_root, push_dir, output_dir",
    )
    parser.add_argument("--pipeline-root", help="where runs keep artifacts (gs://...)")
    parser.add_argument("--namespace", help="Kubeflow namespace (multi-user clusters)")
    parser.add_argument(
        "--pipeline-name", help="upload the package as a version of this pipeline first"
    )
    parser.add_argument("--service-account", help="Kubernetes service account of the run's pods")


def _run_package(args: argparse.Namespace) -> int:
    """`bertpipe run-package`: the package through kfp.local here. A package or parameters that
    cannot be used are a user error (exit status 2), a task that fails a LocalRunError (exit
    status 1): one line on stderr either way."""
    from pipeline.kubeflow.local_run import run_package, summary
    from pipeline.kubeflow.package import parse_parameter_values

    params = parse_parameter_values(args.package, args.param)
    run = run_package(
        args.package,
        params,
        args.pipeline_root,
        verbose=args.verbose,
        cold_start=args.cold_start,
    )
    print(summary(run))
    return 0


def _add_run_package_parser(commands) -> None:
    run_package = commands.add_parser(
        "run-package",
        help="run a compiled package on this machine through kfp.local (before kfp run submit)",
    )
    run_package.add_argument(
        "package",
        nargs="?",
        default=DEFAULT_PACKAGE,
        help=f"compiled pipeline package (default: {DEFAULT_PACKAGE})",
    )
    run_package.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="run-time parameter (repeatable), e.g. push_dir=/tmp/serving train_steps=5",
    )
    run_package.add_argument(
        "--pipeline-root",
        help="local folder for the runs' artifacts and logs (one subfolder per run)",
    )
    run_package.add_argument(
        "--cold-start",
        action="store_true",
        help="start each task in a fresh Python, as its container does (default: fork each task"
        " from a Python that imported TensorFlow, TFX and Beam once, 6-7 s less per task)",
    )
    run_package.set_defaults(handler=_run_package)


def add_commands(commands: Commands) -> None:
    """Adds compile, submit, schedule and run-package."""
    compile_ = commands.add_parser("compile", help="compile the pipeline for Kubeflow Pipelines")
    add_config_arguments(
        compile_, (*ALL_SECTIONS, *COMPILE_SECTIONS), leave_out={"run": set(NOT_COMPILED)}
    )
    for name, reason in NOT_COMPILED.items():
        compile_.add_argument(flag_for("run", name), action=NotUsed, reason=reason)
    compile_.set_defaults(handler=_compile)

    submit = commands.add_parser("submit", help="start a run on Kubeflow Pipelines")
    _add_kfp_arguments(submit)
    submit.add_argument("--run-name", help="run name (default: pipeline name and time)")
    submit.set_defaults(handler=_submit)

    schedule = commands.add_parser("schedule", help="create a recurring run on Kubeflow Pipelines")
    _add_kfp_arguments(schedule)
    schedule.add_argument(
        "--cron", required=True, help='six-field cron, seconds first: "0 0 3 * * *" = 03:00 daily'
    )
    schedule.add_argument(
        "--job-name", default=f"{PIPELINE_NAME}-retraining", help="recurring run name"
    )
    schedule.add_argument(
        "--max-concurrency", type=int, default=1, help="runs that may overlap (1-10)"
    )
    schedule.add_argument(
        "--catchup",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="start every missed run after a pause (default: only the latest)",
    )
    schedule.set_defaults(handler=_schedule)

    _add_run_package_parser(commands)
