"""A local stand-in for the Kubeflow Pipelines v2beta1 REST API, for tests.

`KfpStandIn` serves, on 127.0.0.1 and an ephemeral port (http.server in a background thread), the
calls that kfp 2.9's `kfp.Client` and `kfp` CLI make to submit work:

    GET  /apis/v2beta1/healthz
    GET  /apis/v2beta1/experiments                (filter on display_name, namespace)
    POST /apis/v2beta1/experiments
    GET  /apis/v2beta1/experiments/{id}
    GET  /apis/v2beta1/pipelines                  (filter on display_name)
    GET  /apis/v2beta1/pipelines/{id}
    POST /apis/v2beta1/pipelines/upload           (multipart `uploadfile`; ?name=&description=)
    POST /apis/v2beta1/pipelines/upload_version   (multipart `uploadfile`; ?name=&pipelineid=)
    GET  /apis/v2beta1/pipelines/{id}/versions    (filter, sort_by created_at, page_size)
    GET  /apis/v2beta1/pipelines/{id}/versions/{version id}
    POST /apis/v2beta1/runs                       (pipeline_spec inline or pipeline_version_reference)
    GET  /apis/v2beta1/runs, /apis/v2beta1/runs/{id}
    POST /apis/v2beta1/recurringruns
    GET  /apis/v2beta1/recurringruns, /apis/v2beta1/recurringruns/{id}

Like the real API server it checks every package it is given (uploaded or inline) by parsing it
strictly as a `PipelineSpec` proto: YAML (possibly several documents: the pipeline spec, then
platform specs) -> JSON -> `json_format.ParseDict(..., ignore_unknown_fields=False)`, with a
pipeline name and a root DAG required; it also enforces the server's rules for runs and recurring
runs (an existing experiment, exactly one pipeline source, max_concurrency 1-10, a cron that its
cron library would parse). A refusal is an HTTP 400/404/409 with a JSON body
`{"error", "code", "message", "details"}` as grpc-gateway writes it.

Every request is recorded (method, path, query, parsed body, status, response) so that tests can
assert on what the client actually sent. Anything it does not implement answers 404 and is
listed by `unhandled()`.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

API = "/apis/v2beta1"
SERVER_VERSION = "2.3.0"

# google.rpc.Code, as the KFP server puts it in error bodies.
INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS = 3, 5, 6
_HTTP_STATUS = {INVALID_ARGUMENT: 400, NOT_FOUND: 404, ALREADY_EXISTS: 409}
# Filter operations (backend/api/v2beta1/filter.proto), by number and by name.
_FILTER_OPERATIONS = {1: "EQUALS", 2: "NOT_EQUALS", 9: "IS_SUBSTRING"}
_CRON_DESCRIPTORS = (
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
)


class ApiError(Exception):
    """A refusal, answered as a grpc-gateway error body."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def status(self) -> int:
        return _HTTP_STATUS[self.code]

    def body(self) -> dict:
        return {"error": self.message, "code": self.code, "message": self.message, "details": []}


class PackageError(ValueError):
    """A pipeline package or inline spec that the KFP server would refuse."""


# -- package validation -----------------------------------------------------------------------------
def _parse_strict(document: Any, message: Any, what: str) -> Any:
    if not isinstance(document, dict):
        raise PackageError(f"invalid {what}: expected a mapping, got {type(document).__name__}")
    try:
        as_json = json.loads(json.dumps(document))
    except (TypeError, ValueError) as error:
        raise PackageError(f"invalid {what}: not convertible to JSON: {error}") from None
    try:
        return json_format.ParseDict(as_json, message, ignore_unknown_fields=False)
    except json_format.ParseError as error:
        raise PackageError(f"invalid {what}: {error}") from None


def check_pipeline_spec(spec: pipeline_spec_pb2.PipelineSpec) -> None:
    if not spec.pipeline_info.name:
        raise PackageError("invalid v2 pipeline spec: pipelineInfo.name is empty")
    if not spec.root.HasField("dag"):
        raise PackageError("invalid v2 pipeline spec: the root component has no dag")


