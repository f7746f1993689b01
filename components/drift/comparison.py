"""drift.md: a DriftResult for people, both distributions side by side (what a run that stops
on drift points to; the run report shows the same tables, components/report/sections.py)."""

from __future__ import annotations

from components.core.drift import DriftResult
from components.core.settings import with_flag_names


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(result: DriftResult) -> str:
    """The comparison as Markdown: the headline, then per split and check its line and table."""
    out = ["# Drift between spans", "", result.headline(), ""]
    if result.compared:
        out += [f"Compared with {result.baseline.describe()}: `{result.baseline.uri}`.", ""]
    out += [f"This span's drift statistics: `{result.statistics}`.", ""]
    for feature in result.features:
        header, rows = feature.table()
        flag = "**DRIFTED** " if feature.drifted else ""
        out += [f"## {feature.check.title}, {feature.split} split", "", flag + feature.describe()]
        out += ["", "| " + " | ".join(map(_cell, header)) + " |", "|" + "---|" * len(header)]
        out += ["| " + " | ".join(map(_cell, row)) + " |" for row in rows] + [""]
    return with_flag_names("\n".join(out))
