"""Custom TFX components, the module code TFX calls (preprocessing_fn, run_fn), and their core.

One folder per component with more than one module (`text_example_gen/`, `transform/`,
`trainer/`, `evaluator/`, `report/`), one file per single-module component, and `core/`, which they
all share.
"""

from components.core import env  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
