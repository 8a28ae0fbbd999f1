"""The ``sfcl`` console script: parses, calls one library function, prints.

One module per command family registers its parsers (``add_parsers(sub)``): ``demo``,
``synth``, ``train``, ``evaluate`` (eval), ``occlusion`` (occlude, sol), ``visualize`` (visualize,
query), ``robustness``, ``export``, ``profile``. User mistakes surface as
:class:`~sfcl.errors.SfclError`: one line on stderr and exit code 2. Bugs still raise
tracebacks. ``python -m sfcl.cli`` (and ``torchrun -m sfcl.cli``) runs :func:`main`.
"""

from __future__ import annotations

import argparse
import logging
import sys

from sfcl.cli import demo, evaluate, export, occlusion, profile, robustness, synth, train, visualize
from sfcl.cli.args import apply_formatter
from sfcl.errors import SfclError, user_message
from sfcl.fileio import write_error

COMMAND_MODULES = (demo, synth, occlusion, visualize, robustness, train, evaluate, export, profile)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sfcl", description="Occluded visible-infrared person re-identification (SFCL).")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, help="run `sfcl COMMAND --help` for its options")
    for module in COMMAND_MODULES:
        module.add_parsers(sub)
    apply_formatter(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    try:
        return args.func(args)
    except SfclError as err:
        print(f"sfcl: error: {user_message(err)}", file=sys.stderr)
        return 2
    except OSError as err:  # a write the library did not wrap: still one line naming the path
        print(f"sfcl: error: {write_error(getattr(err, 'filename', None) or '?', err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        hint = getattr(args, "on_interrupt", None) or "nothing is left half-written: rerun the command"
        print(f"sfcl: interrupted ({hint})", file=sys.stderr)
        return 130
