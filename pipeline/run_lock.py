"""One run at a time per run folder: a lock that names its holder and dies with it.

A local run holds an exclusive `flock` on `<run folder>/run.lock` from before the pipeline starts
until its report has been read. A second run on the same folder stops at once with a message that
names the holder (pid, host, start time, run id), which the holder writes into the file. The
kernel releases the lock when its process ends, however it ends, so the file a killed run leaves
behind blocks nothing: the next run takes the lock and overwrites the holder.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from components.core.errors import UserError

LOCK_FILE = "run.lock"


class OutputInUseError(UserError, RuntimeError):
    """Another run holds the run folder."""


def _holder_text(path: Path) -> str:
    try:
        holder = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError) as error:
        return f"a holder whose record in {path} cannot be read ({error})"
    if not holder:
        return f"a process that has not yet recorded itself in {path}"
    return (
        f"pid {holder.get('pid')} on {holder.get('host')}, started {holder.get('started')}"
        f" (run {holder.get('run_id')})"
    )


def _lock(fd: int, folder: Path) -> None:
    """Takes the lock on open lock file `fd` of `folder`, or raises OutputInUseError at once."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise OutputInUseError(
            f"the run folder {folder} is in use by another bertpipe run:"
            f" {_holder_text(folder / LOCK_FILE)}. Wait for it to end, or pass another --output."
            " (A run that was killed holds nothing: its lock ends with its process.)"
        ) from None
    except OSError as error:
        if error.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
            raise OutputInUseError(
                f"cannot lock the run folder {folder}: its file system does not support file"
                f" locks ({error.strerror}); use a local folder for --output"
            ) from None
        raise


def check_free(folder: str | Path) -> None:
    """Raises OutputInUseError when a run holds `folder` now (a quick check before the imports
    and setup of a run; the run itself then takes the lock with `hold_output`)."""
    path = Path(folder) / LOCK_FILE
    if not path.exists():
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        _lock(fd, Path(folder))
    finally:
        os.close(fd)  # releases the lock if it was taken


@contextmanager
def hold_output(folder: str | Path, run_id: str) -> Iterator[Path]:
    """Holds the lock on run folder `folder` (created if needed) while the block runs.

    Raises OutputInUseError at once when another process holds it.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        _lock(fd, folder)
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
            "run_id": run_id,
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode("utf-8"), 0)
        os.fsync(fd)
        try:
            yield path
        finally:
            # Emptied, not removed: removing it would let a waiting process lock a file that
            # the next one no longer sees.
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the lock
