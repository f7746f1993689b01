"""`bertpipe compile`: the committed KFP package is what the compiler writes now, with the run-time
parameters, the uncached baseline and the Trainer's accelerator request; and the `bertpipe submit`
and `bertpipe schedule` commands against the local KFP stand-in."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from google.cloud.aiplatform_v1.types import CustomJobSpec
from tfx.v1.extensions import google_cloud_ai_platform as tfx_vertex

from components.core.config import PIPELINE_NAME, Config
from components.core.runtime_settings import RUNTIME_SETTINGS, training_settings
from components.trainer.component import RUN_FN, Trainer
from pipeline.cli import main as bertpipe
from pipeline.kubeflow.compile import IMAGE_PROJECT_ROOT, compile_pipeline, portable_path
from pipeline.kubeflow.package import load_package, pipeline_parameters, read_documents
from pipeline.kubeflow.settings import CompileConfig
from pipeline.kubeflow.vertex import job_spec

from fakes import kfp_server

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILT_PACKAGE = REPO_ROOT / "build" / "pipeline.yaml"
# Fields that name the compiler's version: they may differ without the pipeline differing.
VERSION_FIELDS = ("sdkVersion", "schemaVersion")
# Which task reads which run-time parameter, and under which of its inputs.
WIRING = {
    ("TextExampleGen", "input_base"): "data_root",
    ("Transform", "checkpoint"): "checkpoint",
    ("Trainer", "checkpoint"): "checkpoint",
    ("Trainer", "train_steps"): "train_steps",
    ("Trainer", "learning_rate"): "learning_rate",
    ("Evaluator", "min_accuracy"): "min_accuracy",
    ("Evaluator", "majority_margin"): "majority_margin",
    ("Report", "data_root"): "data_root",
    ("Report", "push_dir"): "push_dir",
    ("ProductionBaseline", "push_dir"): "push_dir",
    ("Pusher", "push_dir"): "push_dir",
}
TPU = {
    "accelerator_type": "google.com/tpu",
    "accelerator_count": 4,
    "node_selector": (
        "cloud.google.com/gke-tpu-accelerator=tpu-v5-lite-podslice",
        "cloud.google.com/gke-tpu-topology=2x2",
    ),
    "trainer_memory": 32.0,
}


@pytest.fixture(scope="module")
def fresh_package(tmp_path_factory) -> Path:
    """The default pipeline (`bertpipe compile` with no flags), compiled now."""
    return compile_pipeline(CompileConfig(), tmp_path_factory.mktemp("compiled") / "pipeline.yaml")


@pytest.fixture(scope="module")
def tpu_package(tmp_path_factory) -> Path:
    config = CompileConfig().replace(kubeflow=TPU, run={"push_dir": "gs://models/reviews"})
    return compile_pipeline(config, tmp_path_factory.mktemp("tpu") / "pipeline.yaml")


def without_versions(documents: list[dict]) -> list[dict]:
    """The documents without the fields that name compiler versions (for comparisons)."""
    return [{k: v for k, v in doc.items() if k not in VERSION_FIELDS} for doc in documents]


def spec_of(package: Path) -> dict:
    return read_documents(package)[0]


def test_committed_package_is_what_the_compiler_writes(fresh_package):
    committed, fresh = read_documents(BUILT_PACKAGE), read_documents(fresh_package)
    assert without_versions(committed) == without_versions(fresh), (
        "build/pipeline.yaml is out of date: run `bertpipe compile` and commit it"
    )
    # The comparison ignores the compiler's version fields, and only those.
    assert {"sdkVersion", "schemaVersion"} <= set(fresh[0])
    changed = dict(fresh[0], pipelineInfo={"name": "another"})
    assert without_versions([changed]) != without_versions(fresh)


def test_the_package_parses_strictly_and_names_the_image(fresh_package):
    spec = load_package(fresh_package)  # strict PipelineSpec parse, as the KFP server
    assert spec.pipeline_info.name == "bert-text-classifier"
    assert spec.schema_version == "2.1.0"
    images = {
        executor["container"]["image"]
        for executor in spec_of(fresh_package)["deploymentSpec"]["executors"].values()
    }
    assert images == {CompileConfig().kubeflow.image}


def test_runtime_parameters_have_the_config_defaults(fresh_package):
    declared = pipeline_parameters(load_package(fresh_package))
    assert set(declared) == set(training_settings())
    # Only the push destination has no sensible default on a cluster.
    assert [name for name, p in declared.items() if p.required] == ["push_dir"]
    parameters = spec_of(fresh_package)["root"]["inputDefinitions"]["parameters"]
    config = Config()
    assert parameters["train_steps"] == {
        "parameterType": "NUMBER_INTEGER",
        "defaultValue": config.train.train_steps,
        "description": RUNTIME_SETTINGS["train_steps"].help,
    }
    assert parameters["learning_rate"]["defaultValue"] == config.train.learning_rate
    assert parameters["min_accuracy"]["defaultValue"] == config.eval.min_accuracy
    assert parameters["checkpoint"]["defaultValue"] == ""  # the checkpoint packaged in the image
    assert parameters["data_root"]["defaultValue"] == f"{IMAGE_PROJECT_ROOT}/pipeline/sample_data"


def test_every_task_reads_its_parameters(fresh_package):
    tasks = spec_of(fresh_package)["root"]["dag"]["tasks"]
    for (task, key), parameter in WIRING.items():
        assert tasks[task]["inputs"]["parameters"][key] == {"componentInputParameter": parameter}
    consumers = {
        name
        for task in tasks.values()
        for name in (
            value.get("componentInputParameter")
            for value in task.get("inputs", {}).get("parameters", {}).values()
        )
        if name
    }
    assert consumers == set(training_settings())


def test_no_local_path_of_this_machine_is_in_the_package(fresh_package):
    text = fresh_package.read_text()
    assert str(REPO_ROOT) not in text
    tasks = spec_of(fresh_package)["root"]["dag"]["tasks"]
    schema = tasks["ImportSchemaGen"]["inputs"]["parameters"]["schema_file"]
    assert (
        schema["runtimeValue"]["constant"]
        == f"{IMAGE_PROJECT_ROOT}/schemas/sample_data/schema.pbtxt"
    )


def test_the_baseline_is_never_cached_and_feeds_warm_start(fresh_package):
    tasks = spec_of(fresh_package)["root"]["dag"]["tasks"]
    assert tasks["ProductionBaseline"]["cachingOptions"] == {"enableCache": False}
    assert tasks["Transform"]["cachingOptions"] == {"enableCache": True}
    assert tasks["Trainer"]["inputs"]["artifacts"]["base_model"] == {
        "taskOutputArtifact": {
            "outputArtifactKey": "baseline",
            "producerTask": "ProductionBaseline",
        }
    }
    assert tasks["Evaluator"]["inputs"]["artifacts"]["baseline_model"]["taskOutputArtifact"] == {
        "outputArtifactKey": "baseline",
        "producerTask": "ProductionBaseline",
    }


def test_the_report_is_a_step_after_the_pusher_with_an_html_output(fresh_package):
    """The Report task reads this run's artifacts, runs after the Pusher, and outputs an artifact
    that TFX's entry point can rebuild and the KFP UI renders as HTML (system.HTML)."""
    from tfx.types.value_artifact import ValueArtifact
    from tfx.utils import import_utils

    spec = spec_of(fresh_package)
    report = spec["root"]["dag"]["tasks"]["Report"]
    sources = {
        name: (
            value["taskOutputArtifact"]["producerTask"],
            value["taskOutputArtifact"]["outputArtifactKey"],
        )
        for name, value in report["inputs"]["artifacts"].items()
    }
    assert sources["evaluation"] == ("Evaluator", "evaluation")
    assert sources["blessing"] == ("Evaluator", "blessing")
    assert sources["pushed_model"] == ("Pusher", "pushed_model")
    assert sources["transform_graph"] == ("Transform", "transform_graph")
    assert {"Evaluator", "Pusher", "Trainer"} <= set(report["dependentTasks"])
    outputs = spec["components"][report["componentRef"]["name"]]["outputDefinitions"]["artifacts"]
    titles = {
        name: yaml.safe_load(value["artifactType"]["instanceSchema"])["title"]
        for name, value in outputs.items()
    }
    assert titles == {"html": "system.HTML", "report": "tfx.File"}
    # The task starts through the report's entry point, which maps that title to its class for
    # TFX's KFP entry point (other tasks start TFX's entry point directly).
    executor = spec["deploymentSpec"]["executors"][
        spec["components"][report["componentRef"]["name"]]["executorLabel"]
    ]
    assert executor["container"]["command"] == ["python", "-m", "components.report.entrypoint"]
    from tfx.orchestration.kubeflow.v2 import compiler_utils

    from components.report import entrypoint

    html = import_utils.import_class_by_path(compiler_utils.TITLE_TO_CLASS_PATH[titles["html"]])
    assert issubclass(html, ValueArtifact) and html.TYPE_NAME == "system.HTML"
    assert html is entrypoint.HTML


