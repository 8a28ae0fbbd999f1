"""The project's exception for user mistakes.

Anything a user can cause (a missing dataset folder, a malformed list file, a
corrupt image, an unknown config key) raises :class:`SfclError` with a message
that names the path or key and what was expected. The CLI catches it at the top
level, prints one line and exits with code 2. Bugs still raise tracebacks.
"""

from __future__ import annotations


class SfclError(Exception):
    """A user-facing error: one line, names the culprit and what was expected."""


def user_message(err: BaseException) -> str:
    """The one line to print for ``err``. An error raised inside a DataLoader worker reaches the main
    process re-wrapped by torch ("Caught SfclError in DataLoader worker process 0." plus the worker's
    traceback); its last line holds the original message, which is what the user sees."""
    text = str(err)
    if "Original Traceback" in text:
        lines = [line for line in text.splitlines() if line.strip()]
        text = lines[-1].split(f"{type(err).__name__}: ", 1)[-1]
    first = text.splitlines()[0] if text.strip() else type(err).__name__
    return first
