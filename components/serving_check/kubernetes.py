"""TFX's own InfraValidator in place of the serving check, for a cluster that offers TF Serving
(`bertpipe compile --serving-check kubernetes --serving-image IMAGE`).

TFX's InfraValidator starts IMAGE as a pod beside its own (KubernetesConfig), waits until the model
server has loaded the candidate, sends it Predict requests on `serving_examples` built from the
eval split's serialized tf.Examples and, with `make_warmup`, writes the infra-blessed model with
those requests as its warmup file: the same InfraBlessing, under the same node id, that the
Pusher takes from the serving check. It needs a Kubernetes cluster and cannot run here.
"""

from __future__ import annotations

import re

from tfx import types
from tfx.components.infra_validator import executor as infra_validator_executor
from tfx.dsl.components.base import base_component, base_driver, executor_spec
from tfx.proto import infra_validator_pb2
from tfx.types import standard_artifacts, standard_component_specs

from components.core.artifacts import EVAL_SPLIT
from components.core.serving import SERVING_EXAMPLES
from components.core.settings import ConfigError
from components.serving_check.component import ServingCheck

# How many eval examples become requests (and warmup records); what a server gets to load.
REQUESTS = 8
MAX_LOADING_S = 600
TRIES = 3
# name[:tag] or name@digest; a colon inside the registry part (host:port) is not a tag.
_IMAGE = re.compile(r"^(?P<name>[^@\s]+?)(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>\S+))?$")


def split_image(image: str) -> tuple[str, str, str]:
    """(name, tag, digest) of a container image reference; a ConfigError without a tag or
    digest (the image a cluster pulls must be named exactly)."""
    match = _IMAGE.match(image.strip())
    if not match or "/" in (match["tag"] or "") or not (match["tag"] or match["digest"]):
        raise ConfigError(
            f"--serving-image must name a TF Serving image as name:tag or name@sha256:...,"
            f" got {image!r}"
        )
    return match["name"], match["tag"] or "", match["digest"] or ""


class InfraValidator(base_component.BaseComponent):
    """TFX's InfraValidator, its spec and executor, in a class that TFX's KFP v2 compiler
    compiles: that compiler refuses TFX's own InfraValidator class outright
    (tfx/orchestration/kubeflow/v2/step_builder.py: 'The component type ... is not
    supported'), not its executor, which is what the step runs."""

    SPEC_CLASS = standard_component_specs.InfraValidatorSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(infra_validator_executor.Executor)
    DRIVER_CLASS = base_driver.BaseDriver


def kubernetes_infra_validator(
    *, model: types.BaseChannel, examples: types.BaseChannel, image: str
) -> InfraValidator:
    """TFX's InfraValidator on Kubernetes with the TF Serving `image`, as the ServingCheck node."""
    name, tag, digest = split_image(image)
    serving_spec = infra_validator_pb2.ServingSpec(
        tensorflow_serving=infra_validator_pb2.TensorFlowServing(
            image_name=name, tags=[tag] if tag else [], digests=[digest] if digest else []
        ),
        kubernetes=infra_validator_pb2.KubernetesConfig(),
    )
    request_spec = infra_validator_pb2.RequestSpec(
        tensorflow_serving=infra_validator_pb2.TensorFlowServingRequestSpec(
            signature_names=[SERVING_EXAMPLES]
        ),
        split_name=EVAL_SPLIT,
        num_examples=REQUESTS,
        make_warmup=True,
    )
    validation_spec = infra_validator_pb2.ValidationSpec(
        max_loading_time_seconds=MAX_LOADING_S, num_tries=TRIES
    )
    spec = standard_component_specs.InfraValidatorSpec(
        model=model,
        examples=examples,
        blessing=types.Channel(type=standard_artifacts.InfraBlessing),
        serving_spec=serving_spec,
        validation_spec=validation_spec,
        request_spec=request_spec,
    )
    return InfraValidator(spec=spec).with_id(ServingCheck.__name__)
