"""Kubeflow Pipelines: compile the pipeline into a KFP v2 package, read packages, run them here,
submit and schedule runs.

compile.py (`bertpipe compile`: KubeflowV2DagRunner and what it does not offer), settings.py
(the settings of `bertpipe compile` alone: the `kubeflow` and `vertex` sections, CompileConfig),
vertex.py (the Trainer's Vertex AI job), package.py (the one reader of a compiled package and
its parameters), local_run.py (`bertpipe run-package`: a package through kfp.local on this
machine), local_spec.py (the package's spec made runnable there) and task_starter.py (a task's
process, forked from a warm Python or fresh), cron.py (KFP's six-field
cron), client.py (`bertpipe submit` / `schedule` through
kfp.Client).
"""
