"""The one exception type ``python -m serving`` turns into an ``error:`` line."""

from __future__ import annotations


class ServingError(Exception):
    """A user-facing failure: the message says what went wrong and what to do.

    ``python -m serving`` prints it as a single ``error: ...`` line on stderr
    and exits with status 2; anything else is a bug and keeps its traceback.
    """
