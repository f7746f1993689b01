"""The Report room: the run report as a pipeline step (after the Evaluator and the Pusher).

`facts.py` reads what happened from the run's artifacts; `sections.py` turns those facts into
the report's blocks, `render.py` writes the blocks as Markdown and as a self-contained HTML page,
`plots.py` draws the plots they show, `summary.py` writes the terminal summary; `executor.py`
writes the files; `artifacts.py` is the HTML artifact type the Kubeflow Pipelines UI displays;
`component.py` is the component.
"""

from components.report.component import Report

__all__ = ["Report"]
