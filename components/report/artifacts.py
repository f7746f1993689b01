"""The report's artifact types: an HTML page that the Kubeflow Pipelines UI displays.

How a TFX 1.16 artifact reaches the KFP UI as HTML (read in tfx/orchestration/kubeflow/v2/
compiler_utils.py and container/kubeflow_v2_entrypoint_utils.py, and in kubeflow/pipelines'
backend/src/v2/metadata/client.go and frontend/src/components/viewers/MetricsVisualizations.tsx):

- TFX's KFP v2 compiler types an artifact by an `instance_schema` whose `title` is `tfx.<Type>`
  for TFX's own types, and the class's `TYPE_NAME` for any other class (which must then look like
  `<namespace>.<Title>`: one dot).
- The KFP backend records each output artifact in MLMD with that title as its type name (and a
  `display_name` custom property, by default the output's name). The UI's Visualization tab
  renders artifacts of type `system.HTML` (and `system.Markdown`) that have a display name, by
  reading the object at the artifact's URI: the URI must be the HTML file itself.
- In the step's container, TFX's entry point turns a custom title back into a class by importing
  the title as `<module>.<Class>`.

So `HTML` below has TYPE_NAME `system.HTML`; the Report step's container starts through
entrypoint.py, which maps that title to this class in TFX's table of titles before running TFX's
entry point (importing the title itself would need a top-level package named `system`); and it is
a ValueArtifact, whose URI is a file (locally TFX names it `<output folder>/value`; on Kubeflow it
is the URI KFP gives).
"""

from __future__ import annotations

from tfx.types.value_artifact import ValueArtifact

DISPLAY_NAME = "display_name"  # the custom property the KFP UI lists visualizations by


class HTML(ValueArtifact):
    """A self-contained HTML page, stored as the file at the artifact's URI."""

    TYPE_NAME = "system.HTML"

    def encode(self, value: str) -> bytes:
        return value.encode("utf-8")

    def decode(self, serialized_value: bytes) -> str:
        return serialized_value.decode("utf-8")
