"""`bertpipe`: the one entry point of the product.

bertpipe run            the whole pipeline locally (LocalDagRunner or BeamDagRunner)
bertpipe infer-schema   propose a curated schema for a new dataset
bertpipe predict        classify texts with an exported model
"""

from __future__ import annotations

import argparse
import sys
import warnings

import pipeline  # noqa: F401  (environment for TensorFlow)
from pipeline.configs import add_config_arguments, config_from_args

ALL_SECTIONS = ("data", "model", "train", "eval", "run")


def _run(args: argparse.Namespace) -> int:
    from pipeline.local_runner import run_pipeline
    from pipeline.report import write_report

    config = config_from_args(args)
    paths = run_pipeline(config)
    report = write_report(config, paths)
    print(report.summary())
    return 0


def _infer_schema(args: argparse.Namespace) -> int:
    from components.schema import infer_schema

    config = config_from_args(args)
    text = infer_schema(config.data)
    if args.out:
        from pathlib import Path

        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"Wrote the proposed schema to {args.out}; review it, then commit it to schemas/.")
    else:
        sys.stdout.write(text)
    return 0


def _predict(args: argparse.Namespace) -> int:
    from components.export import predict

    texts = args.texts or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not texts:
        raise SystemExit("bertpipe predict: no text given (pass texts as arguments or on stdin)")
    for text, (label, probability) in zip(texts, predict(args.model, texts), strict=True):
        print(f"{label}\t{probability:.4f}\t{text}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bertpipe", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the whole pipeline locally")
    add_config_arguments(run, ALL_SECTIONS)
    run.set_defaults(handler=_run)

    infer = commands.add_parser("infer-schema", help="propose a schema for a dataset")
    add_config_arguments(infer, ("data",))
    infer.add_argument("--out", help="write the schema here (default: print it)")
    infer.set_defaults(handler=_infer_schema)

    predict = commands.add_parser("predict", help="classify texts with an exported model")
    predict.add_argument("--model", required=True, help="exported SavedModel folder")
    predict.add_argument(
        "texts", nargs="*", help="texts to classify (default: one per line on stdin)"
    )
    predict.set_defaults(handler=_predict)
    return parser


def main(argv: list[str] | None = None) -> int:
    # google-api-core warns about Python 3.11 support on import; it says nothing about this run.
    warnings.filterwarnings("ignore", category=FutureWarning)
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
