"""ExampleGen over raw text: CSV, TSV, JSON Lines and folder-per-label files."""

from components.text_example_gen.component import text_example_gen
from components.text_example_gen.executor import (
    Executor,
    RejectedRowsError,
    config_from_exec_properties,
    custom_config_proto,
    read_rejected_summary,
    rejected_rows_uri,
)
from components.text_example_gen.readers import InputError, check_input, input_split_config

__all__ = [
    "Executor",
    "InputError",
    "RejectedRowsError",
    "check_input",
    "config_from_exec_properties",
    "custom_config_proto",
    "input_split_config",
    "read_rejected_summary",
    "rejected_rows_uri",
    "text_example_gen",
]