def parse_pipeline_package(
    data: bytes | str,
) -> tuple[pipeline_spec_pb2.PipelineSpec, pipeline_spec_pb2.PlatformSpec]:
    """Parses a package (YAML, possibly multi-document) as the KFP server does; raises PackageError."""
    try:
        documents = [doc for doc in yaml.safe_load_all(data) if doc is not None]
    except yaml.YAMLError as error:
        raise PackageError(f"the package is not valid YAML: {error}") from None
    if not documents:
        raise PackageError("the package is empty: no pipeline spec")
    spec = _parse_strict(documents[0], pipeline_spec_pb2.PipelineSpec(), "v2 pipeline spec")
    check_pipeline_spec(spec)
    platform = pipeline_spec_pb2.PlatformSpec()
    for document in documents[1:]:
        platform.MergeFrom(
            _parse_strict(document, pipeline_spec_pb2.PlatformSpec(), "v2 platform spec")
        )
    return spec, platform


def parse_inline_spec(
    value: Any,
) -> tuple[pipeline_spec_pb2.PipelineSpec, pipeline_spec_pb2.PlatformSpec]:
    """Parses the `pipeline_spec` of a run: a PipelineSpec, or {pipeline_spec, platform_spec}."""
    if isinstance(value, dict) and "pipeline_spec" in value:
        extra = sorted(set(value) - {"pipeline_spec", "platform_spec"})
        if extra:
            raise PackageError(f"invalid pipeline spec wrapper: unexpected field(s) {extra}")
        spec = _parse_strict(value["pipeline_spec"], pipeline_spec_pb2.PipelineSpec(), "v2 spec")
        platform = _parse_strict(
            value.get("platform_spec") or {}, pipeline_spec_pb2.PlatformSpec(), "platform spec"
        )
    else:
        spec = _parse_strict(value, pipeline_spec_pb2.PipelineSpec(), "v2 pipeline spec")
        platform = pipeline_spec_pb2.PlatformSpec()
    check_pipeline_spec(spec)
    return spec, platform


# -- the server -------------------------------------------------------------------------------------
@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    body: Any  # parsed JSON; for multipart {"fields": {...}, "files": {name: {filename, content}}}
    status: int = 0
    response: Any = None


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _new_id() -> str:
    return str(uuid.uuid4())


