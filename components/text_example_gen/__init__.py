"""ExampleGen over raw text: CSV, TSV, JSON Lines and folder-per-label files.

component.py (the TFX component), executor.py (the Beam executor and its row accounting),
parsing.py (rows of one file, accepted or rejected with a reason), input_layout.py (files, splits
and spans of the input; the preflight).
"""

from components.text_example_gen.component import TextExampleGen, text_example_gen
from components.text_example_gen.executor import (
    Executor,
    RejectedRowsError,
    config_from_exec_properties,
    custom_config_proto,
)
from components.text_example_gen.input_layout import (
    check_input,
    input_split_config,
    read_accepted_rows,
)
from components.text_example_gen.parsing import InputError

__all__ = [
    "Executor",
    "InputError",
    "RejectedRowsError",
    "TextExampleGen",
    "check_input",
    "config_from_exec_properties",
    "custom_config_proto",
    "input_split_config",
    "read_accepted_rows",
    "text_example_gen",
]
