"""FileBasedExampleGen executor for raw text: CSV, TSV, JSON Lines and folder-per-label files.

Each input file is one Beam element, read by read_files.ReadTextFiles: a CSV, TSV or JSON Lines
file is parsed by `parsing.read_rows` while it is read a chunk at a time (quoted fields with
embedded newlines and physical line numbers stay right across chunks), and each row goes on as
soon as it is parsed, so memory holds a chunk and a record, not the file; a folder-per-label file
is one example, read whole. Accepted rows become tf.Examples with two bytes features, `text` and
`label` (three with `text_pair`, the second text of a sentence-pair task: data.text_pair_column);
every rejected row is written, with its file, line, reason and raw content, beside the
examples (outside the artifact, so that it survives a failed run, whose outputs TFX deletes; see
components.core.artifacts):

    <examples uri>/Split-<output split>/data_tfrecord-*.gz      the examples (as any ExampleGen)
    <examples uri>-RejectedRows/Split-<input split>/rejected-*.jsonl
        one JSON object per rejected row: {"file", "line", "reason", "content"}
    <examples uri>-RejectedRows/summary.json
        {"splits": {<input split>: {"files", "rows_read", "rows_accepted", "rows_rejected",
                                    "rejected_by_reason", "first_rejected_by_reason",
                                    "rejected_fraction", "blank_lines_skipped", "labels"}},
         "max_rejected_fraction", "passed", and "inference": true in inference mode}

After the Beam pipeline, `Do` reads back what was written, checks rows_read == rows_accepted +
rows_rejected per input split, writes summary.json, and fails when a split's rejected fraction
is above `data.max_rejected_fraction`, or when every accepted row of the training data (the
train split, or the whole input when it is hash-split) has the same label. Missing files, binary
files, empty splits and unknown columns fail before the pipeline starts
(`input_layout.check_input`).

In inference mode (`custom_config_proto(config, inference=True)`, the scoring package's
ExampleGen) a row needs no label, each example also carries its file and line (read_files.py),
rejected rows fail only a split whose every row was rejected, and the labels are not checked.

On Beam's DirectRunner, TFX's reshuffle of each output split before it is written (which would
hold every example in memory, and keeps their order there anyway) runs as a pass-through
(components.core.beam_memory); on a distributed runner it stays.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import apache_beam as beam
from google.protobuf import json_format, struct_pb2
from tfx import types
from tfx.components.example_gen import driver
from tfx.components.example_gen import utils as example_gen_utils
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from components.core.artifacts import (
    REJECTED_ROWS_PREFIX,
    REJECTED_ROWS_SUFFIX,
    REJECTED_SUMMARY_FILE,
    rejected_rows_glob,
    rejected_rows_uri,
)
from components.core.beam_memory import BoundedMemoryExecutor
from components.core.config import CUSTOM_CONFIG_KEY, Config
from components.core.errors import UserError
from components.text_example_gen import input_layout
from components.text_example_gen.read_files import (
    COUNTS,
    EXAMPLES,
    REJECTED,
    ReadTextFiles,
    sum_counts,
)
from components.text_example_gen.rows import InputError

logger = logging.getLogger(__name__)

_COUNTS_DIR = "_counts"  # per-split counts written by Beam, folded into summary.json
_REJECTED_URI_KEY = "_text_example_gen_rejected_rows_uri"  # exec property added by Do
_INFERENCE_KEY = "inference"  # in the custom_config Struct, beside the Config


class RejectedRowsError(UserError, RuntimeError):
    """More rows were rejected than `data.max_rejected_fraction` allows."""


# -- config plumbing --------------------------------------------------------------------------------
def custom_config_proto(config: Config, *, inference: bool = False) -> example_gen_pb2.CustomConfig:
    """The ExampleGen custom_config carrying `{"config": config.to_json()}` (a packed Struct),
    and `"inference": true` in inference mode (read_files.py)."""
    struct = struct_pb2.Struct()
    struct.update({CUSTOM_CONFIG_KEY: config.to_json(Config.EXAMPLE_GEN_SECTIONS)})
    if inference:
        struct.update({_INFERENCE_KEY: True})
    custom_config = example_gen_pb2.CustomConfig()
    custom_config.custom_config.Pack(struct)
    return custom_config


def config_from_exec_properties(exec_properties: dict[str, Any]) -> Config:
    """The Config in exec_properties["custom_config"].

    Accepts what TFX passes (the CustomConfig proto as JSON, or the proto itself) and, for direct
    calls, a plain dict or JSON object `{"config": <Config JSON or dict>}`.
    """
    return Config.from_custom_config(_custom_config(exec_properties), "text ExampleGen")


def inference_mode(exec_properties: dict[str, Any]) -> bool:
    """Whether the ExampleGen reads for scoring (see custom_config_proto)."""
    return bool(_custom_config(exec_properties).get(_INFERENCE_KEY, False))


def _custom_config(exec_properties: dict[str, Any]):
    value = exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY)
    if isinstance(value, str) and value.strip():
        value = json.loads(value)
    if isinstance(value, dict) and "custom_config" in value:
        value = json_format.ParseDict(value, example_gen_pb2.CustomConfig())
    if isinstance(value, example_gen_pb2.CustomConfig):
        struct = struct_pb2.Struct()
        if not value.custom_config.Unpack(struct):
            raise ValueError(
                f"custom_config holds {value.custom_config.type_url}, expected a Struct "
                f'{{"{CUSTOM_CONFIG_KEY}": <Config JSON>}} (see custom_config_proto)'
            )
        value = json_format.MessageToDict(struct)
    return value


def _proto(value, message):
    if isinstance(value, type(message)):
        return value
    proto_utils.json_to_proto(value, message)
    return message


def _split_name(exec_properties: dict[str, Any], split_pattern: str) -> str:
    input_config = _proto(
        exec_properties[standard_component_specs.INPUT_CONFIG_KEY], example_gen_pb2.Input()
    )
    for split in input_config.splits:
        if split.pattern == split_pattern:
            return split.name
    raise ValueError(f"split pattern {split_pattern!r} is not in the input config {input_config}")


# -- Beam -------------------------------------------------------------------------------------------
def _with_accepted(counts: dict[str, int], accepted: int) -> str:
    return json.dumps({**counts, "rows_accepted": accepted}, sort_keys=True)


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(bytes)
def _TextToExample(  # noqa: N802  (Beam's naming for PTransforms)
    pipeline: beam.Pipeline, exec_properties: dict[str, Any], split_pattern: str
) -> beam.pvalue.PCollection:
    """Reads one input split; writes its rejected rows and counts under the RejectedRows folder."""
    config = config_from_exec_properties(exec_properties)
    rejected_uri = exec_properties.get(_REJECTED_URI_KEY)
    if not rejected_uri:
        raise RuntimeError("the text ExampleGen transform runs only inside its Executor.Do")
    input_base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
    split_name = _split_name(exec_properties, split_pattern)
    files = input_layout.split_files(input_base, split_pattern)
    if not files:
        raise InputError(
            f"no input files for split {split_name!r}: expected files matching "
            f"{os.path.join(input_base, split_pattern)}"
        )
    folder = input_layout.is_folder_split(config.data, split_pattern)
    logger.info("Reading split %s: %d file(s) matching %s", split_name, len(files), split_pattern)

    parsed = pipeline | "Read" >> ReadTextFiles(
        [(path, folder) for path in files], config, inference_mode(exec_properties)
    )
    _ = parsed[REJECTED] | "WriteRejected" >> beam.io.WriteToText(
        os.path.join(rejected_uri, f"Split-{split_name}", REJECTED_ROWS_PREFIX),
        file_name_suffix=REJECTED_ROWS_SUFFIX,
    )
    accepted = parsed[EXAMPLES] | "CountAccepted" >> beam.combiners.Count.Globally()
    _ = (
        parsed[COUNTS]
        | "SumCounts" >> beam.CombineGlobally(sum_counts)
        | "AddAccepted" >> beam.Map(_with_accepted, beam.pvalue.AsSingleton(accepted))
        | "WriteCounts"
        >> beam.io.WriteToText(
            os.path.join(rejected_uri, _COUNTS_DIR, f"Split-{split_name}"),
            file_name_suffix=".json",
            shard_name_template="",
        )
    )
    return parsed[EXAMPLES]


# -- accounting -------------------------------------------------------------------------------------
def summarize_rejected_rows(rejected_uri: str, split_names: list[str]) -> dict[str, dict]:
    """Per input split: counts from Beam plus the rejected rows read back from their files.

    Raises RuntimeError when rows_read != rows_accepted + rows_rejected for a split.
    """
    splits = {}
    for name in split_names:
        with fileio.open(os.path.join(rejected_uri, _COUNTS_DIR, f"Split-{name}.json")) as f:
            counts = json.loads(f.read())
        by_reason: dict[str, int] = {}
        first: dict[str, dict] = {}
        pattern = os.path.join(
            rejected_uri, f"Split-{name}", f"{REJECTED_ROWS_PREFIX}-*{REJECTED_ROWS_SUFFIX}"
        )
        for path in sorted(fileio.glob(pattern)):
            with fileio.open(path) as f:
                for line in f:
                    if not line.strip():
                        continue
                    row = json.loads(line)
                    reason = row["reason"]
                    by_reason[reason] = by_reason.get(reason, 0) + 1
                    key = (row["file"], row["line"])
                    if reason not in first or key < (first[reason]["file"], first[reason]["line"]):
                        first[reason] = row
        rejected = sum(by_reason.values())
        read, accepted = counts["rows_read"], counts["rows_accepted"]
        logger.info(
            "Split %s: rows_read=%d, rows_accepted=%d, rows_rejected=%d (%s)",
            name,
            read,
            accepted,
            rejected,
            "rows_read == rows_accepted + rows_rejected"
            if read == accepted + rejected
            else "MISMATCH",
        )
        if read != accepted + rejected:
            raise RuntimeError(
                f"row accounting of split {name!r} does not add up: rows_read={read} but "
                f"rows_accepted={accepted} + rows_rejected={rejected} (rejected rows: {pattern})"
            )
        splits[name] = {
            "files": counts["files"],
            "rows_read": read,
            "rows_accepted": accepted,
            "rows_rejected": rejected,
            "rejected_by_reason": dict(sorted(by_reason.items(), key=lambda kv: (-kv[1], kv[0]))),
            "first_rejected_by_reason": first,
            "rejected_fraction": rejected / read if read else 0.0,
            "blank_lines_skipped": counts["blank_lines_skipped"],
            "labels": dict(sorted(counts["labels"].items(), key=lambda kv: (-kv[1], kv[0]))),
        }
    return splits


def failures(summary: dict[str, Any], *, inference: bool = False) -> list[str]:
    """One message per input split whose rejected fraction is above the configured maximum. In
    inference mode, where rejected rows are reported rather than fatal (scoring the others is
    still right), only a split whose every row was rejected fails."""
    limit = summary["max_rejected_fraction"]
    messages = []
    for name, split in summary["splits"].items():
        if split["rows_read"] == 0:
            continue
        if inference and split["rows_accepted"] > 0:
            continue
        if not inference and split["rejected_fraction"] <= limit:
            continue
        reasons = [
            f"  {reason}: {count} (e.g. {example['file']}:{example['line']}: "
            f"{example['content']!r})"
            for reason, count in split["rejected_by_reason"].items()
            for example in [split["first_rejected_by_reason"][reason]]
        ]
        too_many = (
            "every row of it"
            if inference
            else f"more than data.max_rejected_fraction={limit} allows"
        )
        messages.append(
            f"split {name!r}: {split['rows_rejected']} of {split['rows_read']} rows rejected "
            f"({split['rejected_fraction']:.2%}), {too_many}. Reasons, most frequent first:\n"
            + "\n".join(reasons)
        )
    return messages


def single_class_failure(summary: dict[str, Any], files: dict[str, list[str]]) -> str | None:
    """The message when every accepted row of the training data has one label, else None.

    The training data is the train input split, or the single input split that is hash-split
    into train and eval; `files` lists each input split's files (`input_layout.check_input`).
    """
    for name, split in summary["splits"].items():
        if name not in ("train", input_layout.SINGLE_SPLIT) or len(split["labels"]) != 1:
            continue
        ((label, count),) = split["labels"].items()
        names = files.get(name, [])
        where = names[0] if len(names) == 1 else f"the {len(names)} files of split {name!r} {names}"
        return (
            f"every accepted row of {where} has the label {label!r} ({count} rows): a classifier "
            "needs at least two classes. Check that data.label_column names the label column "
            "(a wrong column, or a file holding one class only, does this), or add rows of the "
            "other classes"
        )
    return None


def resolve_span(exec_properties: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Resolves {SPAN} in the split patterns to the newest span, when no driver has done it;
    returns (execution properties, whether it resolved them here).

    FileBasedExampleGen's driver resolves the span before the executor runs. On Kubeflow that
    driver is a `lifecycle.preCacheCheck` hook, which Vertex runs and open-source KFP ignores; there
    the patterns still hold {SPAN} here, and this runs TFX's own driver logic (newest span, its
    version and fingerprint) so that every orchestrator reads the newest span.
    """
    input_config = _proto(
        exec_properties[standard_component_specs.INPUT_CONFIG_KEY], example_gen_pb2.Input()
    )
    if not any(input_layout.has_span(split.pattern) for split in input_config.splits):
        return exec_properties, False
    resolved = driver.FileBasedDriver(None).resolve_exec_properties(
        dict(exec_properties), None, None
    )
    logging.info("Resolved the newest span: %s", resolved[example_gen_utils.SPAN_PROPERTY_NAME])
    return resolved, True


