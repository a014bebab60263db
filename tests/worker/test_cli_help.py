"""``--help`` and ``--version`` of every command: each option explains itself and shows its
default, each command says its version, and ``--debug`` is there wherever something runs."""

from __future__ import annotations

import argparse
from importlib.metadata import version

import pytest
from cli_support import run

from zoadamm_service import cli as service_cli
from zoadamm_worker import cli as worker_cli
from zoadamm_worker import demo
from zoadamm_worker.experiments import cli as experiments_cli

PARSERS = {
    "zoadamm-worker": worker_cli.build_parser(),
    "zoadamm-demo": demo.build_parser(),
    "zoadamm-experiments": experiments_cli.build_parser(),
    "zoadamm-service": service_cli.run_parser(),
    "zoadamm-service keys": service_cli.keys_parser(),
}
VERSIONS = {"zoadamm-worker": "zoadamm-worker", "zoadamm-demo": "zoadamm-worker",
            "zoadamm-experiments": "zoadamm-worker", "zoadamm-service": "zoadamm-service"}
COMMANDS = list(VERSIONS)


def commands() -> list[tuple[str, argparse.ArgumentParser]]:
    """Every (sub)command's parser by its full name, ``zoadamm-service keys new`` included."""
    found = []

    def walk(name: str, parser: argparse.ArgumentParser) -> None:
        found.append((name, parser))
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub_name, sub in action.choices.items():
                    walk(f"{name} {sub_name}", sub)

    for name, parser in PARSERS.items():
        walk(name, parser)
    return found


def _help_of(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    formatter = parser._get_formatter()
    return formatter._expand_help(action) if action.help else ""


@pytest.mark.parametrize(("name", "parser"), commands(), ids=[name for name, _ in commands()])
def test_every_option_has_a_help_text_that_shows_its_default(name, parser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) or action.dest == "help":
            continue
        text = _help_of(parser, action)
        assert text.strip(), f"{name} {action.option_strings or action.dest}: no help text"
        flag = action.nargs == 0  # --quiet, --resume, --version: off unless given
        if action.option_strings and not flag and not action.required:
            assert "default" in text, f"{name} {action.option_strings}: the help does not show the default"


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_version_and_debug(name):
    done = run(name, "--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{name} {version(VERSIONS[name])}"
    runnable = [(n, p) for n, p in commands() if n.startswith(name) and not _has_subcommands(p)
                and not n.startswith("zoadamm-service keys")]
    assert runnable
    for command, parser in runnable:
        assert "--debug" in parser._option_string_actions, command


@pytest.mark.parametrize(("name", "parser"), commands(), ids=[name for name, _ in commands()])
def test_every_subcommand_takes_version_too(name, parser):
    """docs/cli.md: every command takes --version; a subcommand's required options came first."""
    assert "--version" in parser._option_string_actions, name


def test_a_subcommands_version_is_printed_before_its_required_options_are_asked_for():
    done = run("zoadamm-worker", "rest", "--version")
    assert done.returncode == 0 and done.stdout.strip() == f"zoadamm-worker rest {version('zoadamm-worker')}"


def test_help_is_printed_as_the_commands_run():
    for argv in (["zoadamm-worker", "mnist"], ["zoadamm-worker", "rest"], ["zoadamm-demo"],
                 ["zoadamm-experiments", "run"], ["zoadamm-experiments", "analyze"], ["zoadamm-service"],
                 ["zoadamm-service", "keys", "new"]):
        done = run(*argv, "--help")
        assert done.returncode == 0 and done.stderr == "", done.stderr
        assert done.stdout.startswith(f"usage: {' '.join(argv)}")
    rest = run("zoadamm-worker", "rest", "--help").stdout
    assert "learning rate at the start (default: 0.01)" in " ".join(rest.split())


def _has_subcommands(parser: argparse.ArgumentParser) -> bool:
    return any(isinstance(a, argparse._SubParsersAction) for a in parser._actions)
