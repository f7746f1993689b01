"""Drift between spans: what is compared, and the result as a typed record.

A run compares the statistics of its span with those of the data that the model in production
was trained on (components/drift/). Each check is one feature of a span's drift statistics (one
dataset per split, written by the drift step) and one of TFDV's comparators, with its threshold
in the `drift` settings (components/core/config.py):

| feature            | what it is                                        | comparator                |
|--------------------|---------------------------------------------------|---------------------------|
| `label`            | the raw label                                     | L-infinity distance       |
| `word_piece_range` | word pieces per text before the cut, in fixed     | Jensen-Shannon divergence |
|                    | ranges (1-4, 5-8, 9-12, 13-16, 17-24, 25-32, ...) |                           |
| `unknown_piece`    | one value per word piece: 1 for [UNK], else 0     | L-infinity distance       |
| `truncated`        | 1 when the text was cut to max_seq_length         | L-infinity distance       |

All four are categorical. On a feature of two values the L-infinity distance is the change in
the share of either, so the last two checks compare the share of [UNK] word pieces and the
truncated share. The lengths are compared in fixed ranges rather than as numbers: TFDV's
divergence between two numeric histograms re-bins each dataset's own buckets, which on integer
lengths alone measured up to 0.045 between consecutive spans of SMS Spam and 0.32 between two
24-row samples of the bundled sample; over fixed ranges the same pairs measure under 0.02.

`DriftResult` is what the drift step found (drift.json in its `drift` output, read back with
components.core.artifacts.read_drift_result): the span, what it was compared with (or why
nothing was), and per split and check both distributions side by side, the distance, the
threshold and whether TFDV found drift. The drift gate, the run report and anything else that
reads a run take it from there.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from components.core.features import LABEL_FEATURE, TRUNCATED

# The features of the drift statistics that are not transformed features.
WORD_PIECE_RANGE = "word_piece_range"
UNKNOWN_PIECE = "unknown_piece"
L_INFINITY = "L-infinity distance"
JENSEN_SHANNON = "Jensen-Shannon divergence"


@dataclass(frozen=True)
class Check:
    """One drift check: a feature of the drift statistics and the comparator applied to it."""

    feature: str
    title: str  # for people
    measure: str  # L_INFINITY or JENSEN_SHANNON
    setting: str  # its threshold: a field of the `drift` config section


CHECKS = (
    Check(LABEL_FEATURE, "label distribution", L_INFINITY, "max_label_distance"),
    Check(WORD_PIECE_RANGE, "word pieces per text", JENSEN_SHANNON, "max_length_divergence"),
    Check(UNKNOWN_PIECE, "[UNK] share of word pieces", L_INFINITY, "max_unknown_change"),
    Check(TRUNCATED, "truncated share", L_INFINITY, "max_truncated_change"),
)
CHECKS_BY_FEATURE = {check.feature: check for check in CHECKS}


@dataclass(frozen=True)
class Row:
    """One line of a side-by-side comparison: a value's share on each side (None: that side has
    no statistics of the feature)."""

    name: str
    current: float | None
    baseline: float | None


@dataclass(frozen=True)
class FeatureDrift:
    """One check on one split: this span's distribution beside the baseline's."""

    split: str
    feature: str
    distance: float | None  # None: TFDV could not compare (a side has no statistics of it)
    threshold: float | None  # None: the check is off
    drifted: bool  # TFDV found the distance above the threshold
    rows: list[Row] = field(default_factory=list)

    @property
    def check(self) -> Check:
        return CHECKS_BY_FEATURE[self.feature]

    def describe(self) -> str:
        """`label distribution (train split): L-infinity distance 0.5000, above the threshold
        0.2 (drift.max_label_distance)`; config keys are written as flags where shown to users."""
        check = self.check
        where = f"{check.title} ({self.split} split): {check.measure}"
        if self.distance is None:
            return f"{where}: could not be compared"
        if self.threshold is None:
            return f"{where} {self.distance:.4f} (not checked: drift.{check.setting} is off)"
        relation = "above" if self.drifted else "within"
        return (
            f"{where} {self.distance:.4f}, {relation} the threshold {self.threshold:g}"
            f" (drift.{check.setting})"
        )

    def table(self) -> tuple[list[str], list[list[str]]]:
        """Header and rows of the side-by-side table (shares as percentages)."""

        def cell(value: float | None) -> str:
            return "-" if value is None else f"{value:.1%}"

        header = [self.check.title, "this span", "baseline"]
        return header, [[row.name, cell(row.current), cell(row.baseline)] for row in self.rows]


@dataclass(frozen=True)
class Baseline:
    """What a span was compared with: the training data of the model in production (its
    statistics carried in its version folder), or the previous span's recorded statistics."""

    source: str  # PRODUCTION or PREVIOUS_SPAN
    version: int | None  # the production version
    span: int | None
    uri: str  # the statistics compared with

    PRODUCTION = "production model"
    PREVIOUS_SPAN = "previous span"

    def describe(self) -> str:
        span = f"span {self.span}" if self.span else "no span number"
        if self.source == self.PRODUCTION:
            return f"the training data of the model in production (version {self.version}, {span})"
        return (
            f"the previous span's data ({span}; the model in production, version"
            f" {self.version}, carries no statistics of its training data)"
        )


@dataclass
class DriftResult:
    """What the drift step found (see the module docstring)."""

    span: int | None = None
    baseline: Baseline | None = None
    reason: str = ""  # why nothing was compared (baseline None)
    features: list[FeatureDrift] = field(default_factory=list)
    statistics: str = ""  # this span's drift statistics (an ExampleStatistics artifact)

    @property
    def compared(self) -> bool:
        return self.baseline is not None

    @property
    def drifted(self) -> list[FeatureDrift]:
        return [f for f in self.features if f.drifted]

    def findings(self) -> tuple[str, ...]:
        """The run history's drift column: a line per check that drifted (none: ()); a span
        compared with nothing says why."""
        if not self.compared:
            return (f"not compared: {self.reason}",)
        return tuple(feature.describe() for feature in self.drifted)

    def headline(self) -> str:
        """One line: what was compared with what, and whether it drifted."""
        span = f"span {self.span}" if self.span else "this span"
        if not self.compared:
            return f"drift: nothing to compare {span} with: {self.reason}"
        found = self.drifted
        verdict = (
            f"DRIFTED ({len(found)} of {len(self.features)} checks)"
            if found
            else f"no drift ({len(self.features)} checks)"
        )
        return f"drift: {span} against {self.baseline.describe()}: {verdict}"

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> DriftResult:
        values = json.loads(text)
        baseline = values.pop("baseline")
        features = [
            FeatureDrift(**{**f, "rows": [Row(**row) for row in f["rows"]]})
            for f in values.pop("features")
        ]
        return cls(**values, baseline=Baseline(**baseline) if baseline else None, features=features)
