"""Custom TFX components and the module code (preprocessing_fn, run_fn) that TFX calls."""

import pipeline as _pipeline  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
