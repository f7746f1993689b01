"""The report's content: the facts of a run as blocks (render.py), one function per section.

In order: the run's data and training settings; the verdict and each failed bound; the blessing
rule with this run's values; the serving check; the metrics of the eval split (beside the model
in production's); per class; the confusion matrix; the data read and rejected; the drift from
the data of the model in production; the slices; the training; the run history; the run's
artifacts. The verdict, the majority-class baseline and the serving check are worded here once,
for the report and the terminal summary (summary.py).
"""

from __future__ import annotations

import math

from components.core import history
from components.core.evaluation import (
    ACCURACY,
    AUC,
    AUC_CLASS_ID,
    BALANCED_ACCURACY,
    BALANCED_ACCURACY_LIFT,
    EXAMPLE_COUNT,
    F1_SCORE,
    MACRO_F1_SCORE,
    MACRO_PRECISION,
    MACRO_RECALL,
    MAJORITY_MARGIN,
    MAX_ACCURACY_DROP,
    MAX_BALANCED_ACCURACY_DROP,
    MIN_ACCURACY,
    PRECISION,
    RECALL,
    SUPPORT,
)
from components.core.settings import with_flag_names
from components.report.facts import RunFacts
from components.report.plots import CONFUSION_MATRIX, TRAINING_CURVE, confusion_grid
from components.report.render import Block, BulletList, Heading, Image, Paragraph, Table

AUC_METRIC = f"{AUC}/class_{AUC_CLASS_ID}"
HISTORY_ROWS = 20  # the newest runs the report's history shows
# The overall metrics the report lists, in order, with their names for people.
METRIC_NAMES = {
    EXAMPLE_COUNT: "examples",
    ACCURACY: "accuracy",
    BALANCED_ACCURACY: "balanced accuracy",
    BALANCED_ACCURACY_LIFT: "balanced accuracy above the majority-class baseline",
    MACRO_PRECISION: "macro precision",
    MACRO_RECALL: "macro recall",
    MACRO_F1_SCORE: "macro F1",
    AUC_METRIC: "AUC (two classes)",
}


def positive_f1(facts: RunFacts) -> tuple[str, float] | None:
    """(its name, the value) of the F1 of class 1 for a two-class model (GLUE's MRPC and QQP
    metric; class 1 is the positive class, as for the AUC), None otherwise."""
    value = facts.evaluation.per_class.get(AUC_CLASS_ID, {}).get(F1_SCORE)
    if len(facts.labels) != 2 or value is None:
        return None
    return f"F1 of '{facts.label(AUC_CLASS_ID)}'", value


