"""The checks a command makes before any component runs and before the run folder is created.

Each setting is range-checked when the Config is built (components/core/config.py); what needs the
file system is checked here, in seconds, so that a mistake fails at once instead of minutes later
in the Transform or Trainer:

- the checkpoint: a Hugging Face BERT-architecture folder (config.json with a BERT model_type,
  vocab.txt, weights) whose position embeddings hold --max-seq-length;
- the data: the path exists (for a {SPAN} path, at least one span), and the first ~1 MiB of each
  file has the text and label columns (the text ExampleGen's own preflight, input_layout);
- the schema: the file exists, parses, and has the second text of a sentence-pair task
  exactly when --text-pair-column is set.

`bertpipe compile` checks only local paths: the data root and the checkpoint are run-time
parameters, and gs:// paths are read by the cluster, not here.
"""

from __future__ import annotations

from components.core.checkpoint import CheckpointError, model_settings, resolve_checkpoint
from components.core.config import Config, DataConfig, ModelConfig
from components.core.uris import is_remote
from components.schema import check_text_features, load_schema, schema_file
from components.text_example_gen import check_input, input_split_config
from components.text_example_gen.input_layout import has_span


def check_checkpoint(model: ModelConfig) -> str:
    """The local checkpoint folder, after checking that it is a BERT folder that holds
    max_seq_length positions; raises CheckpointError."""
    folder = resolve_checkpoint(model.checkpoint)
    positions = model_settings(folder, model.checkpoint or folder).get("max_position_embeddings")
    if isinstance(positions, int) and model.max_seq_length > positions:
        raise CheckpointError(
            f"--max-seq-length {model.max_seq_length} is longer than the checkpoint"
            f" {model.checkpoint or folder!r} allows (max_position_embeddings {positions} in its"
            f" config.json): expected at most {positions}"
        )
    return folder


def check_data(data: DataConfig) -> None:
    """Raises InputError when the data path (or every span of it) does not exist, or when a file
    lacks the configured columns."""
    input_base, input_config, _ = input_split_config(data)
    if not has_span(data.data):  # span patterns are resolved by ExampleGen's driver at run time
        check_input(data, input_base, input_config, say_guesses=False)  # ExampleGen says them


def check_schema(data: DataConfig) -> None:
    """Raises SchemaError when the configured schema (or the one picked for the data) is missing,
    does not parse, or has a `text_pair` feature where the data has none or the other way round."""
    path = schema_file(data)
    check_text_features(load_schema(path), data, path)


def check_run(config: Config) -> None:
    """Everything `bertpipe run` checks before it starts (see the module docstring)."""
    check_checkpoint(config.model)
    check_data(config.data)
    check_schema(config.data)


def check_compile(config: Config) -> None:
    """What `bertpipe compile` checks: the schema, and the data and checkpoint where local."""
    if not is_remote(config.model.checkpoint):
        check_checkpoint(config.model)
    if not is_remote(config.data.data):
        check_data(config.data)
    check_schema(config.data)
