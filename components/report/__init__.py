"""The Report room: the run report as a pipeline step (after the Evaluator and the Pusher).

`facts.py` reads what happened from the run's artifacts; `render.py` writes it as Markdown, a
self-contained HTML page and a terminal summary; `executor.py` writes the files; `artifacts.py`
is the HTML artifact type the Kubeflow Pipelines UI displays; `component.py` is the component.
"""

from components.report.component import Report

__all__ = ["Report"]
