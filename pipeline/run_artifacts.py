"""The artifacts of one local run, looked up in its MLMD store by pipeline run id, and its report.

Every execution of a run, cached ones included, belongs to the run's `pipeline_run` context (its
name is the run id), so a run's outputs are found by its id whatever ran before or after it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx.orchestration import metadata

from components.core.artifacts import REPORT_FACTS_FILE, REPORT_HTML_FILE, REPORT_SUMMARY_FILE
from components.report import Report
from components.report.executor import REPORT_KEY
from components.report.facts import RunFacts

PIPELINE_RUN_CONTEXT = "pipeline_run"
NODE_CONTEXT = "node"


@dataclass(frozen=True)
class RunArtifact:
    node: str
    key: str
    uri: str
    properties: dict

    def get(self, name: str, default=None):
        return self.properties.get(name, default)


def _value(value: metadata_store_pb2.Value):
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


def node_executions(
    store: metadata_store.MetadataStore, run: metadata_store_pb2.Context
) -> list[tuple[str, metadata_store_pb2.Execution]]:
    """(node id, execution) for each execution of the pipeline run context `run`, oldest first."""
    node_type = store.get_context_type(NODE_CONTEXT)
    found = []
    for execution in sorted(store.get_executions_by_context(run.id), key=lambda e: e.id):
        for context in store.get_contexts_by_execution(execution.id):
            if context.type_id == node_type.id:
                found.append((context.name.split(".")[-1], execution))
    return found


def open_store(metadata_path: str) -> metadata_store.MetadataStore:
    """The MLMD store in the SQLite file `metadata_path` (a run folder's metadata.sqlite)."""
    return metadata_store.MetadataStore(metadata.sqlite_metadata_connection_config(metadata_path))


def open_run(
    metadata_path: str, run_id: str
) -> tuple[metadata_store.MetadataStore, metadata_store_pb2.Context]:
    """The MLMD store at `metadata_path` (SQLite) and the context of pipeline run `run_id`."""
    store = open_store(metadata_path)
    run = store.get_context_by_type_and_name(PIPELINE_RUN_CONTEXT, run_id)
    if run is None:
        raise FileNotFoundError(f"no pipeline run {run_id!r} recorded in {metadata_path}")
    return store, run


def run_artifacts(metadata_path: str, run_id: str) -> dict[tuple[str, str], RunArtifact]:
    """{(node id, output key): artifact} for the outputs of pipeline run `run_id` in the store."""
    store, run = open_run(metadata_path, run_id)
    node_of = {execution.id: node for node, execution in node_executions(store, run)}
    events = store.get_events_by_execution_ids(list(node_of))
    outputs = [
        e
        for e in events
        if e.type in (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)
    ]
    artifacts = {a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in outputs])}
    found: dict[tuple[str, str], RunArtifact] = {}
    for event in sorted(outputs, key=lambda e: e.milliseconds_since_epoch):
        artifact = artifacts[event.artifact_id]
        key = event.path.steps[0].key if event.path.steps else ""
        properties = {k: _value(v) for k, v in artifact.custom_properties.items()}
        properties.update({k: _value(v) for k, v in artifact.properties.items()})
        node = node_of[event.execution_id]
        found[(node, key)] = RunArtifact(
            node=node, key=key, uri=artifact.uri, properties=properties
        )
    return found


@dataclass(frozen=True)
class RunReport:
    """The report a run's Report step wrote."""

    folder: str  # its `report` output: report.md, report.html, summary.txt, report.json
    html_path: str  # the self-contained report.html in that folder
    summary: str  # the lines a local run prints
    facts: RunFacts


def run_report(metadata_path: str, run_id: str) -> RunReport:
    """The report of pipeline run `run_id` (FileNotFoundError when its Report did not run)."""
    artifacts = run_artifacts(metadata_path, run_id)
    node = Report.__name__  # the component's node id
    report = artifacts.get((node, REPORT_KEY))
    if report is None:
        raise FileNotFoundError(
            f"pipeline run {run_id!r} in {metadata_path} has no {node} output: the run"
            f" stopped before its {node} step (its nodes: {sorted({n for n, _ in artifacts})})"
        )

    def read(name: str) -> str:
        with open(os.path.join(report.uri, name), encoding="utf-8") as handle:
            return handle.read()

    return RunReport(
        folder=report.uri,
        html_path=os.path.join(report.uri, REPORT_HTML_FILE),
        summary=read(REPORT_SUMMARY_FILE),
        facts=RunFacts.from_json(read(REPORT_FACTS_FILE)),
    )
