"""The drift check between spans: DriftCheck (this span's statistics against those of the data the
model in production was trained on, with TFX's DistributionValidator) and DriftGate."""

from components.drift.component import DriftCheck, validator_config
from components.drift.gate import DriftGate

__all__ = ["DriftCheck", "DriftGate", "validator_config"]
