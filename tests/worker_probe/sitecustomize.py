"""Loaded at start-up by every Python process of the Beam worker pool that
tests/test_kubeflow_local_run.py starts (this folder is first on the pool's PYTHONPATH).

When such a process imports tensorflow_text, this records, right after the import, the process id,
its parent's id and which of the tokenizer's ops are registered in it, as
$BERTPIPE_WORKER_PROBE_DIR/<pid>.json. The test reads these files to see that the SDK worker
processes, not only the launcher, registered the ops that the transform graph and the exported
model use.
"""

import importlib.abc
import json
import os
import sys

PROBE_DIR = os.environ.get("BERTPIPE_WORKER_PROBE_DIR")
TOKENIZER_OPS = ("CaseFoldUTF8", "WordpieceTokenizeWithOffsets", "RegexSplitWithOffsets")


def _record() -> None:
    from tensorflow.python.framework import op_def_registry

    registered = [op for op in TOKENIZER_OPS if op_def_registry.get(op) is not None]
    path = os.path.join(PROBE_DIR, f"{os.getpid()}.json")
    with open(path + ".partial", "w", encoding="utf-8") as handle:
        json.dump({"pid": os.getpid(), "ppid": os.getppid(), "registered": registered}, handle)
    os.replace(path + ".partial", path)


class _AfterTensorflowText(importlib.abc.MetaPathFinder):
    """Finds tensorflow_text with the other finders and records once its module has run."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "tensorflow_text":
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        exec_module = spec.loader.exec_module

        def exec_and_record(module):
            exec_module(module)
            _record()

        spec.loader.exec_module = exec_and_record
        return spec


if PROBE_DIR:
    sys.meta_path.insert(0, _AfterTensorflowText())
