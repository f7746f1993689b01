"""What a `bertpipe` command prints: a quiet console by default, everything with `--verbose`, and
the user's mistakes as one line.

A default run shows the component progress lines, the training progress bar, the warnings a user
can act on, and the summary. The libraries underneath print much more that says nothing about
this run: TensorFlow's C++ start-up lines (silenced with TF_CPP_MIN_LOG_LEVEL, see
components/core/env.py), TFX's and TensorFlow Transform's internal notices, Beam's python-snappy
notice, TensorFlow's own deprecation notices, transformers' deprecation and weight-loading notices
(its verbosity) and Python warnings raised inside the libraries. `configure` turns those off by
logger and level, and by known message (`NOISE`): an unknown warning still shows.

A `UserError` (components/core/errors.py) is a mistake the user fixes from its message;
`report_user_error` prints it as `bertpipe <command>: <message>` with config keys written as
flags. The orchestrators log a failing component's exception before re-raising it; the quiet
console drops those records for a user error, which the CLI reports itself.
"""

from __future__ import annotations

import atexit
import gc
import logging
import os
import re
import sys
import traceback
import warnings
from typing import NoReturn

from components.core import env
from components.core.errors import UserError
from components.core.settings import with_flag_names

# (logger name or its prefix, message pattern) of the log records that say nothing a user of a
# run acts on.
NOISE: tuple[tuple[str, re.Pattern], ...] = tuple(
    (logger, re.compile(pattern))
    for logger, pattern in (
        ("absl", r"^ArtifactQuery\.property_predicate is not supported"),
        ("absl", r"^Tables initialized inside a tf\.function"),
        ("absl", r"instance dicts"),
        ("absl", r"^Examples artifact does not have payload_format custom property"),
        ("apache_beam", r"^Couldn't find python-snappy"),
        ("tensorflow", r"is deprecated and will be removed"),
        ("tensorflow", r"^SavedModel saved prior to TF 2\.5 detected"),
    )
)
# Python warnings raised inside these libraries (not by this project).
LIBRARY_WARNINGS = ("google.api_core", "tensorflow_model_analysis", "apache_beam", "tfx")
LOG_FORMAT = "%(levelname)s:%(name)s:%(message)s"


def user_error(error: BaseException) -> UserError | None:
    """The UserError that caused `error`, looking through the exceptions it was raised from or
    while handling (an orchestrator may wrap a component's error), or None."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, UserError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def error_line(command: str, error: BaseException) -> str:
    """`bertpipe <command>: <message>`, config keys written as their flags."""
    return f"bertpipe {command}: {with_flag_names(str(error))}"


def report_user_error(command: str, error: BaseException, debug: bool) -> None:
    """Prints the user error behind `error` on stderr as one line (after the traceback of `error`
    with `debug`)."""
    if debug:
        traceback.print_exception(error)
    print(error_line(command, user_error(error) or error), file=sys.stderr, flush=True)


class QuietFilter(logging.Filter):
    """Drops the records of `NOISE`, and the records that log a user error (the CLI prints it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None and user_error(record.exc_info[1]):
            return False
        if record.levelno >= logging.ERROR and _is_failed_execution(record):
            return False
        name, message = record.name, record.getMessage()
        return not any(
            (name == logger or name.startswith(logger + ".")) and pattern.search(message)
            for logger, pattern in NOISE
        )


class QuietFormatter(logging.Formatter):
    """`warning: <message>`, config keys written as their flags: the logger's name says nothing
    to a user of the run (`--verbose` keeps LOG_FORMAT)."""

    def format(self, record: logging.LogRecord) -> str:
        text = f"{record.levelname.lower()}: {with_flag_names(record.getMessage())}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def _is_failed_execution(record: logging.LogRecord) -> bool:
    """TFX's launcher logs "Execution N failed." before re-raising what the CLI then reports."""
    return record.name == "absl" and re.match(r"^Execution \d+ failed\.$", record.getMessage())


# Whether this process is the `bertpipe` program (main() without argv), not a program that calls
# `main` in its own process (the tests): only then may a command act on the process as a whole.
_program = False


def configure(verbose: bool, program: bool = False) -> None:
    """Sets up the console of a command before it imports TensorFlow: quiet, or (`verbose`) every
    log line of every library. `program`: this process is the `bertpipe` program's own."""
    global _program
    _program = program
    env.set_tf_log_level(verbose)
    root = logging.getLogger()
    # The console's own handler: the one the libraries' own logging.basicConfig calls would add,
    # made first. Where the program that calls `main` has its handlers already (pytest's log
    # capture), those are left as they are.
    console = None
    if not root.handlers:
        logging.basicConfig(format=LOG_FORMAT)
        console = root.handlers[0]
    if verbose:
        return
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    if console is not None:
        console.addFilter(QuietFilter())
        console.setFormatter(QuietFormatter())
    for module in LIBRARY_WARNINGS:
        warnings.filterwarnings("ignore", module=re.escape(module) + r"(\..*)?$")
    # google-api-core warns about the Python version while it is imported (by TFX).
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"google\..*")


def imports_done() -> None:
    """Called by a command once the libraries it runs are imported. In the `bertpipe` program,
    everything alive now (the modules of TensorFlow, TFX and Beam: about 630,000 objects) is moved
    out of the garbage collector's reach (`gc.freeze`): a full collection then scans only what the
    command itself creates, not the libraries again each time. A run of the bundled default spent
    3.3 s in full collections, 2.1 s with this. In another program's process (tests calling
    `main`) nothing is frozen: what those hold now would never be collected afterwards.
    """
    if _program:
        gc.freeze()


def leave(status: int) -> NoReturn:
    """Ends the process with `status` once a command is done: the exit handlers run, the output
    is flushed, and then the process exits without tearing down its modules. The interpreter's
    teardown of TensorFlow's, TFX's and Beam's modules does nothing a finished command needs and
    took 4 s after the last line of a run (measured on a loaded machine, BENCHMARKS.md section 9).
    """
    atexit._run_exitfuncs()  # what a normal exit runs: logging's shutdown, tempfile's cleanup
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
