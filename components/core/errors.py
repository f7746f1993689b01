"""The one base class of the user's mistakes.

A `UserError` is raised for a mistake in the user's input or settings (a missing file, a column
that is not there, too many rejected rows, data that fails the schema, a flag out of range, a TPU
that cannot be reached): something the user can fix from the message alone. The CLI prints such an
error as one line on stderr and exits with the error's `exit_status`, with the traceback only under
`--debug`; every other exception is a bug and keeps its traceback. Each component's own error
class derives from it, so the CLI needs to know no component.

`exit_status` is the CLI's exit status for the error: 2 by default (the command was given something
it cannot take). A subclass sets 1 where its error says that the user's work was started and
failed, as a failed process exits 1 (`bertpipe run-package`'s LocalRunError: a task of the
package failed, or the package cannot run here).
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake the user can fix from the message alone (see the module docstring)."""

    exit_status: int = 2