def test_without_warm_start_the_trainer_has_no_base_model(tmp_path):
    config = CompileConfig().replace(train={"warm_start": False})
    tasks = spec_of(compile_pipeline(config, tmp_path / "p.yaml"))["root"]["dag"]["tasks"]
    assert "base_model" not in tasks["Trainer"]["inputs"]["artifacts"]
    assert "Trainer" in tasks and "ProductionBaseline" in tasks  # still feeds the Evaluator


def test_the_trainer_asks_for_tpu_nodes(tpu_package):
    documents = read_documents(tpu_package)
    assert len(documents) == 2
    load_package(tpu_package)  # the platform spec parses strictly too
    spec, platform = documents
    executors = spec["deploymentSpec"]["executors"]
    resources = executors["Trainer_executor"]["container"]["resources"]
    assert resources["accelerator"] == {
        "type": "google.com/tpu",
        "count": "4",
        "resourceType": "google.com/tpu",
        "resourceCount": "4",
    }
    assert resources["memoryLimit"] == 32.0 and resources["resourceMemoryLimit"] == "32G"
    others = [e for name, e in executors.items() if name != "Trainer_executor" and "container" in e]
    assert others and all("resources" not in e["container"] for e in others)
    # The Trainer runs the TPU build of TensorFlow (build/Dockerfile.tpu); the others do not.
    assert executors["Trainer_executor"]["container"]["image"] == "bertpipe-tpu:0.1.0"
    assert {e["container"]["image"] for e in others} == {"bertpipe:0.1.0"}
    selector = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert selector == {
        "Trainer_executor": {
            "nodeSelector": {
                "labels": {
                    "cloud.google.com/gke-tpu-accelerator": "tpu-v5-lite-podslice",
                    "cloud.google.com/gke-tpu-topology": "2x2",
                }
            }
        }
    }
    # A gs:// push destination compiled in becomes the default: no parameter is required.
    declared = pipeline_parameters(load_package(tpu_package))
    assert not [name for name, p in declared.items() if p.required]
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    assert parameters["push_dir"]["defaultValue"] == "gs://models/reviews"


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"data": {"data": "/srv/reviews"}}, r"data '/srv/reviews' is a local path .* gs://"),
        ({"model": {"checkpoint": "/models/bert"}}, r"checkpoint '/models/bert' is a local path"),
        ({"run": {"push_dir": "/srv/serving"}}, r"push_dir '/srv/serving' is a local path"),
    ],
)
def test_local_paths_cannot_be_compiled(tmp_path, changes, message):
    with pytest.raises(ValueError, match=message):
        compile_pipeline(CompileConfig().replace(**changes), tmp_path / "p.yaml")
    assert not (tmp_path / "p.yaml").exists()


