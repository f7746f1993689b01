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


def apply(environ: MutableMapping[str, str] = os.environ) -> MutableMapping[str, str]:
    """Sets every default that `environ` does not set yet; returns `environ`."""
    for name, value in DEFAULTS.items():
        environ.setdefault(name, value)
    return environ


apply()
