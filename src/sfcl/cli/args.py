"""Argument types shared by several ``sfcl`` commands."""

from __future__ import annotations

import argparse


def size(text: str) -> tuple[int, int]:
    """``HEIGHTxWIDTH`` (e.g. ``288x144``) -> (height, width), each >= 2."""
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected HEIGHTxWIDTH, e.g. 288x144") from None
    if height < 2 or width < 2:
        raise argparse.ArgumentTypeError(f"{text!r}: expected at least 2x2")
    return height, width


class HelpFormatter(argparse.HelpFormatter):
    """``--help`` with each option's default shown, unless it is unset (None, False), the option is
    required, or its help already says what the default is."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        unset = action.default is None or action.default is False or action.default == argparse.SUPPRESS
        if (action.required or unset or "default" in text
                or isinstance(action, argparse._HelpAction)):
            return text
        if action.option_strings or action.nargs in ("?", "*"):
            return f"{text} (default: %(default)s)"
        return text


def apply_formatter(parser: argparse.ArgumentParser) -> None:
    """Give ``parser`` and every sub-command parser under it :class:`HelpFormatter`."""
    parser.formatter_class = HelpFormatter
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                apply_formatter(child)