def test_data_and_checkpoint_uris_become_the_defaults(tmp_path, write_ram_spans):
    write_ram_spans("ram://compile/reviews")
    config = CompileConfig().replace(
        data={
            "data": "ram://compile/reviews/span-{SPAN}",
            "schema": str(REPO_ROOT / "schemas" / "generic"),
        },
        model={"checkpoint": "gs://models/bert-base-uncased"},
        run={"push_dir": "gs://models/serving"},
    )
    spec = spec_of(compile_pipeline(config, tmp_path / "p.yaml"))
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    assert parameters["data_root"]["defaultValue"] == "ram://compile/reviews"
    assert parameters["checkpoint"]["defaultValue"] == "gs://models/bert-base-uncased"
    assert parameters["push_dir"]["defaultValue"] == "gs://models/serving"
    example_gen = spec["root"]["dag"]["tasks"]["TextExampleGen"]["inputs"]["parameters"]
    assert "span-{SPAN}/train.csv" in example_gen["input_config"]["runtimeValue"]["constant"]


def test_uri_and_project_paths():
    assert portable_path("gs://bucket/reviews/{SPAN}", "data") == "gs://bucket/reviews/{SPAN}"
    assert portable_path(str(REPO_ROOT / "schemas" / "sst2"), "schema") == (
        f"{IMAGE_PROJECT_ROOT}/schemas/sst2"
    )


