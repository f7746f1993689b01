"""Kubeflow Pipelines' `system` artifact types that this project's steps output, importable as
`system.<Type>` (see components/report/artifacts.py for why).

TFX's Kubeflow entry point finds the class of a custom artifact type by importing its schema title,
and the Kubeflow Pipelines UI displays only artifacts whose type is one of its own `system.*` titles.
Nothing in this project imports this package; the step containers do.
"""

from components.report.artifacts import HTML

__all__ = ["HTML"]
