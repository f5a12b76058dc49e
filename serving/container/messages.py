"""An exception (or any text) as one line: the one rule every error message of ``serving`` follows.

Every error of ``serving`` ends up on a single line somewhere: ``python -m
serving`` prints one ``error: ...`` line, SageMaker shows a training job's
``FailureReason`` on one line, and a client reads ``{"error": "..."}``.
Library exceptions (botocore, MLflow, Hydra, YAML, pickle) often span
several lines; :func:`one_line` is the single place that flattens them, for
the host commands and the container programs alike.

It lives in the container package, which imports nothing of the host side,
so that both sides can use it: the lean ``serve`` image carries the
container package and only numpy, Flask and gunicorn.
"""

from __future__ import annotations

import re

__all__ = ["one_line"]

_WHITESPACE = re.compile(r"\s+")


def one_line(
    error: object,
    *,
    limit: int | None = None,
    with_type: bool = False,
    first_line: bool = False,
    joiner: str = " ",
) -> str:
    """``error``'s text on one line: each line's whitespace runs collapsed, the lines joined.

    Parameters
    ----------
    error : exception or object
        An exception (its ``str``; its type's name when that is empty) or
        any text (a message, an AWS ``FailureReason``).
    limit : int, optional
        Cut the result to at most ``limit`` characters, the last three
        being ``...`` when something was cut.
    with_type : bool
        Start with the exception type's name, ``"KeyError: 'x'"``: for a
        bug, where the type is part of what went wrong.
    first_line : bool
        Keep only the first non-empty line (for libraries whose further
        lines are noise, such as a server's response body).
    joiner : str
        What goes between lines; ``"; "`` reads better for messages built
        as a list of lines (Hydra's "Available options" lists).

    Returns
    -------
    str
        No newline, no leading or trailing whitespace.
    """
    text = str(error)
    lines = [_WHITESPACE.sub(" ", line).strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    flat = lines[0] if first_line and lines else joiner.join(lines)
    if isinstance(error, BaseException):
        name = type(error).__name__
        if not flat:
            flat = name  # an exception without a message still says what it was
        elif with_type:
            flat = f"{name}: {flat}"
    if limit is not None and len(flat) > limit:
        flat = flat[: limit - 3] + "..."
    return flat
