"""Submitting to Kubeflow Pipelines, against a local stand-in of the KFP v2beta1 REST API.

The real `kfp` CLI (kfp 2.9) and `pipeline.kubeflow.client` talk HTTP to `tests/fakes/kfp_server.py`, which
checks every package strictly as a PipelineSpec, as the KFP API server does, and records what it
was sent.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from google.protobuf import json_format

from pipeline.kubeflow.client import EndpointUnreachableError, KubeflowError, schedule, submit
from pipeline.kubeflow.cron import validate_cron
from pipeline.kubeflow.package import check_parameters, load_package, pipeline_parameters

from fakes import kfp_server

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILT_PACKAGE = REPO_ROOT / "build" / "pipeline.yaml"
KFP_CLI = Path(sys.executable).parent / "kfp"

# A value of each parameter type, for the parameters a package requires.
SAMPLE_VALUES = {
    "STRING": "gs://bucket/data",
    "NUMBER_INTEGER": 3,
    "INT": 3,
    "NUMBER_DOUBLE": 0.5,
    "DOUBLE": 0.5,
    "BOOLEAN": True,
    "LIST": ["a"],
    "STRUCT": {"a": 1},
}


# -- fixtures ---------------------------------------------------------------------------------------
@pytest.fixture
def compiled_package(tmp_path) -> Path:
    """The committed package, build/pipeline.yaml (or $BERTPIPE_KFP_PACKAGE), copied to tmp_path.

    tests/test_kubeflow_compile.py checks that the committed package is what `bertpipe compile`
    writes now.
    """
    package = Path(os.environ.get("BERTPIPE_KFP_PACKAGE") or BUILT_PACKAGE)
    if not package.is_file():
        pytest.fail(f"the pipeline package {package} does not exist: run `bertpipe compile`")
    copy = tmp_path / "package" / "pipeline.yaml"
    copy.parent.mkdir()
    shutil.copy(package, copy)
    return copy


@pytest.fixture(autouse=True)
def _isolated_kfp_client(tmp_path, monkeypatch):
    """kfp.Client reads (and may write) ~/.config/kfp/context.json, and reads KF_PIPELINES_*."""
    from kfp.client import client

    monkeypatch.setattr(client.Client, "_LOCAL_KFP_CONTEXT", str(tmp_path / "kfp-context.json"))
    for name in list(os.environ):
        if name.startswith("KF_PIPELINES_"):
            monkeypatch.delenv(name)


def sample_params(package: Path) -> dict:
    """A value for every parameter that the package requires."""
    declared = pipeline_parameters(load_package(package))
    return {name: SAMPLE_VALUES[p.type] for name, p in declared.items() if p.required}


def package_dict(package: Path) -> dict:
    return json_format.MessageToDict(load_package(package))


def write_variant(package: Path, change, name: str) -> Path:
    """A copy of the package's YAML with `change(document)` applied."""
    documents = list(yaml.safe_load_all(package.read_text()))
    change(documents[0])
    variant = package.parent / name
    variant.write_text(yaml.safe_dump_all(documents, sort_keys=True))
    return variant


