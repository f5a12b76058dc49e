"""SageMaker resource names: validation and unique, time-stamped names."""

from __future__ import annotations

import re
import time

from ._errors import ServingError

__all__ = ["check_name", "stamped_name", "MAX_NAME"]

#: SageMaker's rule for endpoint, endpoint config, model and training job names.
_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")
MAX_NAME = 63


def check_name(name: str, what: str) -> str:
    """Return ``name`` if SageMaker accepts it as a ``what`` name, else raise :class:`ServingError`.

    Checking here gives the rule in the message instead of a regex in an AWS error.
    """
    if not name or len(name) > MAX_NAME or not _NAME.match(name):
        raise ServingError(
            f"invalid {what} name {name!r}: SageMaker names are 1-{MAX_NAME} letters, digits and hyphens, "
            "starting and ending with a letter or digit"
        )
    return name


def stamped_name(base: str) -> str:
    """``base`` plus a UTC time stamp to the millisecond, cut to fit SageMaker's 63 characters.

    Models, endpoint configs and training jobs cannot be renamed or reused, so
    each deploy or job gets a fresh name; milliseconds keep two quick calls apart.
    """
    now = time.time()
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now)) + f"-{int(now * 1000) % 1000:03d}"
    head = base[: MAX_NAME - len(stamp) - 1].rstrip("-") or "qboost"
    return f"{head}-{stamp}"
