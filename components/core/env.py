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