def number(value: float | None, digits: int = 4) -> str:
    """A metric as the report writes it: `digits` decimals, n/a when missing or NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def verdict(facts: RunFacts) -> str:
    if facts.blessed and facts.pushed_to:
        return f"BLESSED and pushed to {facts.pushed_to}"
    if facts.blessed and not facts.infra_blessed:
        return "BLESSED, but the serving check failed: nothing pushed"
    if facts.blessed:
        return "BLESSED, but the Pusher pushed nothing"
    return "NOT BLESSED, nothing pushed"


def serving_check_text(facts: RunFacts) -> str:
    """The serving check in one line: passed with its latency, or the check that failed."""
    check = facts.serving_check
    if check is None:  # TFX's InfraValidator (bertpipe compile --serving-check kubernetes)
        outcome = "passed" if facts.infra_blessed else "FAILED (its log says why)"
        return f"{outcome} in TF Serving (TFX's InfraValidator)"
    if not check.passed:
        return f"FAILED: {check.failure.line}"
    latency = check.latency
    return (
        f"passed in a fresh process ({len(check.signatures)} signatures, {check.canaries}"
        f" canaries): load {latency.load_s:.1f} s, first request"
        f" {latency.first_request_ms:.0f} ms, then {latency.batch_1_ms:.0f} ms at batch 1 and"
        f" {latency.batch_32_ms:.0f} ms at batch 32"
    )


def majority_text(facts: RunFacts) -> str:
    majority = facts.evaluation.majority
    if majority is None:
        return "no majority-class baseline (no labelled eval examples)"
    return (
        f"always '{facts.label(majority.class_id)}' ({majority.share:.1%} of the eval split):"
        f" accuracy {majority.share:.4f}, balanced accuracy {majority.balanced_accuracy:.4f}"
        f" (1 / {majority.classes} classes), macro F1 {majority.macro_f1_score:.4f}"
    )


def sections(facts: RunFacts, plot_names: list[str]) -> list[Block]:
    """The report's blocks, in order (see the module docstring); `plot_names`: the plots there
    are (plots.py)."""
    return [
        *_settings(facts),
        *_verdict(facts),
        *_blessing_rule(facts),
        *_serving_check(facts),
        *_metrics(facts),
        *_per_class(facts),
        *_confusion(facts, plot_names),
        *_data(facts),
        *_drift(facts),
        *_slices(facts),
        *_training(facts, plot_names),
        *_history(facts),
        *_artifacts(facts),
    ]


def _settings(facts: RunFacts) -> list[Block]:
    data = f"`{facts.data_root}`" if facts.data_root else "(data root not recorded)"
    if facts.span:
        data += f", span {facts.span}"
    if facts.pairs:
        data += " (sentence pairs: `text` and `text_pair`)"
    history = facts.training
    if history is None:  # the training settings are the history's
        return [Paragraph(f"Data {data}.")]
    warm_start = f"; warm-started from `{history.warm_start}`" if history.warm_start else ""
    return [
        Paragraph(
            f"Data {data}; checkpoint `{history.checkpoint or 'default'}`;"
            f" {history.train_steps} training steps of {history.batch_size} at sequence length"
            f" {history.max_seq_length}, learning rate {history.learning_rate}{warm_start}."
        )
    ]


def _verdict(facts: RunFacts) -> list[Block]:
    blocks: list[Block] = [Heading("Verdict"), Paragraph(verdict(facts), strong=True)]
    if facts.evaluation.failures:
        blocks.append(BulletList([failure.message for failure in facts.evaluation.failures]))
    return blocks


def _blessing_rule(facts: RunFacts) -> list[Block]:
    blocks: list[Block] = [
        Heading("Blessing rule"),
        BulletList(bound_lines(facts)),
        Paragraph(f"Majority-class baseline: {majority_text(facts)}."),
    ]
    if facts.production:
        blocks.append(
            Paragraph(
                f"Model in production: version {facts.production.get('version')}"
                f" (`{facts.production.get('path')}`)."
            )
        )
    return blocks


def _serving_check(facts: RunFacts) -> list[Block]:
    blocks: list[Block] = [
        Heading("Serving check"),
        Paragraph(f"Serving check: {serving_check_text(facts)}."),
    ]
    check = facts.serving_check
    if check is not None and check.tensorflow_version:
        blocks.append(
            Paragraph(
                f"In a process that imported only tensorflow {check.tensorflow_version} and"
                f" tensorflow-text {check.tensorflow_text_version}, as a model server;"
                f" signatures called: {', '.join(check.signatures) or 'none'}; the process took"
                f" {check.seconds:.1f} s."
            )
        )
    return blocks


def bound_lines(facts: RunFacts) -> list[str]:
    """One line per blessing bound: the rule, this run's values, and whether it held (FAILED
    when the evaluation has a failure of that bound on the whole eval split). The absolute
    bounds judge the lower end of the metric's 95% interval."""
    evaluation, bounds = facts.evaluation, facts.evaluation.bounds
    failed = {failure.bound for failure in evaluation.failures if failure.slice is None}
    metrics = evaluation.metrics

    def status(name: str) -> str:
        return "FAILED" if name in failed else "passed"

    def lower_end(key: str, name: str) -> str:
        interval = evaluation.intervals.get(key)
        value = f"{name} {number(metrics.get(key))}"
        if key == ACCURACY:
            value += f" on {number(metrics.get(EXAMPLE_COUNT), 0)} eval examples"
        if interval is None:  # an evaluation from before the intervals
            return f"{value} (no interval recorded)"
        return f"{value}, 95% interval {interval}: its lower end {interval.low:.4f}"

    lines = []
    if bounds.min_accuracy is not None:
        lines.append(
            f"{MIN_ACCURACY} {bounds.min_accuracy:g}: {lower_end(ACCURACY, 'accuracy')} must be"
            f" at least {bounds.min_accuracy:g}: {status(MIN_ACCURACY)}"
        )
    if bounds.majority_margin is not None:
        majority = evaluation.majority
        base = majority.balanced_accuracy if majority else None
        margin = bounds.majority_margin
        needed = base + margin if base is not None else None
        lines.append(
            f"{MAJORITY_MARGIN} {margin:g}: {lower_end(BALANCED_ACCURACY, 'balanced accuracy')}"
            f" must be at least the majority-class baseline's {number(base)}"
            f" {'-' if margin < 0 else '+'} {abs(margin):g} = {number(needed)}:"
            f" {status(MAJORITY_MARGIN)}"
        )
    drops = (
        (MAX_ACCURACY_DROP, bounds.max_accuracy_drop, ACCURACY, "accuracy"),
        (
            MAX_BALANCED_ACCURACY_DROP,
            bounds.max_balanced_accuracy_drop,
            BALANCED_ACCURACY,
            "balanced accuracy",
        ),
    )
    for bound, drop, key, name in drops:
        if not facts.production:
            lines.append(f"{bound}: no model in production to compare with")
        elif drop is not None:
            production = evaluation.baseline_metrics.get(key)
            lines.append(
                f"{bound} {drop:g}: {name} {number(metrics.get(key))} may be at most {drop:g}"
                f" below production's {number(production)}: {status(bound)}"
            )
    return lines


