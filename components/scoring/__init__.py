"""Batch scoring with the model in production: the local scorer and the scoring package's steps.

score.py (`ScoreExamples`: inference examples to scored rows in Beam, for `bertpipe predict
--data`), model.py (the production model as TFX's BulkInferrer can run it), component.py (the
scoring package's own steps: `ScoringModel` before TFX's BulkInferrer, `ScoreWriter` after it) and
writer.py (BulkInferrer's prediction logs to JSON lines and CSV in the output folder). What a
scored row is and how it is written: components/core/scoring.py.
"""

from components.scoring.component import SCORES_KEY, ScoreWriter, ScoringModel
from components.scoring.score import ScoreExamples, TallyScores

__all__ = ["SCORES_KEY", "ScoreExamples", "ScoreWriter", "ScoringModel", "TallyScores"]
