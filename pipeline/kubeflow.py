"""Submitting the compiled pipeline to Kubeflow Pipelines: one run now, or a recurring run on a cron.

The package is the KFP v2 `PipelineSpec` YAML that TFX's `KubeflowV2DagRunner` writes (the
`.json` it writes by default is a Vertex `PipelineJob`, which KFP cannot run). Both `submit` and
`schedule` check everything they can before they touch the network, so a mistake costs a clear
`ValueError` instead of a failed run on the cluster:

- the package exists, is `.yaml`/`.yml`, and parses strictly as a `PipelineSpec` (unknown fields
  and wrong types are errors, as on the KFP API server), with a pipeline name and a root DAG;
- the run parameters are ones the pipeline declares, with values of the declared types, and every
  parameter without a default is given (the YAML that TFX writes carries no defaults);
- the cron expression has KFP's six fields (seconds first) with valid values.

Then they talk to the KFP v2beta1 REST API through `kfp.Client` (kfp 2.9): an unreachable
endpoint and every refusal of the API server surface as a `KubeflowError` with the server's message.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import ssl
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    import kfp
    from kfp.pipeline_spec import pipeline_spec_pb2

PACKAGE_SUFFIXES = (".yaml", ".yml")
HEALTHZ_PATH = "/apis/v2beta1/healthz"
# The KFP API server refuses recurring runs outside this range (recurring_run_server.go).
MAX_CONCURRENCY_RANGE = (1, 10)
PROBE_TIMEOUT_S = 10.0


class KubeflowError(RuntimeError):
    """The Kubeflow Pipelines API refused a request (the message carries the server's reason)."""


class EndpointUnreachableError(KubeflowError):
    """Nothing answered at the Kubeflow Pipelines endpoint."""


# -- cron -------------------------------------------------------------------------------------------
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


@dataclass(frozen=True)
class _CronField:
    name: str
    low: int
    high: int
    names: dict[str, int]
    allows_question_mark: bool = False


_CRON_FIELDS = (
    _CronField("second", 0, 59, {}),
    _CronField("minute", 0, 59, {}),
    _CronField("hour", 0, 23, {}),
    _CronField("day-of-month", 1, 31, {}, allows_question_mark=True),
    _CronField("month", 1, 12, {name: i + 1 for i, name in enumerate(_MONTHS)}),
    _CronField("day-of-week", 0, 6, {name: i for i, name in enumerate(_DAYS)}, True),
)
# Descriptors that KFP's cron library (robfig/cron) accepts in place of the six fields.
CRON_DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_CRON_LAYOUT = "second minute hour day-of-month month day-of-week"


def validate_cron(expression: str) -> str:
    """Checks a KFP cron expression and returns it with its fields separated by single spaces.

    KFP schedules with robfig/cron, whose expressions have six fields, seconds first:
    `second minute hour day-of-month month day-of-week` (e.g. `0 0 2 * * *` is 02:00 every day).
    Each field takes `*`, a value, a range `a-b`, a step `*/n`, `a/n` or `a-b/n`, or a comma list of
    those; months and weekdays also take names (JAN-DEC, SUN-SAT); `?` means "any" in the
    day-of-month and day-of-week fields. `@daily` and the other descriptors are accepted too.

    Raises ValueError naming the bad field. A five-field (Unix) expression gets its own message:
    KFP would silently read its first field as seconds and run at the wrong times.
    """
    if not isinstance(expression, str) or not expression.strip():
        raise ValueError(
            f"the cron expression is empty; KFP needs six fields: {_CRON_LAYOUT}"
            " (e.g. '0 0 2 * * *' for 02:00 every day)"
        )
    fields = expression.split()
    if fields[0].startswith("@"):
        if len(fields) == 1 and fields[0].lower() in CRON_DESCRIPTORS:
            return fields[0].lower()
        raise ValueError(
            f"unsupported cron descriptor {expression.strip()!r}; use six fields ({_CRON_LAYOUT})"
            f" or one of {', '.join(CRON_DESCRIPTORS)}"
        )
    if len(fields) == 5:
        suggestion = "0 " + " ".join(fields)
        raise ValueError(
            f"cron expression {expression.strip()!r} has five fields, but KFP cron expressions"
            f" have six fields with seconds first ({_CRON_LAYOUT}); KFP would read the first"
            f" field as seconds and run at the wrong times. For the usual meaning use the"
            f" six-field form {suggestion!r}"
        )
    if len(fields) != 6:
        raise ValueError(
            f"cron expression {expression.strip()!r} has {len(fields)} fields; KFP needs six,"
            f" seconds first ({_CRON_LAYOUT}), e.g. '0 0 2 * * *' for 02:00 every day"
        )
    for position, (text, spec) in enumerate(zip(fields, _CRON_FIELDS, strict=True), start=1):
        try:
            _check_cron_field(text, spec)
        except ValueError as error:
            raise ValueError(
                f"cron expression {expression.strip()!r}: field {position} ({spec.name},"
                f" {spec.low}-{spec.high}) is {text!r}: {error}"
            ) from None
    return " ".join(fields)


def _check_cron_field(text: str, spec: _CronField) -> None:
    for part in text.split(","):
        if not part:
            raise ValueError("empty element in a comma list")
        range_text, slash, step_text = part.partition("/")
        if slash and (not step_text.isdigit() or int(step_text) < 1):
            raise ValueError(f"the step {step_text!r} must be a whole number of at least 1")
        if range_text in ("*", "?"):
            if range_text == "?" and not spec.allows_question_mark:
                raise ValueError("'?' is only allowed in the day-of-month and day-of-week fields")
            continue
        low_text, dash, high_text = range_text.partition("-")
        low = _cron_value(low_text, spec)
        if dash:
            high = _cron_value(high_text, spec)
            if low > high:
                raise ValueError(f"the range {range_text!r} starts after it ends")


def _cron_value(text: str, spec: _CronField) -> int:
    if text.isdigit():
        value = int(text)
    elif text.upper() in spec.names:
        return spec.names[text.upper()]
    else:
        hint = f" or one of {'/'.join(spec.names)}" if spec.names else ""
        raise ValueError(f"{text!r} is not a number{hint}")
    if not spec.low <= value <= spec.high:
        raise ValueError(f"{value} is out of range {spec.low}-{spec.high}")
    return value


# -- the package ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PipelineParameter:
    """A run-time parameter that the pipeline's root declares."""

    name: str
    type: str  # a ParameterType (STRING, NUMBER_INTEGER, ...) or a deprecated PrimitiveType (INT, ...)
    required: bool


def load_package(package_path: str | Path) -> pipeline_spec_pb2.PipelineSpec:
    """Reads a KFP v2 pipeline package strictly, as the KFP API server does; returns the spec.

    The YAML may hold several documents: the PipelineSpec, then optional PlatformSpecs.
    Raises FileNotFoundError or ValueError with a message that names the file.
    """
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    path = Path(package_path)
    if not path.name.endswith(PACKAGE_SUFFIXES):
        raise ValueError(
            f"pipeline package {path} must be a .yaml or .yml file (a KFP v2 PipelineSpec);"
            " kfp 2.9 does not take .json packages, and TFX's default pipeline.json is a Vertex"
            " PipelineJob: compile with KubeflowV2DagRunner(output_filename='pipeline.yaml')"
        )
    if not path.is_file():
        raise FileNotFoundError(
            f"pipeline package {path} does not exist; compile the pipeline first"
        )
    try:
        documents = [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ValueError(f"pipeline package {path} is not valid YAML: {error}") from None
    if not documents:
        raise ValueError(f"pipeline package {path} is empty")
    if not all(isinstance(doc, dict) for doc in documents):
        raise ValueError(f"pipeline package {path}: every YAML document must be a mapping")
    try:
        spec = json_format.ParseDict(
            json.loads(json.dumps(documents[0])), pipeline_spec_pb2.PipelineSpec()
        )
        for platform in documents[1:]:
            json_format.ParseDict(
                json.loads(json.dumps(platform)), pipeline_spec_pb2.PlatformSpec()
            )
    except (json_format.ParseError, TypeError, ValueError) as error:
        raise ValueError(
            f"pipeline package {path} is not a valid KFP PipelineSpec: {error}"
        ) from None
    if not spec.pipeline_info.name:
        raise ValueError(f"pipeline package {path} has no pipelineInfo.name")
    if not spec.root.HasField("dag"):
        raise ValueError(f"pipeline package {path} has no root DAG")
    return spec


def pipeline_parameters(spec: pipeline_spec_pb2.PipelineSpec) -> dict[str, PipelineParameter]:
    """The run-time parameters that a PipelineSpec's root declares, by name."""
    from kfp.pipeline_spec import pipeline_spec_pb2

    parameter_types = pipeline_spec_pb2.ParameterType.ParameterTypeEnum
    primitive_types = pipeline_spec_pb2.PrimitiveType.PrimitiveTypeEnum
    result = {}
    for name, parameter in spec.root.input_definitions.parameters.items():
        if parameter.parameter_type:
            kind = parameter_types.Name(parameter.parameter_type)
        else:
            kind = primitive_types.Name(parameter.type)
        required = not parameter.HasField("default_value") and not parameter.is_optional
        result[name] = PipelineParameter(name, kind, required)
    return result


_PARAMETER_CHECKS = {
    "STRING": (str,),
    "NUMBER_INTEGER": (int,),
    "INT": (int,),
    "NUMBER_DOUBLE": (int, float),
    "DOUBLE": (int, float),
    "BOOLEAN": (bool,),
    "LIST": (list, tuple),
    "STRUCT": (dict,),
}


def check_parameters(
    spec: pipeline_spec_pb2.PipelineSpec, params: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Checks run parameters against what the pipeline declares; returns them as a plain dict."""
    params = dict(params or {})
    declared = pipeline_parameters(spec)
    unknown = sorted(set(params) - set(declared))
    if unknown:
        raise ValueError(
            f"unknown pipeline parameter(s) {unknown}; the pipeline declares"
            f" {sorted(declared) or 'none'}"
        )
    missing = sorted(name for name, p in declared.items() if p.required and name not in params)
    if missing:
        raise ValueError(
            f"missing pipeline parameter(s) {missing}: they have no default in the package"
        )
    for name, value in params.items():
        kind = declared[name].type
        allowed = _PARAMETER_CHECKS.get(kind)
        wrong_bool = isinstance(value, bool) and kind != "BOOLEAN"
        if allowed and (not isinstance(value, allowed) or wrong_bool):
            raise ValueError(
                f"pipeline parameter {name!r} is declared {kind}, got {type(value).__name__}"
                f" {value!r}"
            )
    return {name: list(v) if isinstance(v, tuple) else v for name, v in params.items()}


_PARSERS = {
    "STRING": str,
    "NUMBER_INTEGER": int,
    "INT": int,
    "NUMBER_DOUBLE": float,
    "DOUBLE": float,
    "BOOLEAN": lambda text: {"true": True, "false": False}[text.lower()],
    "LIST": json.loads,
    "STRUCT": json.loads,
}


def parse_parameter_values(package_path: str | Path, items: list[str]) -> dict[str, Any]:
    """`name=value` strings (from the command line) as values of the types the package declares."""
    declared = pipeline_parameters(load_package(package_path))
    values: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ValueError(f"parameter {item!r} must be name=value")
        if name not in declared:
            raise ValueError(
                f"unknown pipeline parameter {name!r}; {package_path} declares"
                f" {sorted(declared) or 'none'}"
            )
        kind = declared[name].type
        try:
            values[name] = _PARSERS.get(kind, str)(text)
        except (KeyError, ValueError) as error:
            raise ValueError(
                f"pipeline parameter {name!r} is declared {kind}; cannot read {text!r} as one"
                f" ({error})"
            ) from None
    return values


# -- the API ----------------------------------------------------------------------------------------
def _check_endpoint(endpoint: str) -> str:
    if not isinstance(endpoint, str) or not re.match(r"https?://[^/\s]+", endpoint):
        raise ValueError(
            f"KFP endpoint {endpoint!r} must be an http:// or https:// URL, e.g."
            " http://127.0.0.1:8888 after `kubectl port-forward -n kubeflow svc/ml-pipeline"
            " 8888:8888`, or https://<kubeflow host>/pipeline"
        )
    return endpoint.rstrip("/")


def _probe(endpoint: str, client_options: Mapping[str, Any], timeout: float) -> None:
    """Fails fast and clearly when nothing answers at the endpoint.

    Without it kfp.Client fails with a urllib3 MaxRetryError that names the connection pool
    rather than the problem (or, on an HTTP error, retries its health check for 25 s). Any HTTP
    answer other than 404 counts as reachable: an auth proxy may answer 302/401/403 to a request
    without the credentials that kfp.Client will send.
    """
    headers = {}
    if client_options.get("existing_token"):
        headers["Authorization"] = f"Bearer {client_options['existing_token']}"
    if isinstance(client_options.get("cookies"), str):
        headers["Cookie"] = client_options["cookies"]
    proxy = client_options.get("proxy")
    handlers: list[urllib.request.BaseHandler] = [
        urllib.request.ProxyHandler({"http": proxy, "https": proxy} if proxy else {})
    ]
    if endpoint.startswith("https://"):
        context = ssl.create_default_context(cafile=client_options.get("ssl_ca_cert"))
        if client_options.get("verify_ssl") is False:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        handlers.append(urllib.request.HTTPSHandler(context=context))
    opener = urllib.request.build_opener(*handlers)
    request = urllib.request.Request(endpoint + HEALTHZ_PATH, headers=headers)
    try:
        with opener.open(request, timeout=timeout):
            return
    except urllib.error.HTTPError as error:
        if error.code == 404:
            raise KubeflowError(
                f"{endpoint} answered 404 Not Found for {HEALTHZ_PATH}: it does not look like a"
                " Kubeflow Pipelines API endpoint (the API is served at the root of"
                " svc/ml-pipeline:8888, or under /pipeline behind the Kubeflow gateway)"
            ) from None
        return
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise EndpointUnreachableError(
            f"cannot reach the Kubeflow Pipelines API at {endpoint}: {reason}"
        ) from None


def connect(
    endpoint: str,
    namespace: str | None = None,
    client_options: Mapping[str, Any] | None = None,
    probe_timeout: float = PROBE_TIMEOUT_S,
) -> kfp.Client:
    """A kfp.Client for the endpoint, after checking that something answers there.

    `client_options` go to kfp.Client (e.g. existing_token, cookies, ssl_ca_cert, proxy).
    """
    import kfp

    endpoint = _check_endpoint(endpoint)
    options = dict(client_options or {})
    _probe(endpoint, options, probe_timeout)
    if namespace:
        options["namespace"] = namespace
    with _api_errors("connect", endpoint), warnings.catch_warnings():
        # "This client only works with Kubeflow Pipeline v2.0.0-beta.2 and later versions."
        warnings.simplefilter("ignore", FutureWarning)
        return kfp.Client(host=endpoint, **options)


@contextlib.contextmanager
def _api_errors(action: str, endpoint: str) -> Iterator[None]:
    """Turns the errors of kfp_server_api / urllib3 into a KubeflowError with the server's reason."""
    import kfp_server_api
    import urllib3

    try:
        yield
    except kfp_server_api.ApiException as error:
        raise KubeflowError(
            f"Kubeflow Pipelines at {endpoint} refused to {action}: HTTP {error.status}"
            f" {error.reason}: {_server_message(error.body)}"
        ) from error
    except urllib3.exceptions.HTTPError as error:
        raise EndpointUnreachableError(
            f"lost the connection to Kubeflow Pipelines at {endpoint} while trying to {action}:"
            f" {error}"
        ) from error


def _server_message(body: Any) -> str:
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    try:
        payload = json.loads(body)
    except (TypeError, ValueError):
        return str(body or "").strip() or "(no message)"
    if isinstance(payload, dict):
        return str(payload.get("message") or payload.get("error") or payload)
    return str(payload)


def upload(
    client: kfp.Client, package_path: str | Path, pipeline_name: str, namespace: str | None = None
) -> tuple[str, str]:
    """Uploads the package as a version of the named pipeline; returns (pipeline id, version id).

    The version is named after the package's content hash, so uploading the same package again
    reuses the version instead of failing on a duplicate name. (A new pipeline's first version
    is the one the server creates with the pipeline, named like the pipeline.)

    Raises kfp_server_api.ApiException when the server refuses (callers wrap it).
    """
    path = Path(package_path)
    version_name = f"{pipeline_name}-{hashlib.sha256(path.read_bytes()).hexdigest()[:12]}"
    pipeline_id = client.get_pipeline_id(pipeline_name)
    if pipeline_id is None:
        pipeline = client.upload_pipeline(
            str(path), pipeline_name=pipeline_name, namespace=namespace
        )
        versions = client.list_pipeline_versions(
            pipeline.pipeline_id, page_size=1, sort_by="created_at desc"
        )
        if not versions.pipeline_versions:
            raise KubeflowError(f"pipeline {pipeline_name!r} was uploaded without a version")
        return pipeline.pipeline_id, versions.pipeline_versions[0].pipeline_version_id
    existing = client.list_pipeline_versions(
        pipeline_id, page_size=1, filter=_name_filter(version_name)
    )
    if existing.pipeline_versions:
        return pipeline_id, existing.pipeline_versions[0].pipeline_version_id
    version = client.upload_pipeline_version(
        str(path), pipeline_version_name=version_name, pipeline_id=pipeline_id
    )
    return pipeline_id, version.pipeline_version_id


def _name_filter(name: str) -> str:
    return json.dumps(
        {"predicates": [{"operation": "EQUALS", "key": "display_name", "stringValue": name}]}
    )


def _require_name(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    return value


def _prepare(package_path, params, endpoint, namespace, client_options, pipeline_name, **names):
    """What submit and schedule check before any request, then the client and pipeline source:
    (client, checked params, source kwargs)."""
    spec = load_package(package_path)
    params = check_parameters(spec, params)
    for what, value in names.items():
        _require_name(value, what)
    client = connect(endpoint, namespace, client_options)
    source = _pipeline_source(client, endpoint, Path(package_path), pipeline_name, namespace)
    return client, params, source


def _pipeline_source(
    client, endpoint: str, path: Path, pipeline_name: str | None, namespace: str | None
) -> dict[str, str]:
    """Keyword arguments for kfp.Client: the package inline, or an uploaded pipeline version."""
    if pipeline_name is None:
        return {"pipeline_package_path": str(path)}
    _require_name(pipeline_name, "pipeline_name")
    with _api_errors(f"upload pipeline {pipeline_name!r}", endpoint):
        pipeline_id, version_id = upload(client, path, pipeline_name, namespace)
    return {"pipeline_id": pipeline_id, "version_id": version_id}


def submit(
    package_path: str | Path,
    endpoint: str,
    experiment: str,
    run_name: str,
    params: Mapping[str, Any] | None = None,
    namespace: str | None = None,
    *,
    pipeline_root: str | None = None,
    pipeline_name: str | None = None,
    enable_caching: bool | None = None,
    service_account: str | None = None,
    client_options: Mapping[str, Any] | None = None,
) -> str:
    """Starts one run of the compiled pipeline; returns the run id.

    The experiment is created when missing. By default the package travels inline with the run;
    with `pipeline_name` it is uploaded as a version of that pipeline first and the run points at
    the version. `pipeline_root` sets where the run keeps its artifacts (TFX's YAML carries none,
    so KFP's default root is used without it).
    """
    client, params, source = _prepare(
        package_path, params, endpoint, namespace, client_options, pipeline_name,
        experiment=experiment, run_name=run_name,
    )  # fmt: skip
    with _api_errors(f"start run {run_name!r}", endpoint):
        experiment_id = client.create_experiment(experiment, namespace=namespace).experiment_id
        run = client.run_pipeline(
            experiment_id=experiment_id,
            job_name=run_name,
            params=params,
            pipeline_root=pipeline_root,
            enable_caching=enable_caching,
            service_account=service_account,
            **source,
        )
    return run.run_id


def schedule(
    package_path: str | Path,
    endpoint: str,
    experiment: str,
    job_name: str,
    cron: str,
    max_concurrency: int = 1,
    catchup: bool = False,
    params: Mapping[str, Any] | None = None,
    namespace: str | None = None,
    *,
    pipeline_root: str | None = None,
    pipeline_name: str | None = None,
    description: str | None = None,
    start_time: str | None = None,
    end_time: str | None = None,
    enabled: bool = True,
    enable_caching: bool | None = None,
    service_account: str | None = None,
    client_options: Mapping[str, Any] | None = None,
) -> str:
    """Creates a recurring run of the compiled pipeline on a six-field cron; returns its id.

    `max_concurrency` runs may overlap (KFP allows 1-10). With `catchup=False` a paused or late
    schedule starts only the latest missed run instead of backfilling every interval.
    `start_time`/`end_time` are RFC 3339 times. The package travels inline with the recurring run,
    or, with `pipeline_name`, is uploaded as a pipeline version that the recurring run points at.
    """
    cron = validate_cron(cron)
    low, high = MAX_CONCURRENCY_RANGE
    if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int):
        raise ValueError(f"max_concurrency must be an integer, got {max_concurrency!r}")
    if not low <= max_concurrency <= high:
        raise ValueError(f"max_concurrency must be between {low} and {high}, got {max_concurrency}")
    client, params, source = _prepare(
        package_path, params, endpoint, namespace, client_options, pipeline_name,
        experiment=experiment, job_name=job_name,
    )  # fmt: skip
    with _api_errors(f"create recurring run {job_name!r}", endpoint):
        experiment_id = client.create_experiment(experiment, namespace=namespace).experiment_id
        recurring_run = client.create_recurring_run(
            experiment_id=experiment_id,
            job_name=job_name,
            description=description,
            start_time=start_time,
            end_time=end_time,
            cron_expression=cron,
            max_concurrency=max_concurrency,
            no_catchup=not catchup,
            params=params,
            enabled=enabled,
            pipeline_root=pipeline_root,
            enable_caching=enable_caching,
            service_account=service_account,
            **source,
        )
    return recurring_run.recurring_run_id
