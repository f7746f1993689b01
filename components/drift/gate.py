"""A gate after DriftCheck: a span that drifted stops the run before the Trainer.

DriftCheck only records what it found (so that its comparison outlives a run that stops: TFX
deletes a failed step's outputs). `DriftGate` reads it and, when a check drifted and `on_drift`
is `stop` (a runtime setting, so an operator can let one run through: `report`), fails with one
line naming the feature, the distance and the threshold, and where the comparison is.
"""

import logging
import os

from tfx.dsl.component.experimental.annotations import InputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types.experimental import simple_artifacts

from components.core.artifacts import DRIFT_MARKDOWN_FILE, read_drift_result
from components.core.config import DriftConfig
from components.core.drift import DriftResult
from components.core.errors import UserError


class DriftError(UserError, RuntimeError):
    """The span drifted from the data of the model in production."""


def drift_line(result: DriftResult, comparison: str, stopping: bool) -> str:
    """The one line of a span that drifted: the first drifted check, how many others, what
    happens next and where the comparison is."""
    first, *others = result.drifted
    more = f" (and {len(others)} more)" if others else ""
    span = f"span {result.span}" if result.span else "the data"
    then = (
        "stopping before the Trainer, nothing trained or pushed (to go on anyway:"
        " drift.on_drift report, or a larger threshold)"
        if stopping
        else "going on (drift.on_drift is report)"
    )
    return (
        f"{span} drifted from {result.baseline.describe()}: {first.describe()}{more}; {then}."
        f" The comparison: {comparison}"
    )


def check_drift(drift_uri: str, on_drift: str) -> DriftResult:
    """Raises DriftError when the DriftCheck result at `drift_uri` drifted and `on_drift` is
    stop; logs a warning when it drifted and on_drift is report. Returns the result."""
    stop = DriftConfig(on_drift=on_drift).on_drift == "stop"  # checks the value
    result = read_drift_result(drift_uri)
    if result is None:
        raise FileNotFoundError(f"DriftCheck wrote no drift result into {drift_uri}")
    if not result.drifted:
        logging.info(result.headline())
        return result
    comparison = os.path.join(drift_uri, DRIFT_MARKDOWN_FILE)
    if stop:
        raise DriftError(drift_line(result, comparison, stopping=True))
    logging.warning(drift_line(result, comparison, stopping=False))
    return result


# Stops the run when the span drifted (on_drift: stop); the Trainer runs after it.
@component
def DriftGate(  # noqa: N802
    drift: InputArtifact[simple_artifacts.File],
    on_drift: Parameter[str] = "stop",
) -> None:
    check_drift(drift.uri, on_drift)
