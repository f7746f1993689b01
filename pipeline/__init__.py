"""bertpipe's orchestration: `create_pipeline`, the local runners (one run per run folder), the
CLI, reading a run's artifacts and report, Kubeflow.

Imports `components`; nothing in `components` imports this package.
"""

from components.core import env  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
