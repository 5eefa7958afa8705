"""The README's usage blocks and the command line's parsers say the same: every option a
subcommand takes is in its usage line in the README, and nothing else is."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from companion import cli

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def readme_usage() -> dict[str, set[str]]:
    """command -> the options its usage lines in the README's code blocks name."""
    found: dict[str, set[str]] = {}
    for block in re.findall(r"```sh\n(.*?)```", README, re.S):
        command = None
        for line in block.splitlines():
            start = re.match(r"imageprotector ([a-z-]+)", line)
            if start:
                command = start.group(1)
                found.setdefault(command, set())
            elif not line.startswith(" "):
                command = None
            if command:
                found[command] |= set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*|-[a-zA-Z])\b", line))
    return found


def parser_options() -> dict[str, set[str]]:
    parser = cli._parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {name: {s for action in p._actions for s in action.option_strings if s not in ("-h", "--help")}
            for name, p in sub.choices.items()}


def test_every_subcommand_has_a_usage_line_in_the_readme_with_exactly_its_options():
    documented, real = readme_usage(), parser_options()
    assert sorted(real) == sorted(c for c in documented if c in real)
    problems = {}
    for command, options in real.items():
        missing, extra = options - documented[command], documented[command] - options
        if missing or extra:
            problems[command] = {"not in the README": sorted(missing), "not an option": sorted(extra)}
    assert problems == {}


def test_every_option_has_help_text():
    parser = cli._parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    silent = {f"{name} {action.option_strings[0]}" for name, p in sub.choices.items() for action in p._actions
              if action.option_strings and action.option_strings[0] not in ("-h",) and not action.help}
    assert silent == set()
