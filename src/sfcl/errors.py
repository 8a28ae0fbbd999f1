"""The project's exception for user mistakes.

Anything a user can cause (a missing dataset folder, a malformed list file, a
corrupt image, an unknown config key) raises :class:`SfclError` with a message
that names the path or key and what was expected. The CLI catches it at the top
level, prints one line and exits with code 2. Bugs still raise tracebacks.
"""

from __future__ import annotations


class SfclError(Exception):
    """A user-facing error: one line, names the culprit and what was expected."""
