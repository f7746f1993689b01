"""Command-line flags generated from the typed Config: one flag per setting, defaults from the
dataclasses (components/core/config.py), and the Config built back from parsed flags."""

from __future__ import annotations

import argparse
import dataclasses

from components.core.config import Config, field_types, section_types


def _flag_name(section: str, f: dataclasses.Field) -> str:
    return "--" + (f.metadata.get("flag") or f.name).replace("_", "-")


def add_config_arguments(parser: argparse.ArgumentParser, sections: tuple[str, ...]) -> None:
    """Adds one flag per setting of the given sections; every default comes from the dataclasses."""
    for section in sections:
        section_cls = section_types()[section]
        group = parser.add_argument_group(f"{section} settings")
        kinds = field_types(section_cls)
        for f in dataclasses.fields(section_cls):
            kind = kinds[f.name]
            name = _flag_name(section, f)
            dest = f"{section}.{f.name}"
            help_text = f"{f.metadata['help']} (default: {f.default!r})"
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


def config_from_args(args: argparse.Namespace, base: Config | None = None) -> Config:
    """The default config (or `base`) with every flag that was given applied."""
    changes: dict[str, dict] = {}
    for dest, value in vars(args).items():
        if "." in dest and value is not None:
            section, name = dest.split(".", 1)
            changes.setdefault(section, {})[name] = (
                tuple(value) if isinstance(value, list) else value
            )
    return (base or Config()).replace(**changes)
