"""The ExampleGen of the pipeline: a FileBasedExampleGen with the raw-text executor."""

from __future__ import annotations

from tfx.components import FileBasedExampleGen
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2

from components.core.config import Config
from components.text_example_gen.executor import Executor, custom_config_proto
from components.text_example_gen.input_layout import input_split_config


class TextExampleGen(FileBasedExampleGen):
    """FileBasedExampleGen with the raw-text executor (CSV/TSV, JSON Lines, folder per label)."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)


def text_example_gen(config: Config, input_base=None, *, inference: bool = False) -> TextExampleGen:
    """ExampleGen over `config.data` (CSV, TSV, JSON Lines or folder-per-label text).

    The input base and splits come from `input_split_config(config.data)`: train/eval files or
    folders when present, otherwise a hash split. `input_base` (a folder, or a RuntimeParameter)
    replaces the folder while keeping the file layout. Raises InputError at once when the
    input path (or every span of it) does not exist. In inference mode (for scoring; see
    executor.py) the output splits are the input splits, not hashed.
    """
    default_base, input_config, output_config = input_split_config(config.data)
    return TextExampleGen(
        input_base=default_base if input_base is None else input_base,
        input_config=input_config,
        output_config=example_gen_pb2.Output() if inference else output_config,
        custom_config=custom_config_proto(config, inference=inference),
    )
