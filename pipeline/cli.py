"""`bertpipe`: the one entry point of the product.

bertpipe run            the whole pipeline locally (LocalDagRunner or BeamDagRunner)
bertpipe compile        compile it for Kubeflow Pipelines (KubeflowV2DagRunner) into build/
bertpipe submit         start one run of the compiled pipeline on Kubeflow Pipelines
bertpipe schedule       create a recurring run (production retraining) on Kubeflow Pipelines
bertpipe run-package    run a compiled package on this machine with kfp.local (a smoke test)
bertpipe explain        say why a run's Evaluator blessed the model or not
bertpipe history        list the runs of a run folder (or push destination), newest first
bertpipe infer-schema   propose a curated schema for a new dataset
bertpipe predict        classify texts, or score a dataset in batch, with an exported model

Every command takes --debug (a user error's traceback too) and --verbose (every library's log).
A user's mistake (components/core/errors.py: UserError) is one line on stderr,
`bertpipe <command>: <message>`, with the error's exit status: 2, or 1 where the user's work ran and
failed (`run-package`: a task failed); any other exception is a bug and keeps its traceback (exit
status 1).
"""

from __future__ import annotations

import argparse
import sys
import time

from components.core.config import PIPELINE_NAME, RunConfig
from components.core.errors import UserError
from components.core.settings import flag_for
from pipeline import console
from pipeline.flags import add_config_arguments, compile_config_from_args, config_from_args
from pipeline.kubeflow.settings import COMPILE_SECTIONS, DEFAULT_PACKAGE

ALL_SECTIONS = ("data", "model", "train", "eval", "drift", "run")
# Run settings that `bertpipe compile` does not use, and what to say instead of accepting them.
NOT_COMPILED = {
    "output": "the package goes to --package",
    "runner": "Kubeflow Pipelines orchestrates the compiled package",
    "beam_workers": "pass Beam options to the steps with --beam-arg",
}


# Data settings that batch scoring (`bertpipe predict --data`) does not use: it scores every row of
# every split, reports rejected rows without failing, and validates no schema.
NOT_SCORED = {"eval_percent", "max_rejected_fraction", "schema"}


def _run(args: argparse.Namespace) -> int:
    from pipeline import preflight
    from pipeline.run_lock import check_free

    config = config_from_args(args)
    check_free(config.run.output)  # before the slow imports below
    preflight.check_run(config)  # before any component runs and the run folder is created
    from pipeline.local_runner import run_pipeline

    run = run_pipeline(config, verbose=args.verbose)
    report = run.report()
    print(report.summary)
    print(f"report: {report.html_path}")
    return 0


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


def _explain(args: argparse.Namespace) -> int:
    from components.core.evaluation import (
        ACCURACY,
        BALANCED_ACCURACY,
        EXAMPLE_COUNT,
        load_evaluation,
        with_interval,
    )

    evaluation = load_evaluation(args.evaluation)
    majority = evaluation.majority
    if evaluation.passed:
        print(f"BLESSED: every bound passed ({args.evaluation})")
    else:
        print(f"NOT BLESSED ({args.evaluation}):")
        print("\n".join(f"  - {failure.message}" for failure in evaluation.failures))
    print(
        f"eval split ({evaluation.metrics.get(EXAMPLE_COUNT, float('nan')):.0f} examples):"
        f" accuracy {with_interval(evaluation, ACCURACY)}, balanced accuracy"
        f" {with_interval(evaluation, BALANCED_ACCURACY)}"
    )
    if majority is not None:
        print(
            f"majority-class baseline: always class {majority.class_id} ({majority.share:.1%} of"
            f" the eval split), balanced accuracy {majority.balanced_accuracy:.4f}"
        )
    return 0 if evaluation.passed else 1


def _history(args: argparse.Namespace) -> int:
    from components.core import history

    if args.push_dir:
        entries, problems = history.read_entries(args.push_dir)
        source = f"the run history in {history.history_dir(args.push_dir)}"
    else:
        from pipeline.history import local_history

        entries, problems = local_history(args.output), []
        source = f"the MLMD store of {args.output}"
    if not entries:
        print(f"no runs in {source}")
    else:
        print(f"{len(entries)} run(s) in {source}, newest first:")
        print(history.text_table(history.HEADER, history.rows(entries)))
    for problem in problems:
        print(f"note: {problem}", file=sys.stderr)
    return 0


