"""The curated raw-data schemas in `schemas/`: picking one, reading its label domain, proposing one.

A schema lives at `schemas/<name>/schema.pbtxt`. With no schema configured, the data folder's name
picks one (data in `.../sst2` uses `schemas/sst2`, the bundled sample in `sample_data` uses
`schemas/sample_data`); a dataset with no curated schema gets
`schemas/generic` (text and label required, any label), or `schemas/generic_pair` for a
sentence-pair task (data.text_pair_column: text, text_pair and label), and `bertpipe infer-schema`
proposes a curated one for review (from the rows the text ExampleGen accepts: `infer_schema`).
A schema has the `text_pair` feature exactly when the task is a pair task (`check_text_features`).
"""

from __future__ import annotations

import os
from pathlib import Path

from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx.utils import io_utils

from components.core.config import SCHEMAS_DIR, DataConfig
from components.core.errors import UserError
from components.core.features import LABEL_FEATURE, TEXT_FEATURE, TEXT_PAIR_FEATURE

SCHEMA_FILE = "schema.pbtxt"
GENERIC = "generic"
GENERIC_PAIR = "generic_pair"
MAX_DOMAIN_SIZE = 100


class SchemaError(UserError, FileNotFoundError):
    """The configured schema file is missing or is not a schema in text format."""


def schema_file(data: DataConfig) -> str:
    """The schema file a run validates its data against."""
    if data.schema:
        path = data.schema
        if os.path.isdir(path):
            path = os.path.join(path, SCHEMA_FILE)
        if not os.path.isfile(path):
            raise SchemaError(
                f"schema {data.schema!r} (--schema) not found: expected a schema.pbtxt file or its folder"
            )
        return path
    return str(SCHEMAS_DIR / _schema_name(data) / SCHEMA_FILE)


def _schema_name(data: DataConfig) -> str:
    path = Path(data.data.split("{SPAN}")[0].rstrip("/"))
    for candidate in (path, path.parent):
        if candidate.name and (SCHEMAS_DIR / candidate.name / SCHEMA_FILE).is_file():
            return candidate.name
    return GENERIC_PAIR if data.pairs else GENERIC


def check_text_features(schema: schema_pb2.Schema, data: DataConfig, path: str) -> None:
    """Raises SchemaError unless the schema (read from `path`) has the `text_pair` feature exactly
    when the data is a sentence-pair task (data.text_pair_column set)."""
    has_pair = any(feature.name == TEXT_PAIR_FEATURE for feature in schema.feature)
    if data.pairs and not has_pair:
        raise SchemaError(
            f"data.text_pair_column is set, but the schema {path} has no {TEXT_PAIR_FEATURE!r}"
            f" feature: expected a sentence-pair schema (schemas/{GENERIC_PAIR}, or propose one"
            " with bertpipe infer-schema and the same data flags)"
        )
    if has_pair and not data.pairs:
        raise SchemaError(
            f"the schema {path} has a {TEXT_PAIR_FEATURE!r} feature (a sentence-pair task): set"
            " data.text_pair_column to the second text's column"
        )


def load_schema(path: str) -> schema_pb2.Schema:
    try:
        return io_utils.parse_pbtxt_file(path, schema_pb2.Schema())
    except text_format.ParseError as error:
        raise SchemaError(f"schema {path} is not a TFMD schema in text format ({error})") from error


def label_domain(schema: schema_pb2.Schema) -> tuple[str, ...]:
    """The label values the schema allows, or () when it does not restrict them."""
    for feature in schema.feature:
        if feature.name != LABEL_FEATURE:
            continue
        if feature.HasField("string_domain"):
            return tuple(feature.string_domain.value)
        if feature.domain:
            for domain in schema.string_domain:
                if domain.name == feature.domain:
                    return tuple(domain.value)
    return ()


def class_names(data: DataConfig) -> tuple[str, ...]:
    """The classes in label-id order when known before training: declared, or the schema's domain.

    The Transform's label vocabulary uses the declared order, else lexicographic order.
    """
    if data.labels:
        return data.labels
    return tuple(sorted(label_domain(load_schema(schema_file(data)))))


def infer_schema(
    texts: list[str],
    labels: list[str],
    rejected: int,
    source: str,
    text_pairs: list[str] | None = None,
) -> str:
    """Proposes a curated schema (as text) for a dataset, from TFDV statistics of its accepted
    rows (`texts`, `labels`, and the second texts `text_pairs` of a sentence-pair task; `rejected`
    rows were left out; `source` names the data).

    TFDV infers types and presence; the proposal then applies the project's curation: every
    feature required and single-valued, a label domain of the observed labels (when there are at most
    MAX_DOMAIN_SIZE of them), and no domain on the free text.
    """
    import pandas as pd
    import tensorflow_data_validation as tfdv
    from google.protobuf import text_format

    if not texts:
        raise ValueError(f"{source}: no accepted rows, so there is nothing to infer a schema from")
    columns = {TEXT_FEATURE: texts, LABEL_FEATURE: labels}
    if text_pairs is not None:
        columns[TEXT_PAIR_FEATURE] = text_pairs
    frame = pd.DataFrame(columns)
    statistics = tfdv.generate_statistics_from_dataframe(frame)
    schema = tfdv.infer_schema(statistics, infer_feature_shape=True)
    values = sorted(set(labels))
    del schema.string_domain[:]
    for feature in schema.feature:
        feature.ClearField("domain_info")
        feature.presence.min_fraction = 1.0
        feature.presence.min_count = 1
        if feature.name == LABEL_FEATURE and len(values) <= MAX_DOMAIN_SIZE:
            feature.domain = LABEL_FEATURE
    notes = [
        f"# Proposed by `bertpipe infer-schema` from {source}: review it, then commit it as",
        "# schemas/<dataset>/schema.pbtxt (the data folder's name picks it).",
        f"# {len(texts)} accepted rows ({rejected} rejected); labels: "
        + ", ".join(f"{v!r} x{labels.count(v)}" for v in values[:MAX_DOMAIN_SIZE]),
    ]
    if len(values) <= MAX_DOMAIN_SIZE:
        schema.string_domain.add(name=LABEL_FEATURE, value=values)
    else:
        notes.append(
            f"# {len(values)} distinct labels (more than {MAX_DOMAIN_SIZE}): no label domain was "
            "set; is the label column right?"
        )
    return "\n".join(notes) + "\n" + text_format.MessageToString(schema)
