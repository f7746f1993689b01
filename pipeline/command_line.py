"""The parts of the `bertpipe` command line that every command shares: the config sections a
command can take, the global flags, the subcommand adder and the flag that a command refuses with
a reason. pipeline/cli.py builds the parser from these; pipeline/kubeflow/commands.py and
pipeline/predict_command.py add their commands with them."""

from __future__ import annotations

import argparse

ALL_SECTIONS = ("data", "model", "train", "eval", "drift", "run")


def global_flags(parser: argparse.ArgumentParser, default) -> None:
    """--debug and --verbose, before the command (`default` False) or after it (`default`
    SUPPRESS, so that a command's parser does not reset what was given before it)."""
    parser.add_argument(
        "--debug",
        action="store_true",
        default=default,
        help="show the traceback of a user error too (it is one line without)",
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        default=default,
        help="show every log line of TensorFlow, TFX, Beam and transformers (and kfp.local)",
    )


class Commands:
    """Adds subcommands that all take the global flags."""

    def __init__(self, parser: argparse.ArgumentParser):
        self._commands = parser.add_subparsers(dest="command", required=True)
        self._common = argparse.ArgumentParser(add_help=False)
        global_flags(self._common, argparse.SUPPRESS)

    def add_parser(self, name: str, **kwargs) -> argparse.ArgumentParser:
        return self._commands.add_parser(name, parents=[self._common], **kwargs)


class NotUsed(argparse.Action):
    """A flag that a command rejects with the reason it does not use it."""

    def __init__(self, option_strings, dest, reason: str, **kwargs):
        self.reason = reason
        super().__init__(option_strings, dest, nargs="?", help=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        parser.error(f"{option_string} is not used by {parser.prog.split()[-1]}: {self.reason}")
