"""The run report: what happened in a run, written as Markdown with PNG plots into the run folder."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import tensorflow_model_analysis as tfma

from components.core.artifacts import read_rejected_summary, read_training_history
from components.core.config import Config
from components.core.serving import HAS_MODEL, SOURCE, VERSION
from components.core.transform_output import truncation_share
from components.evaluator import ACCURACY
from pipeline.local_runner import RunPaths
from pipeline.run_artifacts import RunArtifact, latest_run_artifacts

REPORT_FILE = "report.md"
BASELINE_MODEL_NAME = "baseline"


@dataclass
class Report:
    """The figures of a run, as printed to the terminal and written to `report.md`."""

    path: Path
    data_counts: dict = field(default_factory=dict)
    truncation_share: float | None = None
    history: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    slices: list = field(default_factory=list)
    class_names: list = field(default_factory=list)
    confusion: list = field(default_factory=list)
    baseline: dict = field(default_factory=dict)
    baseline_metrics: dict = field(default_factory=dict)
    blessed: bool = False
    why: list = field(default_factory=list)
    pushed_to: str | None = None
    plots: list = field(default_factory=list)

    def summary(self) -> str:
        lines = ["", "=" * 72, "Run summary", "=" * 72]
        for split, counts in sorted(self.data_counts.items()):
            lines.append(
                f"data {split}: {counts.get('rows_read', '?')} rows read, "
                f"{counts.get('rows_accepted', '?')} accepted, {counts.get('rows_rejected', '?')} rejected"
            )
        if self.truncation_share is not None:
            lines.append(f"truncated examples: {self.truncation_share:.1%}")
        if self.history.get("warm_start"):
            lines.append("training warm-started from the model in production")
        for name in ("example_count", ACCURACY, "macro_f1_score", "auc/class_1"):
            if name in self.metrics:
                lines.append(f"{name}: {self.metrics[name]:.4f}")
        if self.baseline:
            lines.append(
                f"model in production (version {self.baseline.get('version')}): accuracy "
                f"{self.baseline_metrics.get(ACCURACY, float('nan')):.4f}"
            )
        else:
            lines.append("no model in production: judged on the absolute threshold alone")
        if self.blessed:
            lines.append(f"BLESSED and pushed to {self.pushed_to}")
        else:
            lines.append("NOT BLESSED, nothing pushed:")
            lines.extend(f"  - {reason}" for reason in self.why)
        lines.append(f"report: {self.path}")
        return "\n".join(lines)


def write_report(config: Config, paths: RunPaths) -> Report:
    artifacts = latest_run_artifacts(str(paths.metadata_path))
    paths.report_dir.mkdir(parents=True, exist_ok=True)
    report = Report(path=paths.report_dir / REPORT_FILE)
    _data_counts(report, _find(artifacts, "examples"))
    _transform(report, _find(artifacts, "post_transform_stats"))
    _history(report, _find(artifacts, "model_run"), paths.report_dir)
    _evaluation(report, _find(artifacts, "evaluation"), paths.report_dir)
    _blessing(report, _find(artifacts, "blessing"), _find(artifacts, "baseline"))
    pushed = _find(artifacts, "pushed_model")
    if pushed is not None and pushed.get("pushed"):
        report.pushed_to = pushed.get("pushed_destination")
    report.path.write_text(_markdown(config, report), encoding="utf-8")
    return report


def _find(artifacts: dict[tuple[str, str], RunArtifact], key: str) -> RunArtifact | None:
    matches = [a for (node, k), a in artifacts.items() if k == key]
    return matches[-1] if matches else None


def _data_counts(report: Report, examples: RunArtifact | None) -> None:
    if examples is None:
        return
    report.data_counts = read_rejected_summary(examples.uri)["splits"]


def _transform(report: Report, stats: RunArtifact | None) -> None:
    if stats is not None:
        report.truncation_share = truncation_share(stats.uri)


def _history(report: Report, model_run: RunArtifact | None, out_dir: Path) -> None:
    if model_run is None:
        return
    report.history = read_training_history(model_run.uri)
    if not report.history:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = report.history.get("steps", [])
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([s["step"] for s in steps], [s["loss"] for s in steps], label="training loss")
    if steps and "accuracy" in steps[0]:
        ax.plot(
            [s["step"] for s in steps], [s["accuracy"] for s in steps], label="training accuracy"
        )
    ax.set_xlabel("step")
    ax.legend()
    ax.set_title("Training curve")
    fig.tight_layout()
    fig.savefig(out_dir / "training_curve.png", dpi=100)
    plt.close(fig)
    report.plots.append("training_curve.png")


def _slice_name(slice_key) -> str:
    parts = []
    for single in slice_key.single_slice_keys:
        kind = single.WhichOneof("kind")
        value = getattr(single, kind)
        parts.append(f"{single.column}={value.decode() if isinstance(value, bytes) else value}")
    return ", ".join(parts) or "overall"


def _evaluation(report: Report, evaluation: RunArtifact | None, out_dir: Path) -> None:
    if evaluation is None:
        return
    for metrics in tfma.load_metrics(evaluation.uri):
        name = _slice_name(metrics.slice_key)
        values, baseline = {}, {}
        for kv in metrics.metric_keys_and_values:
            if kv.key.is_diff or kv.value.WhichOneof("type") != "double_value":
                continue
            metric = kv.key.name
            if kv.key.sub_key.HasField("class_id"):
                metric = f"{metric}/class_{kv.key.sub_key.class_id.value}"
            elif kv.key.aggregation_type.macro_average:
                metric = f"macro_{metric}"
            target = baseline if kv.key.model_name == BASELINE_MODEL_NAME else values
            target[metric] = kv.value.double_value.value
        if name == "overall":
            report.metrics = values
            report.baseline_metrics = baseline
        else:
            report.slices.append((name, values))
    for plots in tfma.load_plots(evaluation.uri):
        if _slice_name(plots.slice_key) != "overall":
            continue
        for kv in plots.plot_keys_and_values:
            matrices = kv.value.multi_class_confusion_matrix_at_thresholds.matrices
            if kv.key.model_name != BASELINE_MODEL_NAME and matrices:
                report.confusion = [
                    (e.actual_class_id, e.predicted_class_id, e.num_weighted_examples)
                    for e in matrices[0].entries
                ]
    if report.confusion:
        _plot_confusion(report, out_dir)
    report.why.extend(validation_failures(evaluation.uri)[1])


def validation_failures(evaluation_uri: str) -> tuple[bool, list[str]]:
    """(validation passed, one line per failed threshold) of an Evaluator `evaluation` output."""
    validation = tfma.load_validation_result(evaluation_uri)
    failures = []
    for per_slice in validation.metric_validations_per_slice:
        for failure in per_slice.failures:
            against = " change against production" if failure.metric_key.is_diff else ""
            failures.append(
                f"{failure.metric_key.name}{against} = {failure.metric_value.double_value.value:.4f}"
                f" fails {_threshold_text(failure.metric_threshold)}"
            )
    if not validation.validation_ok and not failures:
        failures.append(f"validation failed: {' '.join(str(validation).split())}")
    return bool(validation.validation_ok), failures


def _threshold_text(threshold) -> str:
    return " ".join(str(threshold).split())


def _plot_confusion(report: Report, out_dir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    n = 1 + max(max(a, p) for a, p, _ in report.confusion)
    grid = np.zeros((n, n))
    for actual, predicted, count in report.confusion:
        if actual >= 0 and predicted >= 0:
            grid[actual, predicted] = count
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(grid, cmap="Blues")
    for i in range(n):
        for j in range(n):
            dark = grid[i, j] > grid.max() / 2
            ax.text(
                j, i, int(grid[i, j]), ha="center", va="center", color="white" if dark else "black"
            )
    names = report.history.get("labels") or [str(i) for i in range(n)]
    ax.set_xticks(range(n), names[:n], rotation=45, ha="right")
    ax.set_yticks(range(n), names[:n])
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title("Confusion matrix (eval)")
    fig.tight_layout()
    fig.savefig(out_dir / "confusion_matrix.png", dpi=100)
    plt.close(fig)
    report.plots.append("confusion_matrix.png")


def _blessing(report: Report, blessing: RunArtifact | None, baseline: RunArtifact | None) -> None:
    if baseline is not None and baseline.get(HAS_MODEL):
        report.baseline = {"version": baseline.get(VERSION), "path": baseline.get(SOURCE)}
    if blessing is None:
        report.why.append("the Evaluator did not run")
        return
    report.blessed = bool(blessing.get("blessed"))
    if not report.blessed and not report.why:
        report.why.append("the Evaluator did not bless the model (see its logs)")


def _markdown(config: Config, report: Report) -> str:
    out = ["# bertpipe run report", ""]
    out.append(
        f"Data: `{config.data.data}`; checkpoint: `{config.model.checkpoint or 'default'}`; "
        f"{config.train.train_steps} training steps, sequence length {config.model.max_seq_length}."
    )
    out += [
        "",
        "## Data",
        "",
        "| split | rows read | accepted | rejected | rejected by reason |",
        "|---|---|---|---|---|",
    ]
    for split, c in sorted(report.data_counts.items()):
        out.append(
            f"| {split} | {c.get('rows_read')} | {c.get('rows_accepted')} | {c.get('rows_rejected')} | {c.get('rejected_by_reason', {})} |"
        )
    if report.truncation_share is not None:
        out += [
            "",
            f"Truncated examples (longer than {config.model.max_seq_length} tokens): {report.truncation_share:.1%}",
        ]
    out += ["", "## Metrics (eval split)", "", "| metric | value |", "|---|---|"]
    out += [f"| {k} | {v:.4f} |" for k, v in sorted(report.metrics.items())]
    if report.slices:
        out += ["", "## Slices", "", "| slice | example count | accuracy |", "|---|---|---|"]
        for name, values in report.slices:
            out.append(
                f"| {name} | {values.get('example_count', float('nan')):.0f} | {values.get(ACCURACY, float('nan')):.4f} |"
            )
    out += ["", "## Blessing", ""]
    if report.baseline:
        out.append(
            f"Model in production: version {report.baseline.get('version')} "
            f"(`{report.baseline.get('path')}`), accuracy "
            f"{report.baseline_metrics.get(ACCURACY, float('nan')):.4f} against this model's "
            f"{report.metrics.get(ACCURACY, float('nan')):.4f}."
        )
    else:
        out.append("No model in production: judged on the absolute accuracy threshold alone.")
    out.append("")
    out.append(
        f"**{'Blessed' if report.blessed else 'Not blessed'}** (min accuracy {config.eval.min_accuracy}, "
        f"max drop against production {config.eval.max_accuracy_drop})."
    )
    out += [f"- {why}" for why in report.why]
    out.append("")
    out.append(f"Pushed to: `{report.pushed_to}`" if report.pushed_to else "Nothing was pushed.")
    for plot in report.plots:
        out += ["", f"![{plot}]({plot})"]
    return "\n".join(out) + "\n"