@pytest.mark.parametrize(
    "kubeflow_settings, message",
    [
        ({"package": "build/pipeline.json"}, "must be a .yaml file"),
        ({"accelerator_type": "nvidia.com/gpu", "accelerator_count": 0}, "at least 1"),
        ({"accelerator_type": "nvidia.com/gpu", "node_selector": ("gpu",)}, "key=value"),
        ({"node_selector": ("a=b",)}, "set accelerator_type too"),
    ],
)
def test_kubeflow_settings_are_checked(kubeflow_settings, message):
    with pytest.raises(ValueError, match=message):
        CompileConfig().replace(kubeflow=kubeflow_settings)


# -- the Trainer on Vertex AI Training ---------------------------------------------------------------
REGISTRY_IMAGE = "europe-docker.pkg.dev/my-project/ml/bertpipe:0.1.0"
VERTEX_FLAGS = [
    "--vertex",
    "--vertex-project", "my-project",
    "--vertex-region", "europe-west4",
    "--vertex-machine-type", "n1-standard-16",
    "--vertex-accelerator-type", "NVIDIA_TESLA_T4",
    "--vertex-accelerator-count", "2",
    "--vertex-replicas", "3",
]  # fmt: skip


@pytest.fixture(scope="module")
def vertex_package(tmp_path_factory) -> tuple[Path, str]:
    """`bertpipe compile --vertex ...`: three T4 machines, a chief and two workers."""
    import contextlib
    import io

    target = tmp_path_factory.mktemp("vertex") / "pipeline.yaml"
    out = io.StringIO()
    argv = ["compile", "--package", str(target), "--image", REGISTRY_IMAGE, *VERTEX_FLAGS]
    with contextlib.redirect_stdout(out):
        assert bertpipe([*argv, "--push-dir", "gs://models/reviews"]) == 0
    return target, out.getvalue()


def test_the_trainer_runs_as_a_vertex_ai_job_on_worker_pools(vertex_package):
    package, printed = vertex_package
    load_package(package)
    spec = spec_of(package)
    tasks = spec["root"]["dag"]["tasks"]
    parameters = tasks["Trainer"]["inputs"]["parameters"]
    custom_config = json.loads(parameters["custom_config"]["runtimeValue"]["constant"])
    assert custom_config[tfx_vertex.ENABLE_VERTEX_KEY] is True
    assert custom_config[tfx_vertex.VERTEX_REGION_KEY] == "europe-west4"
    job = custom_config[tfx_vertex.TRAINING_ARGS_KEY]
    machine = {
        "machine_type": "n1-standard-16",
        "accelerator_type": "NVIDIA_TESLA_T4",
        "accelerator_count": 2,
    }
    assert job == {
        "project": "my-project",
        "job_spec": {
            "worker_pool_specs": [
                {
                    "machine_spec": machine,
                    "replica_count": count,
                    "container_spec": {"image_uri": REGISTRY_IMAGE},
                }
                for count in (1, 2)  # the chief, then the workers (TF_CONFIG: chief, worker)
            ]
        },
    }
    CustomJobSpec(job["job_spec"])  # what Vertex AI's client makes of it
    # The job runs the same run_fn on the same Config; the run-time parameters still reach it.
    assert parameters["run_fn"]["runtimeValue"]["constant"] == RUN_FN
    assert Config.from_json(custom_config["config"]).train == Config().train
    for name in Trainer.SETTINGS:
        assert parameters[name] == {"componentInputParameter": name}
    # The Trainer step only launches and watches the job: no accelerator, the project image.
    container = spec["deploymentSpec"]["executors"]["Trainer_executor"]["container"]
    class_path = container["args"][container["args"].index("--executor_class_path") + 1]
    assert class_path == "components.trainer.vertex.VertexExecutor"
    assert container["image"] == REGISTRY_IMAGE and "resources" not in container
    producer = tasks["Evaluator"]["inputs"]["artifacts"]["model"]["taskOutputArtifact"]
    assert producer["producerTask"] == "Trainer"
    assert "Vertex AI job in my-project (europe-west4): 3 x n1-standard-16 with 2" in printed