def run_kfp(server: kfp_server.KfpStandIn, home: Path, *args: str) -> subprocess.CompletedProcess:
    """Runs the real `kfp` CLI against the stand-in."""
    if not KFP_CLI.exists():
        pytest.fail(f"the kfp CLI is expected at {KFP_CLI}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KF_PIPELINES_", "KFP_"))}
    env["HOME"] = str(home)  # no ~/.config/kfp/context.json from the machine
    return subprocess.run(
        [str(KFP_CLI), "--endpoint", server.url, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# -- (a) the kfp CLI --------------------------------------------------------------------------------
@pytest.mark.slow
def test_cli_run_submit_creates_the_run(kfp_standin, compiled_package, tmp_path):
    params = sample_params(compiled_package)
    args = [f"{name}={value}" for name, value in params.items()]
    command = ["run", "submit", "-e", "nightly", "-r", "cli-run", "-f", str(compiled_package)]
    result = run_kfp(kfp_standin, tmp_path, *command, *args)
    assert result.returncode == 0, result.stderr

    (run,) = kfp_standin.runs.values()
    assert run["display_name"] == "cli-run"
    assert run["experiment_id"] == kfp_standin.experiment_named("nightly")["experiment_id"]
    assert run["run_id"] in result.stdout
    spec, _ = kfp_server.parse_inline_spec(run["pipeline_spec"])
    assert json_format.MessageToDict(spec) == package_dict(compiled_package)
    assert run["runtime_config"]["parameters"] == {k: str(v) for k, v in params.items()}
    assert kfp_standin.requests_to("GET", "/healthz")
    assert kfp_standin.requests_to("GET", f"/runs/{run['run_id']}")  # the CLI shows the run
    assert not kfp_standin.unhandled()


@pytest.mark.slow
def test_cli_takes_yaml_packages_only(kfp_standin, compiled_package, tmp_path):
    as_json = compiled_package.with_suffix(".json")
    as_json.write_text(json.dumps(package_dict(compiled_package)))
    command = ["run", "submit", "-e", "nightly", "-r", "json-run", "-f", str(as_json)]
    result = run_kfp(kfp_standin, tmp_path, *command)
    assert result.returncode != 0
    assert ".yaml" in result.stderr
    assert not kfp_standin.requests_to("POST", "/runs")
    with pytest.raises(ValueError, match=r"\.yaml or \.yml"):
        submit(as_json, kfp_standin.url, "nightly", "json-run")


# -- (b) submit -------------------------------------------------------------------------------------
def test_submit_starts_a_run_with_the_parameters(kfp_standin, compiled_package):
    params = sample_params(compiled_package)
    run_id = submit(
        compiled_package,
        kfp_standin.url,
        "nightly",
        "run-1",
        params,
        pipeline_root="gs://bucket/kfp-root",
    )

    run = kfp_standin.runs[run_id]
    assert run["display_name"] == "run-1"
    assert run["experiment_id"] == kfp_standin.experiment_named("nightly")["experiment_id"]
    assert run["runtime_config"] == {"parameters": params, "pipeline_root": "gs://bucket/kfp-root"}
    spec, _ = kfp_server.parse_inline_spec(run["pipeline_spec"])
    assert json_format.MessageToDict(spec) == package_dict(compiled_package)

    # A second run lands in the same experiment, which is not created again.
    second = submit(compiled_package, kfp_standin.url, "nightly", "run-2", params)
    assert kfp_standin.runs[second]["experiment_id"] == run["experiment_id"]
    assert len(kfp_standin.requests_to("POST", "/experiments")) == 1
    assert not kfp_standin.unhandled()


def test_submit_uploaded_pipeline_runs_the_version(kfp_standin, compiled_package):
    params = sample_params(compiled_package)
    run_id = submit(
        compiled_package, kfp_standin.url, "nightly", "run-1", params, pipeline_name="bert"
    )
    (upload,) = kfp_standin.requests_to("POST", "/pipelines/upload")
    assert upload.status == 200 and upload.query["name"] == "bert"
    assert "pipelineInfo" in upload.body["files"]["uploadfile"]["content"]
    run = kfp_standin.runs[run_id]
    assert "pipeline_spec" not in run
    version_id = run["pipeline_version_reference"]["pipeline_version_id"]
    assert (
        kfp_standin.pipeline_versions[version_id]["pipeline_id"] == upload.response["pipeline_id"]
    )
    assert run["runtime_config"]["parameters"] == params


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p.update(not_a_parameter=1), r"unknown pipeline parameter\(s\) \['not_a_param"),
        (lambda p: p.clear(), r"missing pipeline parameter\(s\)"),
    ],
    ids=["unknown", "missing"],
)
def test_submit_checks_parameters_before_sending(kfp_standin, compiled_package, change, message):
    params = sample_params(compiled_package)
    if not params and message.startswith("missing"):
        pytest.skip("the package requires no parameters")
    change(params)
    with pytest.raises(ValueError, match=message):
        submit(compiled_package, kfp_standin.url, "nightly", "run-1", params)
    assert kfp_standin.requests == []


def test_parameter_types_are_checked():
    from kfp.pipeline_spec import pipeline_spec_pb2

    spec = pipeline_spec_pb2.PipelineSpec()
    parameters = spec.root.input_definitions.parameters
    parameters["steps"].parameter_type = pipeline_spec_pb2.ParameterType.NUMBER_INTEGER
    parameters["rate"].parameter_type = pipeline_spec_pb2.ParameterType.NUMBER_DOUBLE
    parameters["rate"].default_value.number_value = 0.1
    parameters["legacy"].type = pipeline_spec_pb2.PrimitiveType.STRING
    parameters["legacy"].is_optional = True

    declared = pipeline_parameters(spec)
    assert {n: (p.type, p.required) for n, p in declared.items()} == {
        "steps": ("NUMBER_INTEGER", True),
        "rate": ("NUMBER_DOUBLE", False),
        "legacy": ("STRING", False),
    }
    assert check_parameters(spec, {"steps": 5, "rate": 1}) == {"steps": 5, "rate": 1}
    for bad in ({"steps": "5"}, {"steps": True}, {"steps": 5, "rate": "fast"}):
        with pytest.raises(ValueError, match="is declared"):
            check_parameters(spec, bad)


