"""The process environment that TensorFlow, tf-keras and transformers need, in one place.

transformers' TF classes and TFX 1.16 need Keras 2 (tf-keras), which TensorFlow picks when
`TF_USE_LEGACY_KERAS` is set before it is first imported; nothing may reach a model hub at run
time; TensorFlow's C++ INFO lines say nothing a user acts on. Importing `components` (or
`pipeline`) applies these defaults without overriding what the environment already says.

Processes that import TensorFlow before this project (the containers of the Kubeflow package,
whose entry point is TFX's) get the same values from `build/Dockerfile`'s `ENV`, which a test
keeps equal to `DEFAULTS`.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import MutableMapping

DEFAULTS: dict[str, str] = {
    "TF_USE_LEGACY_KERAS": "1",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TF_CPP_MIN_LOG_LEVEL": "2",
}


# TF_CPP_MIN_LOG_LEVEL of a `bertpipe` command on this machine: its quiet default hides the C++
# start-up errors too (cuFFT/cuDNN/cuBLAS registration, oneDNN), which a user cannot act on;
# --verbose shows every line. (The containers keep DEFAULTS: their logs are read when a step
# failed.)
TF_LOG_LEVELS = {"quiet": "3", "verbose": "0"}
# The variables of DEFAULTS that the user's environment set: neither default overrides them.
SET_BY_USER = frozenset(name for name in DEFAULTS if name in os.environ)


def apply(environ: MutableMapping[str, str] = os.environ) -> MutableMapping[str, str]:
    """Sets every default that `environ` does not set yet; returns `environ`."""
    for name, value in DEFAULTS.items():
        environ.setdefault(name, value)
    return environ


def set_tf_log_level(verbose: bool, environ: MutableMapping[str, str] = os.environ) -> None:
    """Sets TF_CPP_MIN_LOG_LEVEL for a command (TF_LOG_LEVELS), unless the user set it; effective
    when TensorFlow is imported afterwards."""
    if "TF_CPP_MIN_LOG_LEVEL" not in SET_BY_USER:
        environ["TF_CPP_MIN_LOG_LEVEL"] = TF_LOG_LEVELS["verbose" if verbose else "quiet"]


apply()


# The C++ log lines of XLA's start-up in this process, which TF 2.16 writes through absl's log
# before anything initialises it: TF_CPP_MIN_LOG_LEVEL does not reach them.
_ABSL_INFO_LINE = re.compile(r"^I\d{4} [\d:.]+\s+\d+ [\w./-]+:\d+\] ")
_ABSL_PRE_INIT = "WARNING: All log messages before absl::InitializeLog() is called are written"


def start_xla_quietly(environ: MutableMapping[str, str] = os.environ) -> None:
    """Starts XLA in this process (a trivial compiled function) so that its start-up INFO lines
    ("XLA service ... initialized", "Compiled cluster using XLA!", each logged once per process)
    are held back where TF_CPP_MIN_LOG_LEVEL hides INFO (1 or more, as every `bertpipe` command
    but --verbose sets it): they are written to stderr by absl, whatever TF_CPP_MIN_LOG_LEVEL
    says. Every other line written to stderr meanwhile is passed on."""
    import tensorflow as tf

    def compile_once():
        with tf.init_scope():  # eagerly, also when called while a function is being traced
            tf.function(jit_compile=True)(lambda x: x + 1)(tf.constant(1.0)).numpy()

    if int(environ.get("TF_CPP_MIN_LOG_LEVEL", "0") or 0) < 1:
        compile_once()
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            compile_once()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        held.seek(0)
        lines = held.read().decode("utf-8", "replace").splitlines(keepends=True)
    kept = [
        line
        for line in lines
        if not (_ABSL_INFO_LINE.match(line) or line.startswith(_ABSL_PRE_INIT))
    ]
    sys.stderr.write("".join(kept))
