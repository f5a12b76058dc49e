"""What a service fixture does when its software is missing: install it, or skip the test.

PostgreSQL, SLURM, nginx, ... are installed with apt-get when running as root
(:mod:`system_packages`); otherwise, and for missing Python packages, the test
skips with the reason. Set QBOOST_REQUIRE_SERVICES=1 (CI) to turn those skips
into failures, so a broken setup can't pass as "skipped".
"""

from __future__ import annotations

import os

import pytest

import system_packages

REQUIRE_ENV = "QBOOST_REQUIRE_SERVICES"


def _required() -> bool:
    return os.environ.get(REQUIRE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def skip_or_fail(reason: str, *, module: bool = False):
    """pytest.skip(reason), or pytest.fail when QBOOST_REQUIRE_SERVICES is set; ``module``: at a module's import."""
    if _required():
        pytest.fail(f"{reason} ({REQUIRE_ENV} is set, so this is an error rather than a skip)", pytrace=False)
    pytest.skip(reason, allow_module_level=module)


def apt_install(packages: tuple[str, ...] | list[str], progress=None) -> None:
    """Install the Debian ``packages`` that are missing (:func:`system_packages.install`); a failure skips or fails the test.

    ``progress(text)``, if given, is told each command before it runs (a long first install is never silent).
    """
    error = system_packages.install(packages, progress)
    if error:
        skip_or_fail(error)