def test_vertex_tpu_machines_run_the_tpu_image():
    config = CompileConfig().replace(
        kubeflow={"image": REGISTRY_IMAGE},
        vertex={
            "enabled": True,
            "project": "my-project",
            "machine_type": "ct5lp-hightpu-4t",
            "accelerator_type": "TPU_V5_LITEPOD",
            "accelerator_count": 4,
            "tpu_topology": "2x2",
        },
    )
    (pool,) = job_spec(config)["worker_pool_specs"]
    assert pool == {
        "machine_spec": {
            "machine_type": "ct5lp-hightpu-4t",
            "accelerator_type": "TPU_V5_LITEPOD",
            "accelerator_count": 4,
            "tpu_topology": "2x2",
        },
        "replica_count": 1,
        "container_spec": {"image_uri": REGISTRY_IMAGE.replace("bertpipe:", "bertpipe-tpu:")},
    }


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"vertex": {"enabled": True}}, "needs a project"),
        (
            {
                "vertex": {"enabled": True, "project": "p"},
                "kubeflow": {"accelerator_type": "nvidia.com/gpu"},
            },
            "give its accelerators as --vertex-accelerator-type",
        ),
        (
            {"kubeflow": {"accelerator_type": "google.com/tpu"}, "train": {"strategy": "mirrored"}},
            "runs on TPUs but strategy is 'mirrored'",
        ),
        (
            {
                "vertex": {
                    "enabled": True,
                    "project": "p",
                    "machine_type": "cloud-tpu",
                    "replica_count": 2,
                }
            },
            "TPU training runs on one replica",
        ),
        (
            {
                "vertex": {"enabled": True, "project": "p", "replica_count": 2},
                "train": {"strategy": "cpu"},
            },
            "needs strategy auto or multi_worker",
        ),
    ],
)
def test_vertex_and_tpu_settings_are_checked(changes, message):
    with pytest.raises(ValueError, match=message):
        CompileConfig().replace(**changes)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({}, r"'bertpipe:0.1.0' names none: pass --image"),
        (
            {"kubeflow": {"image": REGISTRY_IMAGE}, "vertex": {"accelerator_type": "TPU_V9"}},
            r"'TPU_V9' is not a Vertex AI accelerator type; expected one of \[.*'TPU_V3'",
        ),
    ],
)
def test_vertex_jobs_that_vertex_would_refuse_are_not_compiled(tmp_path, changes, message):
    vertex = {"enabled": True, "project": "p", **changes.pop("vertex", {})}
    with pytest.raises(ValueError, match=message):
        compile_pipeline(CompileConfig().replace(vertex=vertex, **changes), tmp_path / "p.yaml")
    assert not (tmp_path / "p.yaml").exists()


def test_cli_compile_writes_the_package(tmp_path, capsys):
    target = tmp_path / "out" / "gpu.yaml"
    flags = ["--accelerator-type", "nvidia.com/gpu", "--accelerator-count", "2"]
    assert bertpipe(["compile", "--package", str(target), "--image", "r/bp:1", *flags]) == 0
    assert f"into {target}" in capsys.readouterr().out
    spec = spec_of(target)
    container = spec["deploymentSpec"]["executors"]["Trainer_executor"]["container"]
    assert container["image"] == "r/bp:1"
    assert container["resources"]["accelerator"]["resourceType"] == "nvidia.com/gpu"
    assert container["resources"]["accelerator"]["count"] == "2"


