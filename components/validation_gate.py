"""A gate after ExampleValidator: anomalies stop the pipeline before Transform and Trainer.

ExampleValidator only records anomalies. `ValidationGate` reads them and fails its execution (and so
every node downstream of it) with a message naming each anomalous feature and the anomaly.
"""

import os

import tensorflow as tf
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.dsl.component.experimental.annotations import InputArtifact
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact_utils, standard_artifacts

from components.core.errors import UserError

ANOMALIES_FILE = "SchemaDiff.pb"


class DataValidationError(UserError, RuntimeError):
    """The data does not match the curated schema."""


def read_anomalies(
    anomalies_uri: str, split_names: list[str]
) -> dict[str, anomalies_pb2.Anomalies]:
    """The Anomalies proto of each split of an ExampleAnomalies artifact."""
    found = {}
    for split in split_names:
        path = os.path.join(anomalies_uri, f"Split-{split}", ANOMALIES_FILE)
        if not tf.io.gfile.exists(path):
            raise FileNotFoundError(
                f"ExampleValidator wrote no anomalies file for split {split!r}: {path}"
            )
        anomalies = anomalies_pb2.Anomalies()
        anomalies.ParseFromString(tf.io.gfile.GFile(path, "rb").read())
        found[split] = anomalies
    return found


def describe_anomalies(by_split: dict[str, anomalies_pb2.Anomalies]) -> list[str]:
    """One line per anomaly: split, feature (or dataset) and TFDV's description."""
    lines = []
    for split, anomalies in sorted(by_split.items()):
        for feature, info in sorted(anomalies.anomaly_info.items()):
            reasons = (
                "; ".join(
                    f"{reason.short_description}: {reason.description}" for reason in info.reason
                )
                or info.description
            )
            lines.append(f"split {split!r}, feature {feature!r}: {reasons}")
        if anomalies.HasField("dataset_anomaly_info"):
            info = anomalies.dataset_anomaly_info
            reasons = "; ".join(r.description for r in info.reason) or info.description
            lines.append(f"split {split!r}, dataset: {reasons}")
    return lines


# Stops the run when the data breaks the schema; Transform runs after it.
@component
def ValidationGate(
    anomalies: InputArtifact[standard_artifacts.ExampleAnomalies],
) -> None:  # noqa: N802
    splits = artifact_utils.decode_split_names(anomalies.split_names)
    lines = describe_anomalies(read_anomalies(anomalies.uri, splits))
    if lines:
        raise DataValidationError(
            "the data does not match the schema; stopping before Transform and Trainer:\n  "
            + "\n  ".join(lines)
            + "\nFix the data, or review the schema (bertpipe infer-schema) and commit it to schemas/."
        )
