"""Running the real ``sfcl`` top level (``sfcl.cli.main``) in-process, as the console script does."""

from __future__ import annotations

from sfcl.cli import main


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """``sfcl ARGV`` through ``sfcl.cli.main`` (one-line errors, exit code 2) -> (code, stdout, stderr)."""
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err
