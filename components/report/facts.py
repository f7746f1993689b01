"""The facts of one pipeline run, read from that run's artifacts (the Report's inputs).

`RunFacts` is what the report says; `collect` reads it from the artifacts, and it round-trips
through JSON (`report.json` in the report folder) for the CLI and anything else that reads a run.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from typing import Any

from tfx import types
from tfx.types import artifact_utils

from components.core.artifacts import (
    read_drift_result,
    read_rejected_summary,
    read_training_history,
    span_of,
)
from components.core.drift import DriftResult
from components.core.evaluation import (
    BoundFailure,
    Bounds,
    Evaluation,
    Interval,
    load_evaluation,
)
from components.core.history import HistoryEntry, outcome
from components.core.serving import HAS_MODEL, SOURCE, VERSION
from components.core.serving_check import (
    INFRA_BLESSED_PROPERTY,
    ServingCheckResult,
    read_serving_check,
)
from components.core.training_history import TrainingHistory
from components.core.transform_output import label_vocabulary, takes_pairs, truncation_share

# The Report's inputs (components/report/component.py).
EXAMPLES = "examples"
TRANSFORM_GRAPH = "transform_graph"
POST_TRANSFORM_STATS = "post_transform_stats"
MODEL_RUN = "model_run"
EVALUATION = "evaluation"
BLESSING = "blessing"
BASELINE = "baseline"
INFRA_BLESSING = "infra_blessing"
PUSHED_MODEL = "pushed_model"
DRIFT = "drift"
# Custom properties that TFX's Evaluator and Pusher set on their outputs.
BLESSED_PROPERTY = "blessed"
PUSHED_PROPERTY = "pushed"
PUSHED_DESTINATION_PROPERTY = "pushed_destination"


@dataclass
class RunFacts:
    """What happened in one run: data, training, evaluation, blessing and push."""

    data_root: str = ""
    span: int | None = None
    data_counts: dict[str, dict[str, Any]] = field(default_factory=dict)  # per input split
    truncation_share: float | None = None
    labels: list[str] = field(default_factory=list)  # class names by label id
    pairs: bool = False  # the model classifies sentence pairs (text and text_pair)
    training: TrainingHistory | None = None  # the Trainer's history.json (None: it wrote none)
    evaluation: Evaluation = field(default_factory=Evaluation)
    production: dict[str, Any] = field(default_factory=dict)  # {"version", "path"} or {}
    blessed: bool = False
    infra_blessed: bool = False  # the serving check passed
    serving_check: ServingCheckResult | None = None  # None: TFX's InfraValidator checked
    pushed_to: str | None = None
    drift: DriftResult | None = None  # the drift check's result (None: the run had none)
    artifacts: dict[str, str] = field(default_factory=dict)  # the run's inputs: name -> URI
    # The run history (components/core/history.py): this run's entry, the entries of its push
    # destination (this run's among them), and a line for each problem reading them.
    run: HistoryEntry | None = None
    history: list[HistoryEntry] = field(default_factory=list)
    history_notes: list[str] = field(default_factory=list)

    def label(self, class_id: int) -> str:
        """The class name of a label id (the Transform's label vocabulary)."""
        if 0 <= class_id < len(self.labels):
            return self.labels[class_id]
        if class_id == -1:
            return "(no prediction)"
        return f"class {class_id} (not in the label vocabulary)"

    def to_json(self) -> str:
        """report.json: the facts, `training` in history.json's form."""
        values = dataclasses.asdict(self)
        values["training"] = self.training.to_dict() if self.training else None
        values["drift"] = json.loads(self.drift.to_json()) if self.drift else None
        return json.dumps(values, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RunFacts:
        values = json.loads(text)
        training = values.pop("training")
        drift = values.pop("drift", None)
        drift = DriftResult.from_json(json.dumps(drift)) if drift else None
        if training is not None:
            training = TrainingHistory.from_dict(training, where="report.json: training")
        evaluation = values.pop("evaluation")
        evaluation["per_class"] = {int(c): v for c, v in evaluation["per_class"].items()}
        evaluation["slices"] = [tuple(s) for s in evaluation["slices"]]
        evaluation["confusion"] = [tuple(e) for e in evaluation["confusion"]]
        evaluation["bounds"] = Bounds(**evaluation["bounds"])
        evaluation["failures"] = [BoundFailure(**f) for f in evaluation["failures"]]
        evaluation["intervals"] = {
            k: Interval(**v) for k, v in evaluation.get("intervals", {}).items()
        }
        if values.get("run") is not None:
            values["run"] = HistoryEntry.from_dict(values["run"], where="report.json: run")
        values["history"] = [
            HistoryEntry.from_dict(e, where="report.json: history")
            for e in values.get("history", [])
        ]
        check = values.pop("serving_check", None)
        check = ServingCheckResult.from_dict(check) if check else None
        return cls(
            **values,
            training=training,
            drift=drift,
            evaluation=Evaluation(**evaluation),
            serving_check=check,
        )

    def history_entry(self, *, time: str, run_id: str, report: str) -> HistoryEntry:
        """This run's entry in the run history (components/core/history.py)."""
        version = os.path.basename(self.pushed_to or "")
        return outcome(
            time=time,
            run_id=run_id,
            evaluation=self.evaluation,
            blessed=self.blessed,
            span=self.span or None,  # 0: the data has no spans (as in the report's header)
            pushed_version=int(version) if version.isdigit() else None,
            report=report,
            drift=self.drift.findings() if self.drift else None,
            serving_check_passed=self.infra_blessed,
        )


def _single(input_dict: dict[str, list[types.Artifact]], key: str) -> types.Artifact:
    return artifact_utils.get_single_instance(input_dict[key])


def collect(input_dict: dict[str, list[types.Artifact]], data_root: str = "") -> RunFacts:
    """Reads the facts of a run from the Report's input artifacts (see the module docstring)."""
    examples = _single(input_dict, EXAMPLES)
    facts = RunFacts(data_root=data_root)
    facts.artifacts = {key: _single(input_dict, key).uri for key in sorted(input_dict)}
    facts.span = span_of(examples)
    facts.data_counts = read_rejected_summary(examples.uri).get("splits", {})
    facts.truncation_share = truncation_share(_single(input_dict, POST_TRANSFORM_STATS).uri)
    facts.labels = label_vocabulary(_single(input_dict, TRANSFORM_GRAPH).uri)
    facts.pairs = takes_pairs(_single(input_dict, TRANSFORM_GRAPH).uri)
    facts.training = read_training_history(_single(input_dict, MODEL_RUN).uri)
    facts.evaluation = load_evaluation(_single(input_dict, EVALUATION).uri)

    baseline = _single(input_dict, BASELINE)
    if baseline.has_custom_property(HAS_MODEL) and baseline.get_int_custom_property(HAS_MODEL):
        facts.production = {
            "version": baseline.get_int_custom_property(VERSION),
            "path": baseline.get_string_custom_property(SOURCE),
        }
    facts.blessed = bool(_single(input_dict, BLESSING).get_int_custom_property(BLESSED_PROPERTY))
    infra_blessing = _single(input_dict, INFRA_BLESSING)
    facts.infra_blessed = bool(infra_blessing.get_int_custom_property(INFRA_BLESSED_PROPERTY))
    facts.serving_check = read_serving_check(infra_blessing.uri)
    if input_dict.get(DRIFT):
        facts.drift = read_drift_result(_single(input_dict, DRIFT).uri)
    pushed = _single(input_dict, PUSHED_MODEL)
    if pushed.get_int_custom_property(PUSHED_PROPERTY):
        facts.pushed_to = pushed.get_string_custom_property(PUSHED_DESTINATION_PROPERTY)
    return facts
