"""Submitting the compiled pipeline to Kubeflow Pipelines: one run now, or a recurring run on a cron.

Both `submit` and `schedule` check everything they can before they touch the network, so a
mistake costs a clear `UserError` instead of a failed run on the cluster:

- the package parses strictly as a `PipelineSpec`, as on the KFP API server (package.py);
- the run parameters are ones the pipeline declares, with values of the declared types, and every
  parameter without a default is given (package.py);
- the cron expression has KFP's six fields (seconds first) with valid values (cron.py);
- the endpoint is an http(s) URL, the names are not empty, max_concurrency is in KFP's range
  (`KubeflowSettingError`).

Then they talk to the KFP v2beta1 REST API through `kfp.Client` (kfp 2.9): an unreachable
endpoint and every refusal of the API server surface as a `KubeflowError` with the server's message.
Each of these errors is a `UserError` (components/core/errors.py): the CLI prints it as one line.
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
from pathlib import Path
from typing import Any

import kfp
import kfp_server_api
import urllib3

from components.core.errors import UserError
from pipeline.kubeflow.cron import validate_cron
from pipeline.kubeflow.package import check_parameters, load_package

HEALTHZ_PATH = "/apis/v2beta1/healthz"
# The KFP API server refuses recurring runs outside this range (recurring_run_server.go).
MAX_CONCURRENCY_RANGE = (1, 10)
PROBE_TIMEOUT_S = 10.0


class KubeflowSettingError(UserError, ValueError):
    """A setting of submit or schedule that is not valid: the endpoint, a name, max_concurrency."""


class KubeflowError(UserError, RuntimeError):
    """The Kubeflow Pipelines API refused a request (the message carries the server's reason)."""


class EndpointUnreachableError(KubeflowError):
    """Nothing answered at the Kubeflow Pipelines endpoint."""


def _check_endpoint(endpoint: str) -> str:
    if not isinstance(endpoint, str) or not re.match(r"https?://[^/\s]+", endpoint):
        raise KubeflowSettingError(
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
        raise KubeflowSettingError(f"{what} must be a non-empty string, got {value!r}")
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
        raise KubeflowSettingError(f"max_concurrency must be an integer, got {max_concurrency!r}")
    if not low <= max_concurrency <= high:
        raise KubeflowSettingError(
            f"max_concurrency must be between {low} and {high}, got {max_concurrency}"
        )
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
