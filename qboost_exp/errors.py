"""Exceptions that mean "the user asked for something that cannot work".

The CLI prints these as one line and exits non-zero; anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations


class QBoostError(Exception):
    """A user-facing error: the message says what was wrong and what to do."""


class ConfigError(QBoostError, ValueError):
    """A configuration value is invalid or names something that does not exist."""


class DataError(QBoostError, ValueError):
    """Input data cannot be used (missing file, bad CSV, a single class, ...)."""


class SamplerError(QBoostError, RuntimeError):
    """A sampler cannot be built or cannot solve the problem it was given."""


class CredentialsError(SamplerError):
    """A cloud sampler (QPU, hybrid) was asked for but no D-Wave token is configured."""


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when the process gets SIGTERM, so that it ends its runs as Ctrl-C does (KILLED, with a reason)."""

    def __str__(self) -> str:
        return "terminated (SIGTERM)"


class TimeLimit(KeyboardInterrupt):
    """Raised in a sweep job when its scheduler is about to stop it at its time limit (SLURM, through submitit's signal).

    A KeyboardInterrupt, so that the job unwinds as it does for Ctrl-C: its
    run ends KILLED, with this message as the reason.
    """

    def __init__(self, message: str = "stopped at the scheduler's time limit") -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message