def test_submit_in_multi_user_mode_needs_a_namespace(compiled_package):
    params = sample_params(compiled_package)
    with kfp_server.KfpStandIn(multi_user=True) as server:
        with pytest.raises(KubeflowError, match=r"HTTP 400.*requires a namespace"):
            submit(compiled_package, server.url, "nightly", "run-1", params)
        run_id = submit(compiled_package, server.url, "nightly", "run-1", params, "team-a")
        run = server.runs[run_id]
        assert server.experiments[run["experiment_id"]]["namespace"] == "team-a"


# -- (c) schedule -----------------------------------------------------------------------------------
@pytest.mark.parametrize("catchup", [False, True])
def test_schedule_creates_a_recurring_run(kfp_standin, compiled_package, catchup):
    params = sample_params(compiled_package)
    recurring_run_id = schedule(
        compiled_package,
        kfp_standin.url,
        "nightly",
        "nightly-train",
        " 0 30  2 * * MON-FRI ",
        max_concurrency=3,
        catchup=catchup,
        params=params,
    )

    (request,) = kfp_standin.requests_to("POST", "/recurringruns")
    body = request.body
    assert request.status == 200 and request.response["recurring_run_id"] == recurring_run_id
    assert body["display_name"] == "nightly-train"
    assert body["trigger"] == {"cron_schedule": {"cron": "0 30 2 * * MON-FRI"}}
    assert int(body["max_concurrency"]) == 3
    assert body["no_catchup"] is (not catchup)
    assert body["mode"] == "ENABLE"
    assert body["experiment_id"] == kfp_standin.experiment_named("nightly")["experiment_id"]
    assert body["runtime_config"]["parameters"] == params
    spec, _ = kfp_server.parse_inline_spec(body["pipeline_spec"])
    assert json_format.MessageToDict(spec) == package_dict(compiled_package)
    assert not kfp_standin.unhandled()


def test_schedule_an_uploaded_pipeline(kfp_standin, compiled_package):
    params = sample_params(compiled_package)
    ids = [
        schedule(
            compiled_package,
            kfp_standin.url,
            "nightly",
            f"job-{i}",
            "0 0 3 * * *",
            params=params,
            pipeline_name="bert",
        )
        for i in range(3)
    ]
    # The pipeline is uploaded once; its content-named version once; then it is reused.
    assert len(kfp_standin.requests_to("POST", "/pipelines/upload")) == 1
    (version_upload,) = kfp_standin.requests_to("POST", "/pipelines/upload_version")
    assert version_upload.query["name"].startswith("bert-")
    references = [kfp_standin.recurring_runs[i]["pipeline_version_reference"] for i in ids]
    assert all(r["pipeline_version_id"] in kfp_standin.pipeline_versions for r in references)
    assert references[1] == references[2] != references[0]


def test_schedule_refuses_bad_settings_before_sending(kfp_standin, compiled_package):
    with pytest.raises(ValueError, match="six fields with seconds first"):
        schedule(compiled_package, kfp_standin.url, "nightly", "job", "0 2 * * *")
    for bad in (0, 11, 2.0, True):
        with pytest.raises(ValueError, match="max_concurrency"):
            schedule(compiled_package, kfp_standin.url, "nightly", "job", "0 0 2 * * *", bad)
    assert kfp_standin.requests == []


def test_standin_refuses_what_the_server_refuses(kfp_standin, compiled_package):
    """The limits that schedule() checks first are enforced by the (stand-in) server too."""
    import kfp
    import kfp_server_api

    with pytest.warns(FutureWarning):
        client = kfp.Client(host=kfp_standin.url)
    experiment = client.create_experiment("nightly")
    for settings, message in [
        ({"cron_expression": "0 0 2 * * * *"}, "Schedule cron is not a supported format"),
        ({"cron_expression": "0 0 2 * * *", "max_concurrency": 11}, "out of range. Support 1-10"),
    ]:
        with pytest.raises(kfp_server_api.ApiException, match=message):
            client.create_recurring_run(
                experiment.experiment_id,
                "job",
                pipeline_package_path=str(compiled_package),
                params=sample_params(compiled_package),
                **settings,
            )
    assert kfp_standin.recurring_runs == {}


