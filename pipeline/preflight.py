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
- the schema: the file exists, parses, and has the second text of a sentence-pair task
  exactly when --text-pair-column is set.

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


def check_data(data: DataConfig, *, require_label: bool = True) -> None:
    """Raises InputError when the data path (or every span of it) does not exist, or when a file
    lacks the configured columns (a label column only when `require_label`)."""
    from components.text_example_gen import check_input, input_split_config
    from components.text_example_gen.input_layout import has_span

    input_base, input_config, _ = input_split_config(data)
    if not has_span(data.data):  # span patterns are resolved by ExampleGen's driver at run time
        check_input(  # without saying its guesses: ExampleGen says them
            data, input_base, input_config, say_guesses=False, require_label=require_label
        )


def check_schema(data: DataConfig) -> None:
    """Raises SchemaError when the configured schema (or the one picked for the data) is missing,
    does not parse, or has a `text_pair` feature where the data has none or the other way round."""
    from components.schema import check_text_features, load_schema, schema_file

    path = schema_file(data)
    check_text_features(load_schema(path), data, path)


def check_run(config: Config) -> None:
    """Everything `bertpipe run` checks before it starts (see the module docstring)."""
    check_checkpoint(config.model)
    check_data(config.data)
    check_schema(config.data)


def check_compile(config: Config, *, inference: bool = False) -> None:
    """What `bertpipe compile` checks: the schema, and the data and checkpoint where local; for
    the scoring package (`inference`) only the data, where local, a label column optional."""
    if inference:
        if not is_remote(config.data.data):
            check_data(config.data, require_label=False)
        return
    if not is_remote(config.model.checkpoint):
        check_checkpoint(config.model)
    if not is_remote(config.data.data):
        check_data(config.data)
    check_schema(config.data)