def _infer_schema(args: argparse.Namespace) -> int:
    from components.schema import infer_schema
    from components.text_example_gen import read_accepted_rows

    config = config_from_args(args)
    rows = read_accepted_rows(config.data)
    text = infer_schema(
        rows.texts, rows.labels, rows.rejected, config.data.data, text_pairs=rows.text_pairs
    )
    if args.out:
        from pathlib import Path

        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"Wrote the proposed schema to {args.out}; review it, then commit it to schemas/.")
    else:
        sys.stdout.write(text)
    return 0


class PredictInputError(UserError, ValueError):
    """`bertpipe predict` was given no text, an empty one, or texts of the wrong kind (single
    texts for a pair model, pairs for a single-text model)."""


def _predict_inputs(args: argparse.Namespace) -> tuple[list[str], list[str] | None]:
    """(texts, second texts or None) from the arguments, checked against the model's kind."""
    from components.core.serving import is_pair_model

    if args.pair and args.texts:
        raise PredictInputError("give texts or --pair TEXT TEXT_PAIR, not both")
    if args.pair:
        texts, text_pairs = [a for a, _ in args.pair], [b for _, b in args.pair]
    else:
        texts, text_pairs = args.texts or [line.rstrip("\n") for line in sys.stdin], None
    if not texts:
        raise PredictInputError("no text given: pass texts as arguments or one per line on stdin")
    named = (
        [("text", texts)]
        if text_pairs is None
        else [
            ("the first text of pair", texts),
            ("the second text of pair", text_pairs),
        ]
    )
    for what, values in named:
        empty = [str(i + 1) for i, text in enumerate(values) if not text.strip()]
        if empty:
            raise PredictInputError(
                f"{what} {', '.join(empty)} of {len(texts)} is empty: expected a sentence to"
                " classify (training rejects empty texts too)"
            )
    pair_model = is_pair_model(args.model)
    if text_pairs is not None and not pair_model:
        raise PredictInputError(
            f"the model at {args.model} classifies single texts: give texts, not --pair"
        )
    if pair_model and text_pairs is None:
        raise PredictInputError(
            f"the model at {args.model} classifies pairs of texts: give each pair as"
            ' --pair TEXT TEXT_PAIR (repeatable), e.g. --pair "a question" "another question"'
        )
    return texts, text_pairs


def _predict(args: argparse.Namespace) -> int:
    if getattr(args, "data.data") is not None or args.output is not None:
        return _score_data(args)
    from components.core.serving import predict, truncated_texts

    texts, text_pairs = _predict_inputs(args)
    predictions = predict(args.model, texts, text_pairs=text_pairs)
    for i, (label, probability) in enumerate(predictions):
        shown = texts[i] if text_pairs is None else f"{texts[i]}\t{text_pairs[i]}"
        print(f"{label}\t{probability:.4f}\t{shown}")
    length, cut = truncated_texts(args.model, texts, text_pairs)
    if cut:
        what = "text" if text_pairs is None else "pair"
        print(
            f"note: {what} {', '.join(str(i + 1) for i in cut)} of {len(texts)} was cut to the"
            f" model's {length} tokens (max_seq_length, [CLS] and [SEP] included); the rest was"
            " not read",
            file=sys.stderr,
        )
    return 0


def _score_data(args: argparse.Namespace) -> int:
    """`bertpipe predict --data PATH --output OUT`: batch scoring (pipeline/batch_scoring.py)."""
    if getattr(args, "data.data") is None or args.output is None or args.texts or args.pair:
        raise PredictInputError(
            "batch scoring takes --data and --output, and no texts: --data PATH --output OUT.jsonl"
            " (texts as arguments or on stdin are classified without them)"
        )
    from components.core.serving import is_pair_model, load_classifier
    from pipeline.batch_scoring import score_data

    config = config_from_args(args)
    load_classifier(args.model)  # a folder with no model: one line
    if is_pair_model(args.model) != config.data.pairs:
        raise PredictInputError(
            f"the model at {args.model} classifies pairs of texts: name the second text's column"
            " with --text-pair-column"
            if config.data.pairs is False
            else f"the model at {args.model} classifies single texts: leave out --text-pair-column"
        )
    summary = score_data(config, args.model, args.output)
    print(summary.text())
    return 0


