"""bertpipe's orchestration: `create_pipeline`, the local runners, the CLI, the report, Kubeflow.

Imports `components`; nothing in `components` imports this package.
"""

from components.core import env  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