# -- (d) malformed packages -------------------------------------------------------------------------
def _unknown_field(doc):
    doc["notAField"] = {"x": 1}


def _wrong_type(doc):
    doc["root"]["dag"]["tasks"] = ["not", "a", "map"]


def _no_root(doc):
    del doc["root"]


def _no_name(doc):
    doc["pipelineInfo"]["name"] = ""


MALFORMED = [
    (_unknown_field, 'no field named "notAField"'),
    (_wrong_type, "Map field tasks must be in a dict"),
    (_no_root, "root component has no dag"),
    (_no_name, "pipelineInfo.name is empty"),
]


@pytest.mark.parametrize(("change", "message"), MALFORMED, ids=lambda v: getattr(v, "__name__", ""))
def test_standin_rejects_malformed_specs(kfp_standin, compiled_package, change, message):
    # Inline with a run, the way kfp.Client sends it.
    status, experiment = kfp_standin.handle(
        "POST", kfp_server.API + "/experiments", {}, {"display_name": "nightly"}
    )
    assert status == 200
    document = package_dict(compiled_package)
    change(document)
    body = {"display_name": "bad", "experiment_id": experiment["experiment_id"]}
    request = urllib.request.Request(
        kfp_standin.url + "/apis/v2beta1/runs",
        data=json.dumps({**body, "pipeline_spec": document}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 400
    assert message in json.loads(refused.value.read())["message"]
    # And as an uploaded package file.
    variant = write_variant(compiled_package, change, "malformed.yaml")
    with pytest.raises(kfp_server.PackageError, match=message):
        kfp_server.parse_pipeline_package(variant.read_bytes())
    assert kfp_standin.runs == {}


def test_standin_reads_multi_document_packages(compiled_package):
    text = compiled_package.read_text()
    platform = {"platforms": {"kubernetes": {"deploymentSpec": {"executors": {}}}}}
    spec, parsed_platform = kfp_server.parse_pipeline_package(text + "---\n" + yaml.dump(platform))
    assert spec.pipeline_info.name and "kubernetes" in parsed_platform.platforms
    with pytest.raises(kfp_server.PackageError, match="invalid v2 platform spec"):
        kfp_server.parse_pipeline_package(text + "---\nplatformz: {}\n")


@pytest.mark.slow
def test_cli_upload_of_malformed_package_is_refused_by_the_server(
    kfp_standin, compiled_package, tmp_path
):
    # `kfp pipeline create -p NAME` sends the file as is: the server's strict parse refuses it.
    variant = write_variant(compiled_package, _unknown_field, "unknown-field.yaml")
    result = run_kfp(kfp_standin, tmp_path, "pipeline", "create", "-p", "bad", str(variant))
    assert result.returncode != 0
    assert "(400)" in result.stderr and "notAField" in result.stderr
    (upload,) = kfp_standin.requests_to("POST", "/pipelines/upload")
    assert upload.status == 400
    assert kfp_standin.pipelines == {}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("change", "refused_by"), [(_unknown_field, "client"), (_no_root, "server")]
)
def test_cli_run_submit_of_malformed_package_fails(
    kfp_standin, compiled_package, tmp_path, change, refused_by
):
    variant = write_variant(compiled_package, change, "malformed.yaml")
    args = [f"{k}={v}" for k, v in sample_params(compiled_package).items()]
    command = ["run", "submit", "-e", "nightly", "-r", "bad", "-f", str(variant)]
    result = run_kfp(kfp_standin, tmp_path, *command, *args)
    assert result.returncode != 0
    posts = kfp_standin.requests_to("POST", "/runs")
    if refused_by == "client":
        # kfp 2.9 parses the package strictly itself before it sends anything.
        assert 'no field named "notAField"' in result.stderr
        assert posts == []
    else:
        assert "(400)" in result.stderr and "root component has no dag" in result.stderr
        assert [p.status for p in posts] == [400]
    assert kfp_standin.runs == {}


@pytest.mark.parametrize(("change", "message"), MALFORMED, ids=lambda v: getattr(v, "__name__", ""))
def test_submit_refuses_malformed_packages_before_sending(
    kfp_standin, compiled_package, change, message
):
    variant = write_variant(compiled_package, change, "malformed.yaml")
    with pytest.raises(ValueError, match=str(variant.name)):
        submit(variant, kfp_standin.url, "nightly", "run-1", sample_params(compiled_package))
    assert kfp_standin.requests == []


# -- endpoint and package problems ------------------------------------------------------------------
def test_unreachable_endpoint_fails_fast_and_clearly(compiled_package):
    endpoint = f"http://127.0.0.1:{free_port()}"
    params = sample_params(compiled_package)
    started = time.monotonic()
    with pytest.raises(EndpointUnreachableError, match=f"cannot reach .* at {endpoint}"):
        submit(compiled_package, endpoint, "nightly", "run-1", params)
    with pytest.raises(EndpointUnreachableError, match=f"cannot reach .* at {endpoint}"):
        schedule(compiled_package, endpoint, "nightly", "job", "0 0 2 * * *", params=params)
    assert time.monotonic() - started < 10


def test_endpoint_that_is_not_the_kfp_api(kfp_standin, compiled_package):
    params = sample_params(compiled_package)
    with pytest.raises(KubeflowError, match="does not look like a Kubeflow Pipelines API"):
        submit(compiled_package, kfp_standin.url + "/elsewhere", "nightly", "run-1", params)
    with pytest.raises(ValueError, match="http:// or https:// URL"):
        submit(compiled_package, "127.0.0.1:8888", "nightly", "run-1", params)


def test_missing_or_misnamed_package(kfp_standin, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        submit(tmp_path / "nothing.yaml", kfp_standin.url, "nightly", "run-1")
    (tmp_path / "pipeline.json").write_text("{}")
    with pytest.raises(ValueError, match=r"\.yaml or \.yml"):
        schedule(tmp_path / "pipeline.json", kfp_standin.url, "nightly", "job", "0 0 2 * * *")
    assert kfp_standin.requests == []


# -- (e) cron ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("expression", "normalised"),
    [
        ("0 0 2 * * *", "0 0 2 * * *"),
        ("  0  */15 * * * ? ", "0 */15 * * * ?"),
        ("0 0 9 ? * MON-FRI", "0 0 9 ? * MON-FRI"),
        ("30 5 1,15 1-31/2 jan,Jul,DEC *", "30 5 1,15 1-31/2 jan,Jul,DEC *"),
        ("59 59 23 31 12 6", "59 59 23 31 12 6"),
        ("0 5/10 * * * 0-6", "0 5/10 * * * 0-6"),
        ("@Daily", "@daily"),
    ],
)
def test_valid_cron(expression, normalised):
    assert validate_cron(expression) == normalised


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("0 2 * * *", r"five fields.*six fields with seconds first.*'0 0 2 \* \* \*'"),
        ("", "empty"),
        ("* * * * * * *", "has 7 fields; KFP needs six, seconds first"),
        ("0 0", "has 2 fields"),
        ("60 * * * * *", r"field 1 \(second, 0-59\) is '60': 60 is out of range 0-59"),
        ("0 60 * * * *", r"field 2 \(minute"),
        ("0 0 24 * * *", r"field 3 \(hour, 0-23\)"),
        ("0 0 0 0 * *", r"field 4 \(day-of-month, 1-31\).*0 is out of range 1-31"),
        ("0 0 0 32 * *", r"field 4 \(day-of-month"),
        ("0 0 0 * 13 *", r"field 5 \(month, 1-12\)"),
        ("0 0 0 * FOO *", r"field 5 \(month.*'FOO' is not a number or one of JAN/FEB"),
        ("0 0 0 * * 7", r"field 6 \(day-of-week, 0-6\).*7 is out of range 0-6"),
        ("0 0 0 * * SUNDAY", r"field 6 \(day-of-week"),
        ("0 */0 * * * *", r"field 2 .*step '0'"),
        ("0 */x * * * *", r"field 2 .*step 'x'"),
        ("0 5-1 * * * *", r"field 2 .*range '5-1' starts after it ends"),
        ("0 ? * * * *", r"field 2 .*'\?' is only allowed"),
        ("0 1,,2 * * * *", r"field 2 .*empty element"),
        ("0 0 0 L * *", r"field 4 .*'L' is not a number"),
        ("0 0 -1 * * *", r"field 3 "),
        ("@every 5m", "unsupported cron descriptor"),
    ],
)
def test_invalid_cron(expression, message):
    with pytest.raises(ValueError, match=message):
        validate_cron(expression)