def _metrics(facts: RunFacts) -> list[Block]:
    metrics, baseline = facts.evaluation.metrics, facts.evaluation.baseline_metrics
    header = ["metric", "this model"] + (["model in production"] if baseline else [])
    rows = []
    for key, name in METRIC_NAMES.items():
        if key in metrics:
            digits = 0 if key == EXAMPLE_COUNT else 4
            row = [name, number(metrics[key], digits)]
            if baseline:
                row.append(number(baseline.get(key), digits))
            rows.append(row)
        if key in facts.evaluation.intervals:
            rows.append([f"{name}, 95% interval", str(facts.evaluation.intervals[key])])
            rows[-1] += [""] if baseline else []
        if key == ACCURACY and positive_f1(facts):
            f1_name, value = positive_f1(facts)
            rows.append([f1_name, number(value)] + (["n/a"] if baseline else []))
    return [Heading("Metrics (eval split)"), Table(header, rows)]


def _per_class(facts: RunFacts) -> list[Block]:
    per_class = facts.evaluation.per_class
    rows = []
    for class_id in sorted(set(range(len(facts.labels))) | set(per_class)):
        values = per_class.get(class_id, {})
        support = values.get(SUPPORT, 0.0)
        predicted = sum(n for _, p, n in facts.evaluation.confusion if p == class_id)
        rows.append(
            [
                facts.label(class_id),
                number(values.get(PRECISION, 0.0)) + ("" if predicted else " (never predicted)"),
                number(values.get(RECALL, 0.0)) + ("" if support else " (no examples)"),
                number(values.get(F1_SCORE, 0.0)),
                f"{support:.0f}",
                f"{predicted:.0f}",
            ]
        )
    metrics = facts.evaluation.metrics
    total = sum(values.get(SUPPORT, 0.0) for values in per_class.values())
    rows.append(
        [
            "macro average",
            number(metrics.get(MACRO_PRECISION)),
            number(metrics.get(MACRO_RECALL)),
            number(metrics.get(MACRO_F1_SCORE)),
            f"{total:.0f}",
            "",
        ]
    )
    return [
        Heading("Per class (top-1 prediction)"),
        Paragraph(
            "Each example counts for the class the model rates most probable. Precision is 0 for a"
            " class the model never answered, recall 0 for a class with no eval examples."
        ),
        Table(["class", "precision", "recall", "F1", "support", "predicted"], rows),
    ]


def _confusion(facts: RunFacts, plot_names: list[str]) -> list[Block]:
    ids, grid = confusion_grid(facts)
    names = [facts.label(c) for c in ids]
    blocks: list[Block] = [
        Heading("Confusion matrix (eval split; rows: actual, columns: predicted)"),
        Table(
            ["actual \\ predicted", *names],
            [[names[i], *(f"{n:.0f}" for n in grid[i])] for i in range(len(ids))],
        ),
    ]
    if CONFUSION_MATRIX in plot_names:
        blocks.append(Image(CONFUSION_MATRIX))
    return blocks


