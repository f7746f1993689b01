"""A compiled package's spec made runnable by kfp.local: pure functions on the PipelineSpec and
on the ExecutorInputs that kfp.local resolves (local_run.py runs them).

- `local_paths`: this project's files, which the package names by their path in the image
  (`/bertpipe/...`), named by their path in this checkout.
- `with_component_prefix`: every component named `comp-<name>`, the prefix that kfp.local's task
  folders assume (it cuts five characters off every component name: "Trainer" would become "er").
- `executors`: each container executor of the package with its command template, its driver
  hook (`lifecycle.preCacheCheck`) and the artifact types its inputs declare; `Executor` knows a
  command that kfp.local resolved from its template, and `task_folders` names the task behind
  kfp.local's folder.
- `merge_driver_output`: what the driver hook wrote, merged into the executor's ExecutorInput,
  as Vertex AI Pipelines does.
- `restore_input_types`: input artifacts with the types their task declares (kfp.local rebuilds
  them from `schemaTitle` alone, which TFX's types do not have).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from components.core.errors import UserError
from pipeline.kubeflow.package import IMAGE_PROJECT_ROOT

# kfp.local's task folders are named after the component minus this prefix (what KFP's own
# compiler writes; TFX's compiler does not).
COMPONENT_PREFIX = "comp-"
EXECUTOR_INPUT_PLACEHOLDER = "{{$}}"


class LocalRunError(UserError, RuntimeError):
    """A package cannot run locally, or one of its tasks failed (the message says which);
    `bertpipe run-package` exits with status 1 for it (components/core/errors.py)."""

    exit_status = 1


def local_paths(spec: dict, project_root: Path) -> dict:
    """The spec with this project's files (`/bertpipe/...`, also inside JSON-encoded values)
    named by their path in `project_root`. Only a path that starts a string is mapped, so that
    e.g. gs://bucket/bertpipe/... stays as it is."""
    root = str(project_root)
    if '"' in root or "\\" in root:
        raise LocalRunError(f"cannot map the image's {IMAGE_PROJECT_ROOT} to {root!r}")
    text = re.sub(rf'(?<="){re.escape(IMAGE_PROJECT_ROOT)}(?=[/"])', root, json.dumps(spec))
    return json.loads(text)


def with_component_prefix(spec: dict) -> dict:
    """The spec with every component named `comp-<name>`, as kfp.local's task folders assume."""
    renamed = {
        name: name if name.startswith(COMPONENT_PREFIX) else COMPONENT_PREFIX + name
        for name in spec.get("components", {})
    }
    spec = dict(spec)
    spec["components"] = {renamed[name]: body for name, body in spec["components"].items()}
    for task in spec["root"]["dag"]["tasks"].values():
        task["componentRef"]["name"] = renamed[task["componentRef"]["name"]]
    return spec


@dataclass(frozen=True)
class Executor:
    """A container executor of the package, and what running it locally needs."""

    label: str
    template: tuple[str, ...]  # command + args as in the package, with the {{$}} placeholder
    hook: tuple[str, ...] | None  # lifecycle.preCacheCheck command + args
    input_types: dict[str, dict]  # input artifact name -> declared artifactType

    def executor_input(self, command: list[str]) -> str | None:
        """The resolved ExecutorInput if `command` is this executor's, else None."""
        if len(command) != len(self.template):
            return None
        resolved = None
        for expected, given in zip(self.template, command, strict=True):
            if expected == EXECUTOR_INPUT_PLACEHOLDER:
                if resolved not in (None, given):
                    return None
                resolved = given
            elif expected != given:
                return None
        return resolved


def executors(spec: dict) -> list[Executor]:
    """The container executors of a spec; raises LocalRunError for one without the {{$}}
    (ExecutorInput) argument that TFX's KubeflowV2DagRunner writes."""
    types_of: dict[str, dict] = {}
    for component in spec["components"].values():
        declared = component.get("inputDefinitions", {}).get("artifacts", {})
        types = {name: artifact["artifactType"] for name, artifact in declared.items()}
        types_of.setdefault(component.get("executorLabel"), {}).update(types)
    found = []
    for label, executor in spec["deploymentSpec"]["executors"].items():
        container = executor.get("container")
        if container is None:
            continue
        template = tuple(container.get("command", [])) + tuple(container.get("args", []))
        if EXECUTOR_INPUT_PLACEHOLDER not in template:
            raise LocalRunError(
                f"executor {label} has no {EXECUTOR_INPUT_PLACEHOLDER} (ExecutorInput) argument:"
                " run-package runs packages compiled by TFX's KubeflowV2DagRunner"
            )
        pre_cache = container.get("lifecycle", {}).get("preCacheCheck")
        hook = None
        if pre_cache:
            hook = tuple(pre_cache.get("command", [])) + tuple(pre_cache.get("args", []))
        found.append(Executor(label, template, hook, types_of.get(label, {})))
    return found


def command_with_input(template: tuple[str, ...], executor_input: dict) -> list[str]:
    """A command template (an executor's or its hook's) with the ExecutorInput in its place."""
    serialized = json.dumps(executor_input)
    return [serialized if part == EXECUTOR_INPUT_PLACEHOLDER else part for part in template]


def task_folders(spec: dict) -> dict[str, str]:
    """{kfp.local's task folder name: the task(s) in the DAG} of a spec with prefixed components."""
    tasks: dict[str, list[str]] = {}
    for name, task in spec["root"]["dag"]["tasks"].items():
        component = task["componentRef"]["name"]
        tasks.setdefault(component.removeprefix(COMPONENT_PREFIX), []).append(name)
    return {folder: ", ".join(names) for folder, names in tasks.items()}


def merge_driver_output(executor_input: dict, driver_output: dict) -> dict:
    """The ExecutorInput of the executor: the driver's parameter values and output artifact
    metadata (its ExecutorOutput) merged in, as Vertex AI Pipelines does before it runs the
    executor."""
    merged = json.loads(json.dumps(executor_input))
    merged["inputs"].setdefault("parameterValues", {}).update(
        driver_output.get("parameterValues", {})
    )
    for key, produced in driver_output.get("artifacts", {}).items():
        targets = merged["outputs"]["artifacts"][key]["artifacts"]
        for target, artifact in zip(targets, produced.get("artifacts", []), strict=False):
            target.setdefault("metadata", {}).update(artifact.get("metadata", {}))
    return merged


def restore_input_types(executor_input: dict, declared: Mapping[str, dict]) -> None:
    """Gives each input artifact the type its task declares (kfp.local passes `system.Artifact`
    for TFX's instanceSchema types)."""
    for name, artifact_list in executor_input.get("inputs", {}).get("artifacts", {}).items():
        if name in declared:
            for artifact in artifact_list.get("artifacts", []):
                artifact["type"] = declared[name]
