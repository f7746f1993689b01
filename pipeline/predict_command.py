"""`bertpipe predict`: texts (or pairs of texts) classified with an exported model, or a whole
dataset scored in batch (--data, --output; pipeline/batch_scoring.py). `add_command` adds it to
the command line that pipeline/cli.py builds."""

from __future__ import annotations

import argparse
import sys

from components.core.errors import UserError
from pipeline.command_line import Commands
from pipeline.flags import add_config_arguments, config_from_args

# Data settings that batch scoring (`bertpipe predict --data`) does not use: it scores every row of
# every split, reports rejected rows without failing, and validates no schema.
NOT_SCORED = {"eval_percent", "max_rejected_fraction", "schema"}


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


def add_command(commands: Commands) -> None:
    """Adds predict."""
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