def _data(facts: RunFacts) -> list[Block]:
    rows = [
        [
            split,
            str(c.get("files", "?")),
            str(c.get("rows_read", "?")),
            str(c.get("rows_accepted", "?")),
            str(c.get("rows_rejected", "?")),
            ", ".join(f"{r}: {n}" for r, n in c.get("rejected_by_reason", {}).items()) or "-",
        ]
        for split, c in sorted(facts.data_counts.items())
    ]
    blocks: list[Block] = [
        Heading("Data"),
        Table(["split", "files", "rows read", "accepted", "rejected", "rejected by reason"], rows),
    ]
    if facts.truncation_share is not None:
        # The sequence length is a training setting: the history's.
        longer = f" (longer than {facts.training.max_seq_length} tokens)" if facts.training else ""
        blocks.append(Paragraph(f"Truncated examples{longer}: {facts.truncation_share:.1%}."))
    return blocks


def _drift(facts: RunFacts) -> list[Block]:
    """The drift check: what was compared with what, then per split and check both
    distributions side by side (the tables of the drift step's own drift.md)."""
    drift = facts.drift
    if drift is None:
        return []
    blocks: list[Block] = [Heading("Drift from the data of the model in production")]
    blocks.append(Paragraph(with_flag_names(drift.headline())))
    for feature in drift.features:
        header, rows = feature.table()
        prefix = "DRIFTED: " if feature.drifted else ""
        blocks += [Paragraph(prefix + with_flag_names(feature.describe())), Table(header, rows)]
    return blocks


def _slices(facts: RunFacts) -> list[Block]:
    if not facts.evaluation.slices:
        return []
    rows = [
        [
            name,
            number(values.get(EXAMPLE_COUNT), 0),
            number(values.get(ACCURACY)),
            number(values.get(BALANCED_ACCURACY)),
        ]
        for name, values in facts.evaluation.slices
    ]
    return [
        Heading("Slices"),
        Table(["slice", "examples", "accuracy", "balanced accuracy"], rows),
    ]


def _training(facts: RunFacts, plot_names: list[str]) -> list[Block]:
    blocks: list[Block] = [Heading("Training")]
    history = facts.training
    if history is None:
        blocks.append(Paragraph("The Trainer recorded no training history."))
    else:
        evaluation = history.evaluation
        blocks.append(
            Paragraph(
                f"{history.strategy}, {history.precision}, {history.train_seconds} s of training."
                f" The Trainer's own evaluation: loss {number(evaluation.loss)}, accuracy"
                f" {number(evaluation.accuracy)} on {evaluation.examples} examples."
            )
        )
        if history.resumed_at:
            blocks.append(Paragraph(f"Resumed after steps {history.resumed_at} (restarts)."))
    if TRAINING_CURVE in plot_names:
        blocks.append(Image(TRAINING_CURVE))
    return blocks


def _history(facts: RunFacts) -> list[Block]:
    """The runs of this run's push destination, newest first (components/core/history.py)."""
    if facts.run is None:  # a report.json written before the run history existed
        return []
    shown = sorted(facts.history, key=lambda e: (e.time, e.run_id), reverse=True)[:HISTORY_ROWS]
    more = (
        f" ({len(shown)} newest of {len(facts.history)})" if len(facts.history) > len(shown) else ""
    )
    return [
        Heading("Run history"),
        Paragraph(
            f"The runs whose Report step wrote to the same push destination, newest first{more}."
            " A run that stopped before its Report step wrote no entry: `bertpipe history"
            " --output <run folder>` lists every run of a local run folder, from its MLMD store."
        ),
        *([BulletList(facts.history_notes)] if facts.history_notes else []),
        Table(history.HEADER, history.rows(shown, current=facts.run)),
    ]


def _artifacts(facts: RunFacts) -> list[Block]:
    if not facts.artifacts:
        return []
    return [
        Heading("Artifacts of this run"),
        Paragraph(
            "`bertpipe explain --evaluation <evaluation>` says why the model was blessed or"
            " not from the evaluation alone."
        ),
        Table(
            ["artifact", "URI"],
            [[name, f"`{uri}`"] for name, uri in sorted(facts.artifacts.items())],
        ),
    ]
