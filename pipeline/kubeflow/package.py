"""Reading a compiled pipeline package: its YAML documents, its PipelineSpec and its parameters.

The package is the KFP v2 `PipelineSpec` YAML that `bertpipe compile` writes (the `.json` TFX
writes by default is a Vertex `PipelineJob`, which KFP cannot run). It is read here, and only
here, for every purpose: strictly as the KFP API server reads it (unknown fields and wrong types
are errors, with a pipeline name and a root DAG required), and for its run-time parameters, whose
values are checked against the declared types before anything is sent or run. A package or
parameters that cannot be used raise one of this module's `UserError`s, naming the file or the
parameter.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from components.core.errors import UserError

PACKAGE_SUFFIXES = (".yaml", ".yml")
# WORKDIR of build/Dockerfile: where the image holds this project. A package names this project's
# files (the bundled sample, schemas/) by their path there (compile.py).
IMAGE_PROJECT_ROOT = "/bertpipe"


class PackageNotFoundError(UserError, FileNotFoundError):
    """There is no pipeline package at the path given."""


class PackageError(UserError, ValueError):
    """A pipeline package that is not a KFP v2 PipelineSpec (the message names the file)."""


class ParameterError(UserError, ValueError):
    """Run-time parameters that the package does not declare, lacks, or of another type."""


@dataclass(frozen=True)
class PipelineParameter:
    """A run-time parameter that the pipeline's root declares."""

    name: str
    type: str  # a ParameterType (STRING, NUMBER_INTEGER, ...) or a deprecated PrimitiveType (INT, ...)
    required: bool


def read_documents(package_path: str | Path) -> list[dict]:
    """The YAML documents of a pipeline package (the PipelineSpec, then optional PlatformSpecs).

    Raises PackageNotFoundError or PackageError with a message that names the file.
    """
    path = Path(package_path)
    if not path.name.endswith(PACKAGE_SUFFIXES):
        raise PackageError(
            f"pipeline package {path} must be a .yaml or .yml file (a KFP v2 PipelineSpec);"
            " kfp 2.9 does not take .json packages, and TFX's default pipeline.json is a Vertex"
            " PipelineJob: compile with KubeflowV2DagRunner(output_filename='pipeline.yaml')"
        )
    if not path.is_file():
        raise PackageNotFoundError(
            f"pipeline package {path} does not exist; compile the pipeline first"
        )
    try:
        documents = [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise PackageError(f"pipeline package {path} is not valid YAML: {error}") from None
    if not documents:
        raise PackageError(f"pipeline package {path} is empty")
    if not all(isinstance(doc, dict) for doc in documents):
        raise PackageError(f"pipeline package {path}: every YAML document must be a mapping")
    return documents


def load_package(package_path: str | Path) -> pipeline_spec_pb2.PipelineSpec:
    """Reads a KFP v2 pipeline package strictly, as the KFP API server does; returns the spec.

    Unknown fields and wrong types are errors; a pipeline name and a root DAG are required.
    Raises PackageNotFoundError or PackageError with a message that names the file.
    """
    path = Path(package_path)
    documents = read_documents(path)
    try:
        spec = json_format.ParseDict(
            json.loads(json.dumps(documents[0])), pipeline_spec_pb2.PipelineSpec()
        )
        for platform in documents[1:]:
            json_format.ParseDict(
                json.loads(json.dumps(platform)), pipeline_spec_pb2.PlatformSpec()
            )
    except (json_format.ParseError, TypeError, ValueError) as error:
        raise PackageError(
            f"pipeline package {path} is not a valid KFP PipelineSpec: {error}"
        ) from None
    if not spec.pipeline_info.name:
        raise PackageError(f"pipeline package {path} has no pipelineInfo.name")
    if not spec.root.HasField("dag"):
        raise PackageError(f"pipeline package {path} has no root DAG")
    return spec


def pipeline_parameters(spec: pipeline_spec_pb2.PipelineSpec) -> dict[str, PipelineParameter]:
    """The run-time parameters that a PipelineSpec's root declares, by name."""
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
    """Checks run parameters against what the pipeline declares; returns them as a plain dict.

    Raises ParameterError naming the parameter that is unknown, missing or of another type.
    """
    params = dict(params or {})
    declared = pipeline_parameters(spec)
    unknown = sorted(set(params) - set(declared))
    if unknown:
        raise ParameterError(
            f"unknown pipeline parameter(s) {unknown}; the pipeline declares"
            f" {sorted(declared) or 'none'}"
        )
    missing = sorted(name for name, p in declared.items() if p.required and name not in params)
    if missing:
        raise ParameterError(
            f"missing pipeline parameter(s) {missing}: they have no default in the package"
        )
    for name, value in params.items():
        kind = declared[name].type
        allowed = _PARAMETER_CHECKS.get(kind)
        wrong_bool = isinstance(value, bool) and kind != "BOOLEAN"
        if allowed and (not isinstance(value, allowed) or wrong_bool):
            raise ParameterError(
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
    """`name=value` strings (from the command line) as values of the types the package declares.

    Raises ParameterError naming the item that is not name=value, unknown or not of its type.
    """
    declared = pipeline_parameters(load_package(package_path))
    values: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ParameterError(f"parameter {item!r} must be name=value")
        if name not in declared:
            raise ParameterError(
                f"unknown pipeline parameter {name!r}; {package_path} declares"
                f" {sorted(declared) or 'none'}"
            )
        kind = declared[name].type
        try:
            values[name] = _PARSERS.get(kind, str)(text)
        except (KeyError, ValueError) as error:
            raise ParameterError(
                f"pipeline parameter {name!r} is declared {kind}; cannot read {text!r} as one"
                f" ({error})"
            ) from None
    return values
