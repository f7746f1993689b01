"""ExampleGen over raw text: CSV, TSV, JSON Lines and folder-per-label files.

component.py (the TFX component), executor.py (the Beam executor and its row accounting),
read_files.py (files to tf.Examples in Beam, for ExampleGen and batch scoring), input_layout.py (files, splits and spans of the input; the preflight), and the parsing of one
file into rows, accepted or rejected with a reason: parsing.py (the format, and the entry points),
rows.py (a row and why it was rejected), text_files.py (the binary-file check, decoding, lines
read a chunk at a time), delimited.py (CSV/TSV records), columns.py (a CSV/TSV file's header and
columns, the headerless guess), jsonl.py (JSON Lines).
"""

from components.text_example_gen.component import TextExampleGen, text_example_gen
from components.text_example_gen.executor import (
    Executor,
    RejectedRowsError,
    config_from_exec_properties,
    custom_config_proto,
)
from components.text_example_gen.input_layout import (
    AcceptedRows,
    check_input,
    input_split_config,
    read_accepted_rows,
    scoring_input,
)
from components.text_example_gen.read_files import (
    COUNTS,
    EXAMPLES,
    REJECTED,
    ReadTextFiles,
    row_example,
    sum_counts,
)
from components.text_example_gen.rows import InputError

__all__ = [
    "COUNTS",
    "EXAMPLES",
    "REJECTED",
    "AcceptedRows",
    "Executor",
    "InputError",
    "ReadTextFiles",
    "RejectedRowsError",
    "TextExampleGen",
    "check_input",
    "config_from_exec_properties",
    "custom_config_proto",
    "input_split_config",
    "read_accepted_rows",
    "row_example",
    "scoring_input",
    "sum_counts",
    "text_example_gen",
]
