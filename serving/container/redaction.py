"""Keep secrets (a D-Wave token given as a hyperparameter) out of everything the job prints.

:func:`install` wraps ``sys.stdout`` and ``sys.stderr`` so that every write
has the registered secrets replaced by ``***``; the failure file goes through
:meth:`Redactor.scrub` too. Install it before importing libraries that keep
a reference to the streams (logging handlers), so they write through it.
Limits: a secret split across two ``write`` calls, or bytes written to
``sys.stdout.buffer`` directly, are not caught; nothing in this program does either.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

MASK = "***"


class Redactor:
    """The set of secrets to hide."""

    def __init__(self) -> None:
        self._secrets: list[str] = []

    def add(self, secret: str) -> None:
        if secret and secret not in self._secrets:
            self._secrets.append(secret)
            self._secrets.sort(key=len, reverse=True)  # longer first: one may contain another

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text


class RedactingStream:
    """A text stream that scrubs what is written before passing it on."""

    def __init__(self, stream: TextIO, redactor: Redactor) -> None:
        self._stream = stream
        self._redactor = redactor

    def write(self, text: str) -> int:
        self._stream.write(self._redactor.scrub(text))
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:  # flush, fileno, isatty, encoding, ...
        return getattr(self._stream, name)


def install() -> Redactor:
    """Wrap ``sys.stdout`` and ``sys.stderr``; returns the redactor to register secrets with."""
    redactor = Redactor()
    sys.stdout = RedactingStream(sys.stdout, redactor)  # type: ignore[assignment]
    sys.stderr = RedactingStream(sys.stderr, redactor)  # type: ignore[assignment]
    return redactor