def _record_span(examples: types.Artifact, exec_properties: dict[str, Any]) -> None:
    """Writes the span, version and input fingerprint on the output, as the driver would."""
    examples.span = int(exec_properties[example_gen_utils.SPAN_PROPERTY_NAME])
    version = exec_properties.get(example_gen_utils.VERSION_PROPERTY_NAME)
    if version is not None:
        examples.version = int(version)
    fingerprint = exec_properties.get(example_gen_utils.FINGERPRINT_PROPERTY_NAME)
    if fingerprint:
        examples.set_string_custom_property(
            example_gen_utils.FINGERPRINT_PROPERTY_NAME, fingerprint
        )


class Executor(BoundedMemoryExecutor, BaseExampleGenExecutor):
    """TFX ExampleGen executor for raw text (see the module docstring).

    Use with `FileBasedExampleGen(..., custom_executor_spec=BeamExecutorSpec(Executor),
    custom_config=custom_config_proto(config))`, or simply `component.text_example_gen(config)`.
    """

    # TFX 1.16's write_split.WriteSplit, applied per output split by BaseExampleGenExecutor.Do.
    DIRECT_RUNNER_RESHUFFLES = (r"WriteSplit\[[^\]]*\]/Shuffle",)

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:  # noqa: N802
        return _TextToExample

    def Do(  # noqa: N802
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        exec_properties, spans_resolved_here = resolve_span(exec_properties)
        config = config_from_exec_properties(exec_properties)
        input_config = _proto(
            exec_properties[standard_component_specs.INPUT_CONFIG_KEY],
            example_gen_pb2.Input(),
        )
        input_base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
        inference = inference_mode(exec_properties)
        files = input_layout.check_input(  # before Beam
            config.data, input_base, input_config, require_label=not inference
        )

        examples = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.EXAMPLES_KEY]
        )
        if spans_resolved_here:
            _record_span(examples, exec_properties)
        rejected_uri = rejected_rows_uri(examples.uri)
        if fileio.exists(rejected_uri):  # left over from an earlier attempt at this output
            fileio.rmtree(rejected_uri)
        properties = {**exec_properties, _REJECTED_URI_KEY: rejected_uri}
        super().Do(input_dict, output_dict, properties)

        split_names = [split.name for split in input_config.splits]
        summary = {
            "splits": summarize_rejected_rows(rejected_uri, split_names),
            "max_rejected_fraction": config.data.max_rejected_fraction,
        }
        if inference:
            summary["inference"] = True
        messages = failures(summary, inference=inference)
        single_class = None if inference else single_class_failure(summary, files)
        summary["passed"] = not messages and single_class is None
        with fileio.open(os.path.join(rejected_uri, REJECTED_SUMMARY_FILE), "w") as f:
            f.write(json.dumps(summary, indent=2, ensure_ascii=False))
        fileio.rmtree(os.path.join(rejected_uri, _COUNTS_DIR))

        empty = [name for name, split in summary["splits"].items() if split["rows_read"] == 0]
        if empty:
            raise InputError(
                f"input split(s) {empty} have no rows: expected at least one data row "
                f"(see {os.path.join(rejected_uri, REJECTED_SUMMARY_FILE)})"
            )
        if messages:
            raise RejectedRowsError(
                "the text ExampleGen rejected too many rows:\n"
                + "\n".join(messages)
                + f"\nAll rejected rows: {rejected_rows_glob(examples.uri)}; "
                f"counts: {os.path.join(rejected_uri, REJECTED_SUMMARY_FILE)}"
            )
        if single_class:
            raise InputError(
                f"{single_class} (counts: {os.path.join(rejected_uri, REJECTED_SUMMARY_FILE)})"
            )