# -- bertpipe submit / schedule -----------------------------------------------------------------------
def test_cli_submit_sends_typed_parameters(kfp_standin, capsys):
    code = bertpipe(
        [
            "submit",
            "--endpoint", kfp_standin.url,
            "--experiment", "reviews",
            "--run-name", "manual-1",
            "--param", "push_dir=gs://models/reviews",
            "--param", "train_steps=500",
            "--param", "learning_rate=5e-5",
            "--pipeline-root", "gs://bucket/root",
        ]
    )  # fmt: skip
    assert code == 0
    (run,) = kfp_standin.runs.values()
    assert run["run_id"] in capsys.readouterr().out
    assert run["display_name"] == "manual-1"
    assert run["runtime_config"] == {
        "parameters": {
            "push_dir": "gs://models/reviews",
            "train_steps": 500,
            "learning_rate": 5e-5,
        },
        "pipeline_root": "gs://bucket/root",
    }
    spec, _ = kfp_server.parse_inline_spec(run["pipeline_spec"])
    assert spec.pipeline_info.name == "bert-text-classifier"


def test_cli_schedule_creates_the_retraining_job(kfp_standin, capsys):
    code = bertpipe(
        [
            "schedule",
            "--endpoint", kfp_standin.url,
            "--cron", "0 0 3 * * *",
            "--max-concurrency", "1",
            "--param", "push_dir=gs://models/reviews",
            "--param", "data_root=gs://bucket/reviews",
        ]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    (request,) = kfp_standin.requests_to("POST", "/recurringruns")
    assert request.body["trigger"] == {"cron_schedule": {"cron": "0 0 3 * * *"}}
    assert request.body["no_catchup"] is True
    assert request.body["display_name"] == "bert-text-classifier-retraining"
    assert request.body["runtime_config"]["parameters"] == {
        "push_dir": "gs://models/reviews",
        "data_root": "gs://bucket/reviews",
    }


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--cron", "0 3 * * *"], r"has five fields.*six-field form .0 0 3 \* \* \*."),
        (["--cron", "0 0 3 * * *", "--param", "train_steps=many"], "declared NUMBER_INTEGER"),
        (["--cron", "0 0 3 * * *", "--param", "epochs=3"], "unknown pipeline parameter 'epochs'"),
        (["--cron", "0 0 3 * * *"], r"missing pipeline parameter\(s\) \['push_dir'\]"),
    ],
)
def test_cli_schedule_errors_are_clear_and_send_nothing(kfp_standin, capsys, argv, message):
    code = bertpipe(["schedule", "--endpoint", kfp_standin.url, *argv])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("bertpipe schedule: ")
    assert re.search(message, err), err
    assert not kfp_standin.requests_to("POST", "/recurringruns")


@pytest.mark.parametrize(
    "endpoint, package, message",
    [
        ("127.0.0.1:8888", None, "KFP endpoint '127.0.0.1:8888' must be an http:// or https://"),
        ("{url}/elsewhere", None, "does not look like a Kubeflow Pipelines API endpoint"),
        ("{url}", "nothing.yaml", "pipeline package nothing.yaml does not exist"),
        ("{url}", "pipeline.json", r"pipeline package pipeline.json must be a \.yaml or \.yml"),
    ],
)
def test_cli_submit_errors_are_one_line_and_send_nothing(
    kfp_standin, capsys, endpoint, package, message
):
    argv = ["submit", "--endpoint", endpoint.format(url=kfp_standin.url)]
    argv += ["--param", "push_dir=gs://models/reviews"]
    code = bertpipe(argv + (["--package", package] if package else []))
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("bertpipe submit: ") and len(err.splitlines()) == 1, err
    assert re.search(message, err), err
    assert not kfp_standin.requests_to("POST", "/runs")


# Executors that load a graph with the tokenizer's tensorflow-text ops (the transform graph or the
# exported model): on Kubeflow each runs in a fresh container, where nothing else imported them.
LOADS_TOKENIZER_OPS = ("Transform", "Trainer", "Evaluator")
CHECK_OPS = """
import importlib, sys
from tensorflow.python.framework import op_def_registry
assert op_def_registry.get("CaseFoldUTF8") is None
importlib.import_module(sys.argv[1])
missing = [op for op in ("CaseFoldUTF8", "WordpieceTokenizeWithOffsets", "RegexSplitWithOffsets")
           if op_def_registry.get(op) is None]
print("MISSING", missing)
"""


