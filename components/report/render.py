"""The report's content, and its three renderings: Markdown, self-contained HTML, terminal summary.

`sections` turns the facts of a run into a list of blocks (headings, paragraphs, tables, lists,
plots); `markdown` and `html` render the same blocks, so the two files never disagree. The plots
are PNG images (`plots`): files beside report.md, data URIs inside report.html.
"""

from __future__ import annotations

import base64
import html as html_lib
import io
import math
from dataclasses import dataclass, field

import numpy as np
from matplotlib.figure import Figure

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
    MIN_ACCURACY,
    PRECISION,
    RECALL,
    SUPPORT,
)
from components.report.facts import RunFacts

TITLE = "bertpipe run report"
TRAINING_CURVE = "training_curve.png"
CONFUSION_MATRIX = "confusion_matrix.png"
AUC_METRIC = f"{AUC}/class_{AUC_CLASS_ID}"
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


@dataclass
class Block:
    kind: str  # "h2", "p", "table", "list", "image"
    text: str = ""
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    items: list[str] = field(default_factory=list)
    strong: bool = False


def _f(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def verdict(facts: RunFacts) -> str:
    if facts.blessed and facts.pushed_to:
        return f"BLESSED and pushed to {facts.pushed_to}"
    if facts.blessed:
        return "BLESSED, but the Pusher pushed nothing"
    return "NOT BLESSED, nothing pushed"


def majority_text(facts: RunFacts) -> str:
    majority = facts.evaluation.majority
    if majority is None:
        return "no majority-class baseline (no labelled eval examples)"
    return (
        f"always '{facts.label(majority.class_id)}' ({majority.share:.1%} of the eval split):"
        f" accuracy {majority.share:.4f}, balanced accuracy {majority.balanced_accuracy:.4f}"
        f" (1 / {majority.classes} classes), macro F1 {majority.macro_f1_score:.4f}"
    )


def _bound_lines(facts: RunFacts) -> list[str]:
    """One line per blessing bound: the rule, this run's values, and whether it held."""
    evaluation, bounds = facts.evaluation, facts.evaluation.bounds
    failed = {line.split(":", 1)[0] for line in evaluation.failures}
    metrics = evaluation.metrics

    def status(name: str) -> str:
        return "FAILED" if name in failed else "passed"

    lines = []
    if bounds.min_accuracy is not None:
        lines.append(
            f"{MIN_ACCURACY} {bounds.min_accuracy:g}: accuracy {_f(metrics.get(ACCURACY))}"
            f" must be at least {bounds.min_accuracy:g}: {status(MIN_ACCURACY)}"
        )
    if bounds.majority_margin is not None:
        majority = evaluation.majority
        base = majority.balanced_accuracy if majority else None
        margin = bounds.majority_margin
        needed = base + margin if base is not None else None
        lines.append(
            f"{MAJORITY_MARGIN} {margin:g}: balanced accuracy"
            f" {_f(metrics.get(BALANCED_ACCURACY))} must be at least the majority-class"
            f" baseline's {_f(base)} {'-' if margin < 0 else '+'} {abs(margin):g} ="
            f" {_f(needed)}: {status(MAJORITY_MARGIN)}"
        )
    if facts.production and bounds.max_accuracy_drop is not None:
        production = evaluation.baseline_metrics.get(ACCURACY)
        lines.append(
            f"{MAX_ACCURACY_DROP} {bounds.max_accuracy_drop:g}: accuracy"
            f" {_f(metrics.get(ACCURACY))} may be at most {bounds.max_accuracy_drop:g} below"
            f" production's {_f(production)}: {status(MAX_ACCURACY_DROP)}"
        )
    elif not facts.production:
        lines.append(f"{MAX_ACCURACY_DROP}: no model in production to compare with")
    return lines


def sections(facts: RunFacts, plot_names: list[str]) -> list[Block]:
    """The report's blocks, in order (see the module docstring)."""
    config = facts.training.get("config", {})
    model, train = config.get("model", {}), config.get("train", {})
    data = f"`{facts.data_root}`" if facts.data_root else "(data root not recorded)"
    if facts.span:
        data += f", span {facts.span}"
    blocks = [
        Block(
            "p",
            f"Data {data}; checkpoint `{model.get('checkpoint') or 'default'}`;"
            f" {facts.training.get('train_steps', '?')} training steps of"
            f" {facts.training.get('batch_size', '?')} at sequence length"
            f" {model.get('max_seq_length', '?')}, learning rate {train.get('learning_rate', '?')}"
            + (
                f"; warm-started from `{facts.training['warm_start']}`"
                if facts.training.get("warm_start")
                else ""
            )
            + ".",
        ),
        Block("h2", "Verdict"),
        Block("p", verdict(facts), strong=True),
    ]
    if facts.evaluation.failures:
        blocks.append(Block("list", items=list(facts.evaluation.failures)))

    blocks += [
        Block("h2", "Blessing rule"),
        Block("list", items=_bound_lines(facts)),
        Block("p", f"Majority-class baseline: {majority_text(facts)}."),
    ]
    if facts.production:
        blocks.append(
            Block(
                "p",
                f"Model in production: version {facts.production.get('version')}"
                f" (`{facts.production.get('path')}`).",
            )
        )

    blocks += [Block("h2", "Metrics (eval split)")]
    metrics, baseline = facts.evaluation.metrics, facts.evaluation.baseline_metrics
    header = ["metric", "this model"] + (["model in production"] if baseline else [])
    rows = []
    for key, name in METRIC_NAMES.items():
        if key in metrics:
            digits = 0 if key == EXAMPLE_COUNT else 4
            row = [name, _f(metrics[key], digits)]
            if baseline:
                row.append(_f(baseline.get(key), digits))
            rows.append(row)
    blocks.append(Block("table", header=header, rows=rows))

    blocks += [
        Block("h2", "Per class (top-1 prediction)"),
        Block(
            "p",
            "Each example counts for the class the model rates most probable. Precision is 0 for a"
            " class the model never answered, recall 0 for a class with no eval examples.",
        ),
        Block(
            "table",
            header=["class", "precision", "recall", "F1", "support", "predicted"],
            rows=_class_rows(facts),
        ),
    ]

    blocks += [Block("h2", "Confusion matrix (eval split; rows: actual, columns: predicted)")]
    blocks.append(_confusion_table(facts))
    if CONFUSION_MATRIX in plot_names:
        blocks.append(Block("image", text=CONFUSION_MATRIX))

    blocks += [Block("h2", "Data")]
    blocks.append(
        Block(
            "table",
            header=["split", "files", "rows read", "accepted", "rejected", "rejected by reason"],
            rows=[
                [
                    split,
                    str(c.get("files", "?")),
                    str(c.get("rows_read", "?")),
                    str(c.get("rows_accepted", "?")),
                    str(c.get("rows_rejected", "?")),
                    ", ".join(f"{r}: {n}" for r, n in c.get("rejected_by_reason", {}).items())
                    or "-",
                ]
                for split, c in sorted(facts.data_counts.items())
            ],
        )
    )
    if facts.truncation_share is not None:
        blocks.append(
            Block(
                "p",
                f"Truncated examples (longer than {model.get('max_seq_length', '?')} tokens):"
                f" {facts.truncation_share:.1%}.",
            )
        )

    if facts.evaluation.slices:
        blocks += [
            Block("h2", "Slices"),
            Block(
                "table",
                header=["slice", "examples", "accuracy", "balanced accuracy"],
                rows=[
                    [
                        name,
                        _f(values.get(EXAMPLE_COUNT), 0),
                        _f(values.get(ACCURACY)),
                        _f(values.get(BALANCED_ACCURACY)),
                    ]
                    for name, values in facts.evaluation.slices
                ],
            ),
        ]

    blocks += [Block("h2", "Training")]
    evaluation = facts.training.get("eval", {})
    if facts.training:
        blocks.append(
            Block(
                "p",
                f"{facts.training.get('strategy', '?')}, {facts.training.get('precision', '?')},"
                f" {facts.training.get('train_seconds', '?')} s of training."
                f" The Trainer's own evaluation: loss {_f(evaluation.get('loss'))}, accuracy"
                f" {_f(evaluation.get('accuracy'))} on {evaluation.get('examples', '?')} examples.",
            )
        )
        if facts.training.get("resumed_at"):
            blocks.append(
                Block("p", f"Resumed after steps {facts.training['resumed_at']} (restarts).")
            )
    else:
        blocks.append(Block("p", "The Trainer recorded no training history."))
    if TRAINING_CURVE in plot_names:
        blocks.append(Block("image", text=TRAINING_CURVE))

    if facts.artifacts:
        blocks += [
            Block("h2", "Artifacts of this run"),
            Block(
                "p",
                "`bertpipe explain --evaluation <evaluation>` says why the model was blessed or"
                " not from the evaluation alone.",
            ),
            Block(
                "table",
                header=["artifact", "URI"],
                rows=[[name, f"`{uri}`"] for name, uri in sorted(facts.artifacts.items())],
            ),
        ]
    return blocks


def _class_rows(facts: RunFacts) -> list[list[str]]:
    per_class = facts.evaluation.per_class
    rows = []
    for class_id in sorted(set(range(len(facts.labels))) | set(per_class)):
        values = per_class.get(class_id, {})
        support = values.get(SUPPORT, 0.0)
        predicted = sum(n for _, p, n in facts.evaluation.confusion if p == class_id)
        rows.append(
            [
                facts.label(class_id),
                _f(values.get(PRECISION, 0.0)) + ("" if predicted else " (never predicted)"),
                _f(values.get(RECALL, 0.0)) + ("" if support else " (no examples)"),
                _f(values.get(F1_SCORE, 0.0)),
                f"{support:.0f}",
                f"{predicted:.0f}",
            ]
        )
    metrics = facts.evaluation.metrics
    total = sum(values.get(SUPPORT, 0.0) for values in per_class.values())
    rows.append(
        [
            "macro average",
            _f(metrics.get(MACRO_PRECISION)),
            _f(metrics.get(MACRO_RECALL)),
            _f(metrics.get(MACRO_F1_SCORE)),
            f"{total:.0f}",
            "",
        ]
    )
    return rows


def _confusion_grid(facts: RunFacts) -> tuple[list[int], np.ndarray]:
    ids = sorted(
        set(range(len(facts.labels)))
        | {a for a, _, _ in facts.evaluation.confusion}
        | {p for _, p, _ in facts.evaluation.confusion}
    )
    index = {c: i for i, c in enumerate(ids)}
    grid = np.zeros((len(ids), len(ids)))
    for actual, predicted, count in facts.evaluation.confusion:
        grid[index[actual], index[predicted]] += count
    return ids, grid


def _confusion_table(facts: RunFacts) -> Block:
    ids, grid = _confusion_grid(facts)
    names = [facts.label(c) for c in ids]
    return Block(
        "table",
        header=["actual \\ predicted", *names],
        rows=[[names[i], *(f"{n:.0f}" for n in grid[i])] for i in range(len(ids))],
    )


# -- plots -------------------------------------------------------------------------------------------
def _png(figure: Figure) -> bytes:
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def plots(facts: RunFacts) -> dict[str, bytes]:
    """The report's PNG plots by file name: the training curve and the confusion matrix."""
    images = {}
    steps = facts.training.get("steps", [])
    if steps:
        figure = Figure(figsize=(6, 3.5))
        ax = figure.subplots()
        ax.plot([s["step"] for s in steps], [s["loss"] for s in steps], label="training loss")
        if "accuracy" in steps[0]:
            ax.plot(
                [s["step"] for s in steps],
                [s["accuracy"] for s in steps],
                label="training accuracy",
            )
        ax.set_xlabel("step")
        ax.legend()
        ax.set_title("Training curve")
        images[TRAINING_CURVE] = _png(figure)
    if facts.evaluation.confusion:
        ids, grid = _confusion_grid(facts)
        names = [facts.label(c) for c in ids]
        size = 2.5 + 0.6 * len(ids)
        figure = Figure(figsize=(size, size))
        ax = figure.subplots()
        ax.imshow(grid, cmap="Blues")
        for i in range(len(ids)):
            for j in range(len(ids)):
                dark = grid[i, j] > grid.max() / 2
                ax.text(
                    j, i, f"{grid[i, j]:.0f}", ha="center", va="center",
                    color="white" if dark else "black",
                )  # fmt: skip
        ax.set_xticks(range(len(ids)), names, rotation=45, ha="right")
        ax.set_yticks(range(len(ids)), names)
        ax.set_xlabel("predicted")
        ax.set_ylabel("actual")
        ax.set_title("Confusion matrix (eval)")
        images[CONFUSION_MATRIX] = _png(figure)
    return images


# -- renderings --------------------------------------------------------------------------------------
def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(facts: RunFacts, plot_names: list[str]) -> str:
    """report.md: the blocks as Markdown; plots are the PNG files beside it."""
    out = [f"# {TITLE}", ""]
    for block in sections(facts, plot_names):
        if block.kind == "h2":
            out += [f"## {block.text}", ""]
        elif block.kind == "p":
            out += [f"**{block.text}**" if block.strong else block.text, ""]
        elif block.kind == "list":
            out += [f"- {item}" for item in block.items] + [""]
        elif block.kind == "table":
            out.append("| " + " | ".join(map(_md_cell, block.header)) + " |")
            out.append("|" + "---|" * len(block.header))
            out += ["| " + " | ".join(map(_md_cell, row)) + " |" for row in block.rows]
            out.append("")
        elif block.kind == "image":
            out += [f"![{block.text}]({block.text})", ""]
    return "\n".join(out)


_STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 60em; color: #1f2328; line-height: 1.45; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #d0d7de; padding: 0.3em 0.7em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f6f8fa; }
code { background: #f6f8fa; padding: 0.1em 0.3em; }
.verdict { font-size: 1.2em; font-weight: bold; }
"""


def _inline(text: str) -> str:
    """HTML of a line of text, with `code` spans as <code>."""
    parts = html_lib.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def html(facts: RunFacts, images: dict[str, bytes]) -> str:
    """report.html: the blocks as one self-contained page (plots embedded as data URIs)."""
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html_lib.escape(TITLE)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html_lib.escape(TITLE)}</h1>",
    ]
    for block in sections(facts, sorted(images)):
        if block.kind == "h2":
            out.append(f"<h2>{_inline(block.text)}</h2>")
        elif block.kind == "p":
            css = ' class="verdict"' if block.strong else ""
            out.append(f"<p{css}>{_inline(block.text)}</p>")
        elif block.kind == "list":
            out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in block.items) + "</ul>")
        elif block.kind == "table":
            head = "".join(f"<th>{_inline(h)}</th>" for h in block.header)
            body = "".join(
                "<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>"
                for row in block.rows
            )
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif block.kind == "image":
            data = base64.b64encode(images[block.text]).decode("ascii")
            out.append(
                f'<p><img alt="{html_lib.escape(block.text)}" src="data:image/png;base64,{data}"></p>'
            )
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def summary(facts: RunFacts) -> str:
    """The lines a local run prints when it ends."""
    lines = ["", "=" * 72, "Run summary", "=" * 72]
    for split, counts in sorted(facts.data_counts.items()):
        lines.append(
            f"data {split}: {counts.get('rows_read', '?')} rows read, "
            f"{counts.get('rows_accepted', '?')} accepted, {counts.get('rows_rejected', '?')} rejected"
        )
    if facts.truncation_share is not None:
        lines.append(f"truncated examples: {facts.truncation_share:.1%}")
    if facts.training.get("warm_start"):
        lines.append("training warm-started from the model in production")
    metrics = facts.evaluation.metrics
    shown = [
        f"{METRIC_NAMES[key]} {_f(metrics[key])}"
        for key in (ACCURACY, BALANCED_ACCURACY, MACRO_F1_SCORE, AUC_METRIC)
        if key in metrics
    ]
    lines.append(f"eval split ({_f(metrics.get(EXAMPLE_COUNT), 0)} examples): " + ", ".join(shown))
    lines.append(f"majority-class baseline: {majority_text(facts)}")
    if facts.production:
        production = facts.evaluation.baseline_metrics.get(ACCURACY)
        lines.append(
            f"model in production (version {facts.production.get('version')}): accuracy"
            f" {_f(production)}"
        )
    else:
        lines.append("no model in production: judged on the absolute bounds alone")
    lines.append(verdict(facts) + ("" if facts.blessed else ":"))
    if not facts.blessed:
        lines.extend(f"  - {reason}" for reason in facts.evaluation.failures)
        if not facts.evaluation.failures:
            lines.append("  - the Evaluator did not bless the model and named no failed bound")
    return "\n".join(lines)
