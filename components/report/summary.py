"""The terminal summary of a run: the lines a local run prints when it ends (summary.txt)."""

from __future__ import annotations

from components.core.evaluation import (
    ACCURACY,
    BALANCED_ACCURACY,
    EXAMPLE_COUNT,
    MACRO_F1_SCORE,
    with_interval,
)
from components.core.settings import with_flag_names
from components.report.facts import RunFacts
from components.report.sections import (
    AUC_METRIC,
    METRIC_NAMES,
    majority_text,
    number,
    positive_f1,
    serving_check_text,
    verdict,
)


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
    if facts.drift is not None:
        lines.append(with_flag_names(facts.drift.headline()))
    if facts.training and facts.training.warm_start:
        lines.append("training warm-started from the model in production")
    metrics = facts.evaluation.metrics
    shown = [
        f"{METRIC_NAMES[key]} {with_interval(facts.evaluation, key)}"
        for key in (ACCURACY, BALANCED_ACCURACY, MACRO_F1_SCORE, AUC_METRIC)
        if key in metrics
    ]
    if positive_f1(facts) and shown:  # beside accuracy
        name, value = positive_f1(facts)
        shown.insert(1, f"{name} {number(value)}")
    lines.append(
        f"eval split ({number(metrics.get(EXAMPLE_COUNT), 0)} examples): " + ", ".join(shown)
    )
    lines.append(f"majority-class baseline: {majority_text(facts)}")
    if facts.production:
        production = facts.evaluation.baseline_metrics
        lines.append(
            f"model in production (version {facts.production.get('version')}): accuracy"
            f" {number(production.get(ACCURACY))}, balanced accuracy"
            f" {number(production.get(BALANCED_ACCURACY))}"
        )
    else:
        lines.append("no model in production: judged on the absolute bounds alone")
    lines.append(f"serving check: {serving_check_text(facts)}")
    lines.append(verdict(facts) + ("" if facts.blessed else ":"))
    if not facts.blessed:
        lines.extend(f"  - {failure.message}" for failure in facts.evaluation.failures)
        if not facts.evaluation.failures:
            lines.append("  - the Evaluator did not bless the model and named no failed bound")
    return "\n".join(lines)
