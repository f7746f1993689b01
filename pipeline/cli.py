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

from components.core.config import RunConfig
from pipeline import console, predict_command
from pipeline.command_line import ALL_SECTIONS, Commands, global_flags
from pipeline.flags import add_config_arguments, config_from_args
from pipeline.kubeflow import commands as kubeflow_commands

__all__ = ["ALL_SECTIONS", "build_parser", "main"]


def _run(args: argparse.Namespace) -> int:
    from pipeline import preflight
    from pipeline.run_lock import check_free

    config = config_from_args(args)
    check_free(config.run.output)  # before the slow imports below
    preflight.check_run(config)  # before any component runs and the run folder is created
    from pipeline.local_runner import run_pipeline

    console.imports_done()
    run = run_pipeline(config, verbose=args.verbose)
    report = run.report()
    print(report.summary)
    print(f"report: {report.html_path}")
    return 0


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bertpipe", description=__doc__.split("\n\n")[0])
    global_flags(parser, False)
    commands = Commands(parser)

    run = commands.add_parser("run", help="run the whole pipeline locally")
    add_config_arguments(run, ALL_SECTIONS)
    run.set_defaults(handler=_run)

    kubeflow_commands.add_commands(commands)

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

    predict_command.add_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Runs one command; returns its exit status (a user error's own, see the module docstring).
    As the `bertpipe` program (no `argv`) it ends the process itself once the command has
    returned (console.leave: no teardown of the libraries' modules)."""
    args = build_parser().parse_args(argv)
    console.configure(verbose=args.verbose, program=argv is None)  # before TensorFlow loads
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
