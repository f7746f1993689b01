"""The Evaluator room: TFMA metrics and slices, and the blessing rule.

`eval_config.py` builds the EvalConfig (metrics, slices, bounds) from the typed config;
`metrics.py` holds the TFMA metrics computed from the top-1 prediction (per class, macro, balanced
accuracy and its lift over the majority-class baseline); `executor.py` applies the run's bounds
and adds the binary AUC; `component.py` is the TFX component.
"""

from components.evaluator.component import Evaluator
from components.evaluator.eval_config import build_eval_config

__all__ = ["Evaluator", "build_eval_config"]
