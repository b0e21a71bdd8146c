"""--help of every subcommand says what each option means and its default."""

import re

import pytest

from tinymin.cli import build_parser


def _subparsers():
    parser = build_parser()
    (action,) = [a for a in parser._actions if a.dest == "command"]
    return action.choices


def _option_blocks(help_text):
    """{first option string: its help block, whitespace collapsed} from ``--help``."""
    options = help_text.split("options:", 1)[1]
    blocks = re.split(r"\n  (?=-)", "\n" + options)
    return {block.split()[0].rstrip(","): " ".join(block.split()) for block in blocks if block.strip()}


@pytest.mark.parametrize("command", sorted(_subparsers()))
def test_every_option_shows_its_meaning_and_its_default(command):
    sub = _subparsers()[command]
    blocks = _option_blocks(sub.format_help())
    for action in sub._actions:
        if not action.option_strings or action.dest == "help":
            continue
        block = blocks[action.option_strings[0]]
        assert action.help, f"{command} {action.option_strings[0]}: no help text"
        if not action.required:
            assert "(default: " in block, f"{command} {action.option_strings[0]}: no default shown"