class KfpStandIn:
    """The stand-in server; use as a context manager, or start() / stop()."""

    def __init__(self, *, multi_user: bool = False):
        self.multi_user = multi_user
        self.requests: list[RecordedRequest] = []
        self.experiments: dict[str, dict] = {}
        self.pipelines: dict[str, dict] = {}
        self.pipeline_versions: dict[str, dict] = {}
        self.runs: dict[str, dict] = {}
        self.recurring_runs: dict[str, dict] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._routes: list[tuple[str, re.Pattern, Callable[..., Any]]] = [
            ("GET", re.compile(r"/healthz"), self._healthz),
            ("GET", re.compile(r"/experiments"), self._list_experiments),
            ("POST", re.compile(r"/experiments"), self._create_experiment),
            ("GET", re.compile(r"/experiments/(?P<experiment_id>[^/:]+)"), self._get_experiment),
            ("GET", re.compile(r"/pipelines"), self._list_pipelines),
            ("POST", re.compile(r"/pipelines/upload"), self._upload_pipeline),
            ("POST", re.compile(r"/pipelines/upload_version"), self._upload_pipeline_version),
            ("GET", re.compile(r"/pipelines/(?P<pipeline_id>[^/:]+)"), self._get_pipeline),
            (
                "GET",
                re.compile(r"/pipelines/(?P<pipeline_id>[^/:]+)/versions"),
                self._list_versions,
            ),
            (
                "GET",
                re.compile(r"/pipelines/(?P<pipeline_id>[^/:]+)/versions/(?P<version_id>[^/:]+)"),
                self._get_version,
            ),
            ("GET", re.compile(r"/runs"), self._list_runs),
            ("POST", re.compile(r"/runs"), self._create_run),
            ("GET", re.compile(r"/runs/(?P<run_id>[^/:]+)"), self._get_run),
            ("GET", re.compile(r"/recurringruns"), self._list_recurring_runs),
            ("POST", re.compile(r"/recurringruns"), self._create_recurring_run),
            (
                "GET",
                re.compile(r"/recurringruns/(?P<recurring_run_id>[^/:]+)"),
                self._get_recurring,
            ),
        ]

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> KfpStandIn:
        handler = type("Handler", (_Handler,), {"standin": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # stop() waits for the next poll
            name="kfp-standin",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    def __enter__(self) -> KfpStandIn:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "the stand-in is not running"
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- what tests look at -----------------------------------------------------------------------
    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        """Recorded requests with this method whose path (without /apis/v2beta1) matches fully."""
        pattern = re.compile(path)
        return [
            r
            for r in self.requests
            if r.method == method and pattern.fullmatch(r.path.removeprefix(API))
        ]

    def unhandled(self) -> list[RecordedRequest]:
        return [
            r for r in self.requests if r.status == 404 and "not implemented" in str(r.response)
        ]

    def experiment_named(self, name: str) -> dict:
        matches = [e for e in self.experiments.values() if e["display_name"] == name]
        assert len(matches) == 1, f"expected one experiment named {name!r}, found {matches}"
        return matches[0]

    # -- dispatch ---------------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        if not path.startswith(API + "/"):
            return 404, ApiError(NOT_FOUND, f"{method} {path} is not implemented").body()
        local = path[len(API) :]
        for route_method, pattern, action in self._routes:
            match = pattern.fullmatch(local)
            if route_method == method and match:
                try:
                    with self._lock:
                        return 200, action(query=query, body=body, **match.groupdict())
                except ApiError as error:
                    return error.status, error.body()
        return 404, ApiError(
            NOT_FOUND, f"{method} {path} is not implemented by the stand-in"
        ).body()

    # -- helpers ----------------------------------------------------------------------------------
    @staticmethod
    def _predicates(query: dict[str, str]) -> list[Callable[[dict], bool]]:
        text = query.get("filter")
        if not text:
            return []
        try:
            predicates = json.loads(text).get("predicates", [])
        except (ValueError, AttributeError):
            raise ApiError(INVALID_ARGUMENT, f"invalid filter {text!r}") from None
        checks = []
        for predicate in predicates:
            operation = predicate.get("operation")
            operation = _FILTER_OPERATIONS.get(operation, operation)
            key = predicate.get("key")
            key = "display_name" if key == "name" else key
            value = predicate.get("stringValue", predicate.get("string_value"))
            if operation not in _FILTER_OPERATIONS.values() or value is None:
                raise ApiError(INVALID_ARGUMENT, f"unsupported filter predicate {predicate}")
            if operation == "EQUALS":
                checks.append(lambda item, k=key, v=value: item.get(k) == v)
            elif operation == "NOT_EQUALS":
                checks.append(lambda item, k=key, v=value: item.get(k) != v)
            else:
                checks.append(lambda item, k=key, v=value: v in str(item.get(k, "")))
        return checks

    def _select(self, items: Iterator[dict], query: dict[str, str]) -> list[dict]:
        checks = self._predicates(query)
        selected = [item for item in items if all(check(item) for check in checks)]
        sort_by = query.get("sort_by", "")
        if sort_by:
            key, _, order = sort_by.partition(" ")
            selected.sort(key=lambda item: str(item.get(key, "")), reverse=order == "desc")
        page_size = int(query.get("page_size") or 0)
        return selected[:page_size] if page_size > 0 else selected

    def _namespace_rule(self, namespace: str | None, what: str) -> None:
        if self.multi_user and not namespace:
            raise ApiError(
                INVALID_ARGUMENT,
                f"Invalid input error: In multi-user mode, {what} requires a namespace",
            )

    def _experiment(self, experiment_id: str) -> dict:
        if experiment_id not in self.experiments:
            raise ApiError(NOT_FOUND, f"experiment {experiment_id} not found")
        return self.experiments[experiment_id]

    def _package_from_upload(self, body: Any) -> tuple[str, dict]:
        files = body.get("files", {}) if isinstance(body, dict) else {}
        if "uploadfile" not in files:
            raise ApiError(INVALID_ARGUMENT, "Failed to upload: missing the uploadfile form field")
        upload = files["uploadfile"]
        try:
            spec, _ = parse_pipeline_package(upload["content"])
        except PackageError as error:
            raise ApiError(INVALID_ARGUMENT, f"Failed to upload the pipeline: {error}") from None
        return upload["filename"], json_format.MessageToDict(spec)

    def _pipeline_source(self, body: dict) -> None:
        spec = body.get("pipeline_spec")
        reference = body.get("pipeline_version_reference")
        if (spec is None) == (reference is None):
            raise ApiError(
                INVALID_ARGUMENT,
                "Invalid input error: exactly one of pipeline_spec and"
                " pipeline_version_reference is required",
            )
        if spec is not None:
            try:
                parse_inline_spec(spec)
            except PackageError as error:
                raise ApiError(INVALID_ARGUMENT, f"Invalid input error: {error}") from None
            return
        version_id = (reference or {}).get("pipeline_version_id")
        version = self.pipeline_versions.get(version_id)
        if version is None:
            raise ApiError(NOT_FOUND, f"pipeline version {version_id} not found")
        if reference.get("pipeline_id") not in (None, "", version["pipeline_id"]):
            raise ApiError(
                INVALID_ARGUMENT,
                f"pipeline version {version_id} does not belong to {reference['pipeline_id']}",
            )

    @staticmethod
    def _runtime_config(body: dict) -> None:
        config = body.get("runtime_config") or {}
        if not isinstance(config, dict) or not isinstance(config.get("parameters") or {}, dict):
            raise ApiError(INVALID_ARGUMENT, "Invalid input error: bad runtime_config")

    def _experiment_for(self, body: dict) -> str:
        experiment_id = body.get("experiment_id")
        if experiment_id:
            self._experiment(experiment_id)
            return experiment_id
        # The server files runs without an experiment under "Default".
        default = [e for e in self.experiments.values() if e["display_name"] == "Default"]
        if default:
            return default[0]["experiment_id"]
        return self._create_experiment(query={}, body={"display_name": "Default"})["experiment_id"]

    # -- handlers ---------------------------------------------------------------------------------
    def _healthz(self, **_) -> dict:
        return {
            "commit_sha": "kfp-standin",
            "tag_name": SERVER_VERSION,
            "multi_user": self.multi_user,
        }

    def _list_experiments(self, query, **_) -> dict:
        namespace = query.get("namespace") or None
        self._namespace_rule(namespace, "listing experiments")
        items = (
            e
            for e in self.experiments.values()
            if not self.multi_user or e.get("namespace") == namespace
        )
        experiments = self._select(items, query)
        return {"experiments": experiments, "total_size": len(experiments)}

    def _create_experiment(self, body, **_) -> dict:
        name = (body or {}).get("display_name")
        if not name:
            raise ApiError(INVALID_ARGUMENT, "Invalid input error: experiment name is empty")
        namespace = body.get("namespace") or ""
        self._namespace_rule(namespace, "creating an experiment")
        for existing in self.experiments.values():
            if existing["display_name"] == name and existing.get("namespace", "") == namespace:
                raise ApiError(ALREADY_EXISTS, f"experiment {name!r} already exists")
        experiment = {
            "experiment_id": _new_id(),
            "display_name": name,
            "description": body.get("description") or "",
            "namespace": namespace,
            "created_at": _now(),
            "storage_state": "AVAILABLE",
        }
        self.experiments[experiment["experiment_id"]] = experiment
        return experiment

    def _get_experiment(self, experiment_id, **_) -> dict:
        return self._experiment(experiment_id)

    def _list_pipelines(self, query, **_) -> dict:
        pipelines = self._select(iter(self.pipelines.values()), query)
        return {"pipelines": pipelines, "total_size": len(pipelines)}

    def _upload_pipeline(self, query, body, **_) -> dict:
        filename, spec = self._package_from_upload(body)
        name = query.get("name") or re.sub(r"\.(ya?ml|json)$", "", filename)
        if any(p["display_name"] == name for p in self.pipelines.values()):
            raise ApiError(ALREADY_EXISTS, f"pipeline {name!r} already exists")
        pipeline = {
            "pipeline_id": _new_id(),
            "display_name": name,
            "description": query.get("description", ""),
            "namespace": query.get("namespace", ""),
            "created_at": _now(),
        }
        self.pipelines[pipeline["pipeline_id"]] = pipeline
        self._add_version(pipeline["pipeline_id"], name, query.get("description", ""), spec)
        return pipeline

    def _add_version(self, pipeline_id: str, name: str, description: str, spec: dict) -> dict:
        version = {
            "pipeline_id": pipeline_id,
            "pipeline_version_id": _new_id(),
            "display_name": name,
            "description": description,
            "created_at": _now(),
            "pipeline_spec": spec,
        }
        self.pipeline_versions[version["pipeline_version_id"]] = version
        return version

    def _upload_pipeline_version(self, query, body, **_) -> dict:
        pipeline_id = query.get("pipelineid")
        if not pipeline_id:
            raise ApiError(INVALID_ARGUMENT, "Failed to upload: pipelineid is required")
        if pipeline_id not in self.pipelines:
            raise ApiError(NOT_FOUND, f"pipeline {pipeline_id} not found")
        filename, spec = self._package_from_upload(body)
        name = query.get("name") or filename
        for version in self.pipeline_versions.values():
            if version["pipeline_id"] == pipeline_id and version["display_name"] == name:
                raise ApiError(ALREADY_EXISTS, f"pipeline version {name!r} already exists")
        return self._add_version(pipeline_id, name, query.get("description", ""), spec)

    def _get_pipeline(self, pipeline_id, **_) -> dict:
        if pipeline_id not in self.pipelines:
            raise ApiError(NOT_FOUND, f"pipeline {pipeline_id} not found")
        return self.pipelines[pipeline_id]

    def _list_versions(self, query, pipeline_id, **_) -> dict:
        self._get_pipeline(pipeline_id)
        items = (v for v in self.pipeline_versions.values() if v["pipeline_id"] == pipeline_id)
        versions = self._select(items, query)
        return {"pipeline_versions": versions, "total_size": len(versions)}

    def _get_version(self, pipeline_id, version_id, **_) -> dict:
        version = self.pipeline_versions.get(version_id)
        if version is None or version["pipeline_id"] != pipeline_id:
            raise ApiError(NOT_FOUND, f"pipeline version {version_id} not found")
        return version

    def _create_run(self, body, **_) -> dict:
        if not isinstance(body, dict):
            raise ApiError(INVALID_ARGUMENT, "Invalid input error: the run must be a JSON object")
        if not body.get("display_name"):
            raise ApiError(INVALID_ARGUMENT, "Invalid input error: the run name is empty")
        self._pipeline_source(body)
        self._runtime_config(body)
        run = {
            **body,
            "run_id": _new_id(),
            "experiment_id": self._experiment_for(body),
            "created_at": _now(),
            "state": "PENDING",
            "storage_state": "AVAILABLE",
        }
        self.runs[run["run_id"]] = run
        return run

    def _get_run(self, run_id, **_) -> dict:
        if run_id not in self.runs:
            raise ApiError(NOT_FOUND, f"run {run_id} not found")
        return self.runs[run_id]

    def _list_runs(self, query, **_) -> dict:
        experiment_id = query.get("experiment_id")
        items = (r for r in self.runs.values() if experiment_id in (None, r["experiment_id"]))
        runs = self._select(items, query)
        return {"runs": runs, "total_size": len(runs)}

    def _create_recurring_run(self, body, **_) -> dict:
        if not isinstance(body, dict):
            raise ApiError(INVALID_ARGUMENT, "Invalid input error: expected a JSON object")
        if not body.get("display_name"):
            raise ApiError(INVALID_ARGUMENT, "Invalid input error: the recurring run name is empty")
        self._pipeline_source(body)
        self._runtime_config(body)
        try:
            max_concurrency = int(body.get("max_concurrency") or 0)
        except (TypeError, ValueError):
            max_concurrency = 0
        if not 1 <= max_concurrency <= 10:
            raise ApiError(
                INVALID_ARGUMENT,
                "The max concurrency of the recurring run is out of range. Support 1-10."
                f" Received {body.get('max_concurrency')}.",
            )
        trigger = body.get("trigger") or {}
        cron = (trigger.get("cron_schedule") or {}).get("cron")
        periodic = trigger.get("periodic_schedule")
        if (cron is None) == (periodic is None):
            raise ApiError(
                INVALID_ARGUMENT,
                "Invalid input error: exactly one of cron_schedule and"
                " periodic_schedule is required",
            )
        if cron is not None and not _robfig_cron_parses(cron):
            raise ApiError(
                INVALID_ARGUMENT,
                "Schedule cron is not a supported format(https://godoc.org/github.com/robfig/cron)."
                f" Error: {cron!r}",
            )
        if periodic is not None and int(periodic.get("interval_second") or 0) < 1:
            raise ApiError(INVALID_ARGUMENT, "Found invalid period schedule interval")
        mode = body.get("mode") or "ENABLE"
        recurring_run = {
            **body,
            "recurring_run_id": _new_id(),
            "experiment_id": self._experiment_for(body),
            "created_at": _now(),
            "updated_at": _now(),
            "status": "ENABLED" if mode == "ENABLE" else "DISABLED",
        }
        self.recurring_runs[recurring_run["recurring_run_id"]] = recurring_run
        return recurring_run

    def _get_recurring(self, recurring_run_id, **_) -> dict:
        if recurring_run_id not in self.recurring_runs:
            raise ApiError(NOT_FOUND, f"recurring run {recurring_run_id} not found")
        return self.recurring_runs[recurring_run_id]

    def _list_recurring_runs(self, query, **_) -> dict:
        experiment_id = query.get("experiment_id")
        items = (
            r for r in self.recurring_runs.values() if experiment_id in (None, r["experiment_id"])
        )
        recurring_runs = self._select(items, query)
        return {"recurringRuns": recurring_runs, "total_size": len(recurring_runs)}


def _robfig_cron_parses(cron: str) -> bool:
    """Roughly what the server's robfig/cron (v1) `cron.Parse` accepts: a descriptor, or five or six
    fields of cron syntax (with five, it drops the day-of-week, not the seconds)."""
    fields = cron.split()
    if len(fields) == 1 and fields[0] in _CRON_DESCRIPTORS:
        return True
    field_syntax = re.compile(r"[0-9A-Za-z*?,/-]+")
    return len(fields) in (5, 6) and all(field_syntax.fullmatch(f) for f in fields)


class _Handler(BaseHTTPRequestHandler):
    standin: KfpStandIn  # set on the subclass that KfpStandIn.start() makes

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base signature
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        record = RecordedRequest(method, split.path, query, None)
        try:
            record.body = _decode_body(raw, self.headers.get("Content-Type", ""))
        except ApiError as error:
            status, payload = error.status, error.body()
        else:
            status, payload = self.standin.handle(method, split.path, query, record.body)
        record.status, record.response = status, payload
        self.standin.requests.append(record)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _decode_body(raw: bytes, content_type: str) -> Any:
    if content_type.startswith("multipart/form-data"):
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + raw
        )
        fields, files = {}, {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True) or b""
            if part.get_filename() is not None:
                content = payload.decode("utf-8", errors="replace")
                files[name] = {"filename": part.get_filename(), "content": content}
            else:
                fields[name] = payload.decode("utf-8", errors="replace")
        return {"fields": fields, "files": files}
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise ApiError(INVALID_ARGUMENT, "the request body is not valid JSON") from None


@pytest.fixture
def kfp_standin() -> Iterator[KfpStandIn]:
    """A running KFP API stand-in (single-user mode); its URL is `kfp_standin.url`."""
    with KfpStandIn() as server:
        yield server
