"""The checks a command makes before any component runs and before the run folder is created.

Each setting is range-checked when the Config is built (components/core/config.py); what needs the
file system is checked here, in seconds, so that a mistake fails at once instead of minutes later
in the Transform or Trainer:

- the checkpoint (components/core/checkpoint.py: check_checkpoint, which the Trainer also runs
  first): a Hugging Face BERT-architecture folder (config.json with a BERT model_type) whose
  vocab.txt fits the model (special tokens, at most vocab_size tokens), whose weight file's header
  names the encoder's tensors with the shapes config.json implies (a PyTorch-only folder is
  refused), and whose position embeddings hold --max-seq-length;
- the data: the path exists (for a {SPAN} path, at least one span), and the first ~1 MiB of each
  file has the text and label columns (the text ExampleGen's own preflight, input_layout);
- the schema: the file exists and parses.

`bertpipe compile` checks only local paths: the data root and the checkpoint are run-time
parameters, and gs:// paths are read by the cluster, not here.

The checkpoint is checked first and without TensorFlow or TFX: the data and schema checks import
the component rooms (TFX, TensorFlow: seconds) inside their functions, so that a broken local
checkpoint is refused a second or so after the command starts.
"""

from __future__ import annotations

from components.core.checkpoint import check_checkpoint
from components.core.config import Config, DataConfig
from components.core.uris import is_remote


def check_data(data: DataConfig) -> None:
    """Raises InputError when the data path (or every span of it) does not exist, or when a file
    lacks the configured columns."""
    from components.text_example_gen import check_input, input_split_config
    from components.text_example_gen.input_layout import has_span

    input_base, input_config, _ = input_split_config(data)
    if not has_span(data.data):  # span patterns are resolved by ExampleGen's driver at run time
        check_input(data, input_base, input_config, say_guesses=False)  # ExampleGen says them


def check_schema(data: DataConfig) -> None:
    """Raises SchemaError when the configured schema (or the one picked for the data) is missing
    or does not parse."""
    from components.schema import load_schema, schema_file

    load_schema(schema_file(data))


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