def _global_flags(parser: argparse.ArgumentParser, default) -> None:
    """--debug and --verbose, before the command (`default` False) or after it (`default`
    SUPPRESS, so that a command's parser does not reset what was given before it)."""
    parser.add_argument(
        "--debug",
        action="store_true",
        default=default,
        help="show the traceback of a user error too (it is one line without)",
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        default=default,
        help="show every log line of TensorFlow, TFX, Beam and transformers (and kfp.local)",
    )


class _Commands:
    """Adds subcommands that all take the global flags."""

    def __init__(self, parser: argparse.ArgumentParser):
        self._commands = parser.add_subparsers(dest="command", required=True)
        self._common = argparse.ArgumentParser(add_help=False)
        _global_flags(self._common, argparse.SUPPRESS)

    def add_parser(self, name: str, **kwargs) -> argparse.ArgumentParser:
        return self._commands.add_parser(name, parents=[self._common], **kwargs)


class _NotUsed(argparse.Action):
    """A flag that a command rejects with the reason it does not use it."""

    def __init__(self, option_strings, dest, reason: str, **kwargs):
        self.reason = reason
        super().__init__(option_strings, dest, nargs="?", help=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        parser.error(f"{option_string} is not used by {parser.prog.split()[-1]}: {self.reason}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bertpipe", description=__doc__.split("\n\n")[0])
    _global_flags(parser, False)
    commands = _Commands(parser)

    run = commands.add_parser("run", help="run the whole pipeline locally")
    add_config_arguments(run, ALL_SECTIONS)
    run.set_defaults(handler=_run)

    compile_ = commands.add_parser("compile", help="compile the pipeline for Kubeflow Pipelines")
    add_config_arguments(
        compile_, (*ALL_SECTIONS, *COMPILE_SECTIONS), leave_out={"run": set(NOT_COMPILED)}
    )
    for name, reason in NOT_COMPILED.items():
        compile_.add_argument(flag_for("run", name), action=_NotUsed, reason=reason)
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

    explain = commands.add_parser(
        "explain", help="say why the Evaluator blessed a model or not (any run, Kubeflow too)"
    )
    explain.add_argument(
        "--evaluation", required=True, help="the Evaluator's `evaluation` output (folder or gs://)"
    )
    explain.set_defaults(handler=_explain)

    history = commands.add_parser(
        "history", help="list the runs of a run folder, newest first, with their verdicts"
    )
    where = history.add_mutually_exclusive_group()
    where.add_argument(
        "--output",
        default=RunConfig().output,
        help="run folder (its MLMD store: every run, those that stopped early too; default:"
        " %(default)s)",
    )
    where.add_argument(
        "--push-dir",
        help="instead, the run history that the Report steps keep in this push destination"
        " (Kubeflow: gs://...; the runs that reached their Report step)",
    )
    history.set_defaults(handler=_history)

    infer = commands.add_parser("infer-schema", help="propose a schema for a dataset")
    add_config_arguments(infer, ("data",))
    infer.add_argument("--out", help="write the schema here (default: print it)")
    infer.set_defaults(handler=_infer_schema)

    predict = commands.add_parser(
        "predict", help="classify texts, or score a dataset (--data, --output), with a model"
    )
    predict.add_argument("--model", required=True, help="exported SavedModel folder")
    predict.add_argument(
        "texts", nargs="*", help="texts to classify (default: one per line on stdin)"
    )
    predict.add_argument(
        "--pair",
        nargs=2,
        action="append",
        metavar=("TEXT", "TEXT_PAIR"),
        help="a pair of texts for a model trained on pairs (--text-pair-column); repeatable",
    )
    predict.add_argument(
        "--output",
        help="with --data: score every row of the data into this file, one JSON line per row"
        " (CSV when it ends in .csv); rejected rows go beside it (<name>.rejected.jsonl)",
    )
    add_config_arguments(predict, ("data",), leave_out={"data": NOT_SCORED})
    predict.set_defaults(handler=_predict)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Runs one command; returns its exit status (a user error's own, see the module docstring).
    As the `bertpipe` program (no `argv`) it ends the process itself once the command has
    returned (console.leave: no teardown of the libraries' modules)."""
    args = build_parser().parse_args(argv)
    console.configure(verbose=args.verbose)  # before a command imports TensorFlow
    try:
        status = args.handler(args)
    except Exception as error:
        mistake = console.user_error(error)
        if mistake is None:
            raise  # a bug: its traceback
        console.report_user_error(args.command, error, args.debug)
        status = mistake.exit_status
    if argv is None:
        console.leave(status)
    return status


if __name__ == "__main__":
    sys.exit(main())
