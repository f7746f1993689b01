"""The one base class of the user's mistakes.

A `UserError` is raised for a mistake in the user's input or settings (a missing file, a column
that is not there, too many rejected rows, data that fails the schema, a flag out of range, a TPU
that cannot be reached): something the user can fix from the message alone. The CLI prints such an
error as one line on stderr and exits with status 2, with the traceback only under `--debug`;
every other exception is a bug and keeps its traceback. Each component's own error class derives
from it, so the CLI needs to know no component.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake the user can fix from the message alone (see the module docstring)."""
