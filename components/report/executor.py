"""The Report's executor: reads the run's artifacts and writes the report.

Into the `report` output folder: report.md with its PNG plots, the self-contained report.html,
summary.txt (what a local run prints) and report.json (the facts); into the `html` output, the
same report.html as the file at its URI, which the Kubeflow Pipelines UI displays
(components/report/artifacts.py). Before the report, the run's entry of the run history goes
into the push destination (`<push_dir>/.history/`, components/core/history.py), and the report
shows every entry there.
"""

from __future__ import annotations

import os
import time
from typing import Any

from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils

from components.core import runtime_settings
from components.core.artifacts import (
    REPORT_FACTS_FILE,
    REPORT_HTML_FILE,
    REPORT_MARKDOWN_FILE,
    REPORT_SUMMARY_FILE,
)
from components.core.history import read_entries, utc_time, write_entry
from components.report import render
from components.report.artifacts import DISPLAY_NAME
from components.report.facts import RunFacts, collect
from components.report.plots import plots
from components.report.sections import sections
from components.report.summary import summary

# The Report's outputs.
REPORT_KEY = "report"
HTML_KEY = "html"


def write_report(facts: RunFacts, folder: str) -> str:
    """Writes the report files of `facts` into `folder`; returns the HTML page."""
    images = plots(facts)
    blocks = sections(facts, sorted(images))
    page = render.html(blocks, images)
    files: dict[str, bytes] = {name: png for name, png in images.items()}
    files[REPORT_MARKDOWN_FILE] = render.markdown(blocks).encode("utf-8")
    files[REPORT_HTML_FILE] = page.encode("utf-8")
    files[REPORT_SUMMARY_FILE] = summary(facts).encode("utf-8")
    files[REPORT_FACTS_FILE] = facts.to_json().encode("utf-8")
    fileio.makedirs(folder)
    for name, content in files.items():
        with fileio.open(os.path.join(folder, name), "wb") as handle:
            handle.write(content)
    return page


class Executor(base_executor.BaseExecutor):
    """Writes the run report (see the module docstring)."""

    def Do(  # noqa: N802  (TFX's executor interface)
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        _, settings = runtime_settings.pop_settings(exec_properties)
        facts = collect(input_dict, data_root=str(settings.get("data_root", "")))
        report = artifact_utils.get_single_instance(output_dict[REPORT_KEY])
        run_id = (self._context.pipeline_run_id if self._context else None) or ""
        facts.run = facts.history_entry(
            time=utc_time(time.time()), run_id=run_id, report=report.uri
        )
        push_dir = str(settings.get("push_dir", ""))
        if push_dir:
            write_entry(push_dir, facts.run)
            facts.history, facts.history_notes = read_entries(push_dir)
        else:
            facts.history = [facts.run]
            facts.history_notes = ["no push destination (push_dir) given: this run alone"]
        page = write_report(facts, report.uri)
        html = artifact_utils.get_single_instance(output_dict[HTML_KEY])
        html.write(page)
        html.set_string_custom_property(DISPLAY_NAME, render.TITLE)
