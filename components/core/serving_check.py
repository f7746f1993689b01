"""What the serving check found, typed: the serving_check.json of its InfraBlessing output.

The serving check (components/serving_check/) loads the candidate in a fresh process as a model
server does and calls its signatures; it writes TFX's InfraBlessing artifact (the `blessed`
custom property and an INFRA_BLESSED or INFRA_NOT_BLESSED file, as TFX's InfraValidator does, which
TFX's Pusher reads) with `ServingCheckResult` beside them. The run report reads it back with
`read_serving_check`; an InfraBlessing written by TFX's own InfraValidator (`bertpipe compile
--serving-check kubernetes`) has no such file, and the report then says only what its
`blessed` property says.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from typing import Any

from tfx.dsl.io import fileio

SERVING_CHECK_FILE = "serving_check.json"
# TFX's InfraBlessing: its custom properties (tfx.components.infra_validator.executor, read by
# tfx.components.util.model_utils.is_infra_validated and the Pusher) and marker files.
INFRA_BLESSED_PROPERTY = "blessed"
INFRA_HAS_MODEL_PROPERTY = "has_model"
INFRA_BLESSED_FILE = "INFRA_BLESSED"
INFRA_NOT_BLESSED_FILE = "INFRA_NOT_BLESSED"
# The signature a failure names when the model did not load, or the check's process failed.
LOAD = "(load)"
PROCESS = "(process)"


@dataclass(frozen=True)
class CheckFailure:
    """The first check the candidate failed: which signature, which check, and what was seen."""

    signature: str
    check: str
    detail: str

    @property
    def line(self) -> str:
        return f"{self.signature}: {self.check}: {self.detail}"


@dataclass(frozen=True)
class Latency:
    """What the fresh process measured: the load, the first request after it (batch 1), and the
    steady median latency at batch 1 and at batch 32 once every signature had been called."""

    load_s: float
    first_request_ms: float
    batch_1_ms: float
    batch_32_ms: float


@dataclass(frozen=True)
class ServingCheckResult:
    """The outcome of one serving check (see the module docstring)."""

    passed: bool
    failure: CheckFailure | None = None
    latency: Latency | None = None
    signatures: tuple[str, ...] = ()  # the signatures called
    canaries: int = 0  # the canary texts sent to each of them
    tensorflow_version: str = ""  # of the fresh process
    tensorflow_text_version: str = ""
    seconds: float = 0.0  # the fresh process's wall time, request to answer

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ServingCheckResult:
        failure, latency = values.get("failure"), values.get("latency")
        return cls(
            **{
                **values,
                "failure": CheckFailure(**failure) if failure else None,
                "latency": Latency(**latency) if latency else None,
                "signatures": tuple(values.get("signatures", ())),
            }
        )


def write_serving_check(blessing_uri: str, result: ServingCheckResult) -> None:
    fileio.makedirs(blessing_uri)
    with fileio.open(os.path.join(blessing_uri, SERVING_CHECK_FILE), "w") as handle:
        handle.write(result.to_json() + "\n")


def read_serving_check(blessing_uri: str) -> ServingCheckResult | None:
    """The serving check's result in an InfraBlessing artifact (None: TFX's InfraValidator wrote
    it, or nothing did)."""
    path = os.path.join(blessing_uri, SERVING_CHECK_FILE)
    if not fileio.exists(path):
        return None
    with fileio.open(path) as handle:
        return ServingCheckResult.from_dict(json.loads(handle.read()))
