"""The Report step's container entry point on Kubeflow: TFX's KFP v2 entry point, with the report's
`system.HTML` artifact type mapped to its class (artifacts.py says why the type has that name).

TFX's entry point rebuilds each input and output artifact from its schema title: TFX's own titles
through `compiler_utils.TITLE_TO_CLASS_PATH`, any other title by importing it as
`<module>.<Class>`, which for `system.HTML` would need a top-level package named `system`.
Instead, this module adds the title to that table, then runs TFX's entry point unchanged, with
the same arguments. `bertpipe compile` starts the Report task with
`python -m components.report.entrypoint` (pipeline/kubeflow/compile.py); every other task keeps
TFX's own entry point. The table is a module-level dict of TFX 1.16 (pinned); a test runs the
compiled Report task's command in a fresh process.
"""

from __future__ import annotations

from absl import app
from tfx.orchestration.kubeflow.v2 import compiler_utils
from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_run_executor
from tfx.utils import name_utils

from components.report.artifacts import HTML

MODULE = "components.report.entrypoint"


def register_artifact_types() -> None:
    """Maps the report's artifact titles to their classes for TFX's KFP v2 entry point."""
    compiler_utils.TITLE_TO_CLASS_PATH[HTML.TYPE_NAME] = name_utils.get_full_name(HTML)


register_artifact_types()

if __name__ == "__main__":
    app.run(kubeflow_v2_run_executor.main, flags_parser=kubeflow_v2_run_executor._parse_flags)
