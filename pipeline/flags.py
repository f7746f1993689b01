"""Command-line flags generated from the typed settings: one flag per setting of every registered
section, defaults from the dataclasses (components/core/config.py, and
pipeline/kubeflow/settings.py for `bertpipe compile`), and the Config (or CompileConfig) built
back from parsed flags."""

from __future__ import annotations

import argparse
import dataclasses

from components.core.config import Config
from components.core.settings import field_types, flag_for, section_types
from pipeline.kubeflow.settings import CompileConfig


def add_config_arguments(
    parser: argparse.ArgumentParser,
    sections: tuple[str, ...],
    leave_out: dict[str, set[str]] | None = None,
) -> None:
    """Adds one flag per setting of the given sections, but for the settings in `leave_out`
    ({section: field names}, those a command does not use); every default comes from the
    dataclasses."""
    for section in sections:
        section_cls = section_types()[section]
        group = parser.add_argument_group(f"{section} settings")
        kinds = field_types(section_cls)
        for f in dataclasses.fields(section_cls):
            if f.name in (leave_out or {}).get(section, ()):
                continue
            kind = kinds[f.name]
            name = flag_for(section, f.name)
            dest = f"{section}.{f.name}"
            # argparse formats help with %: a literal one ("95% interval") is written %%.
            help_text = f"{f.metadata['help']} (default: {f.default!r})".replace("%", "%%")
            if kind is bool:
                group.add_argument(
                    name,
                    dest=dest,
                    action=argparse.BooleanOptionalAction,
                    default=None,
                    help=help_text,
                )
            elif kind is tuple and f.metadata.get("repeat"):
                # One value per flag: values may hold commas (--beam-arg=--experiments=a,b).
                group.add_argument(
                    name,
                    dest=dest,
                    default=None,
                    action="append",
                    metavar="VALUE",
                    help=help_text,
                )
            elif kind is tuple:
                group.add_argument(name, dest=dest, default=None, type=_comma_list, help=help_text)
            else:
                group.add_argument(
                    name,
                    dest=dest,
                    default=None,
                    type=kind,
                    choices=f.metadata.get("choices"),
                    help=help_text,
                )


def _comma_list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def given_settings(args: argparse.Namespace) -> dict[str, dict]:
    """The settings given as flags, by section: `{"train": {"train_steps": 7}}`."""
    changes: dict[str, dict] = {}
    for dest, value in vars(args).items():
        if "." in dest and value is not None:
            section, name = dest.split(".", 1)
            changes.setdefault(section, {})[name] = (
                tuple(value) if isinstance(value, list) else value
            )
    return changes


def config_from_args(args: argparse.Namespace, base: Config | None = None) -> Config:
    """The default config (or `base`) with every flag that was given applied."""
    return (base or Config()).replace(**given_settings(args))


def compile_config_from_args(args: argparse.Namespace) -> CompileConfig:
    """The default CompileConfig with every flag that was given applied, the pipeline's and
    the compile sections' alike."""
    return CompileConfig().replace(**given_settings(args))