@pytest.mark.slow
def test_executors_register_the_tokenizer_ops_in_a_fresh_process(fresh_package):
    """Guards against "Op type not registered 'CaseFoldUTF8'" in Transform/Trainer/Evaluator pods."""
    import subprocess
    import sys

    spec = spec_of(fresh_package)
    modules = {}
    for task in LOADS_TOKENIZER_OPS:
        component = spec["root"]["dag"]["tasks"][task]["componentRef"]["name"]
        executor = spec["components"][component]["executorLabel"]
        args = spec["deploymentSpec"]["executors"][executor]["container"]["args"]
        class_path = args[args.index("--executor_class_path") + 1]
        modules[task] = class_path.rsplit(".", 1)[0]
    assert modules["Evaluator"] == "components.evaluator.executor"
    processes = {
        task: subprocess.Popen(
            [sys.executable, "-c", CHECK_OPS, module],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO_ROOT,
        )
        for task, module in sorted(set(modules.items()))
    }
    for task, process in processes.items():
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err[-2000:]
        assert "MISSING []" in out, f"{task} ({modules[task]}) does not register the ops: {out}"


def test_package_yaml_is_plain_data():
    """The committed package is plain YAML: no Python tags, and its header says how to rebuild."""
    text = BUILT_PACKAGE.read_text()
    assert text.startswith("# KFP v2 pipeline package") and "bertpipe compile" in text
    assert "!!python" not in text
    documents = list(yaml.safe_load_all(text))  # every document parses as plain YAML
    assert len(documents) == 1 and isinstance(documents[0], dict)  # no platform spec by default
    assert documents[0]["pipelineInfo"]["name"] == PIPELINE_NAME
    assert set(documents[0]["root"]["dag"]["tasks"]) >= {"TextExampleGen", "Trainer", "Pusher"}


# -- Beam pipeline options ------------------------------------------------------------------------------
BEAM_COMPONENTS = ("TextExampleGen", "StatisticsGen", "Transform", "Evaluator")


def test_beam_options_are_written_for_every_beam_step(tmp_path):
    """`--beam-arg` values reach each Beam component's container as arguments (where TFX's
    KubeflowV2 compiler puts a Beam step's pipeline options), ExampleGen's driver hook too."""
    beam_args = [
        "--runner=PortableRunner",
        "--job_endpoint=flink-jobserver:8099",
        "--environment_type=EXTERNAL",
        "--environment_config=localhost:50000",
        "--experiments=beam_fn_api,use_deprecated_read",
    ]
    target = tmp_path / "flink.yaml"
    flags = [f"--beam-arg={arg}" for arg in beam_args]
    assert bertpipe(["compile", "--package", str(target), *flags]) == 0
    spec = spec_of(target)
    tasks, components = spec["root"]["dag"]["tasks"], spec["components"]
    executors = spec["deploymentSpec"]["executors"]
    for task in BEAM_COMPONENTS:
        container = executors[components[tasks[task]["componentRef"]["name"]]["executorLabel"]][
            "container"
        ]
        assert container["args"][-len(beam_args) :] == beam_args, task
    hook = executors["TextExampleGen_executor"]["container"]["lifecycle"]["preCacheCheck"]
    assert hook["args"][-len(beam_args) :] == beam_args
    # The default package (build/pipeline.yaml) carries no Beam options: the DirectRunner's defaults.
    committed = read_documents(BUILT_PACKAGE)[0]["deploymentSpec"]["executors"]
    assert not [
        a for e in committed.values() for a in e["container"]["args"] if a.startswith("--d")
    ]


def test_a_beam_option_that_cannot_work_stops_the_compile(tmp_path, capsys):
    target = tmp_path / "dataflow.yaml"
    assert (
        bertpipe(["compile", "--package", str(target), "--beam-arg=--runner=DataflowRunner"]) == 2
    )
    err = capsys.readouterr().err
    assert re.match(r"bertpipe compile: --runner=DataflowRunner needs .*sdk_container_image", err)
    assert not target.exists()
