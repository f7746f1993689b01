"""The artifacts of the latest local run, looked up in its MLMD store by component and output key."""

from __future__ import annotations

from dataclasses import dataclass

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx import v1 as tfx

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


def latest_run_artifacts(metadata_path: str) -> dict[tuple[str, str], RunArtifact]:
    """{(node id, output key): artifact} for the outputs of the newest pipeline run in the store."""
    config = tfx.orchestration.metadata.sqlite_metadata_connection_config(metadata_path)
    store = metadata_store.MetadataStore(config)
    runs = store.get_contexts_by_type(PIPELINE_RUN_CONTEXT)
    if not runs:
        raise FileNotFoundError(f"no pipeline run recorded in {metadata_path}")
    run = max(runs, key=lambda c: (c.create_time_since_epoch, c.id))
    executions = store.get_executions_by_context(run.id)
    node_of = {}
    for execution in executions:
        for context in store.get_contexts_by_execution(execution.id):
            if store.get_context_types_by_id([context.type_id])[0].name == NODE_CONTEXT:
                node_of[execution.id] = context.name.split(".")[-1]
    events = store.get_events_by_execution_ids([e.id for e in executions])
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
        node = node_of.get(event.execution_id, "")
        found[(node, key)] = RunArtifact(
            node=node, key=key, uri=artifact.uri, properties=properties
        )
    return found
