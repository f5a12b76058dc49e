"""The run :func:`~qboost_exp.tracking.tracked_run` has open: what it logged, to write elsewhere if the store fails.

Kept apart from writing the record (:mod:`._record`), so that logging
(:mod:`._log`) can say "the job finished" without importing what writes it.
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Mapping

from ._faults import Breaker


@dataclass
class OpenRun:
    """What :func:`tracked_run` logged into the run so far, to write it elsewhere if the store fails."""

    tracking_uri: str
    experiment: str
    experiment_id: str
    run_id: str
    run_name: str
    start_time: int
    params: dict[str, str]
    tags: dict[str, str]
    output_dir: str | None
    base_dir: str
    breaker: Breaker
    #: (result, metrics, cfg) once :func:`log_result` started: the run is finished, its record worth keeping.
    trained: tuple[Any, dict[str, float], Mapping[str, Any]] | None = None
    #: When that happened (ms since the epoch): the end of training.
    trained_time: int | None = None
    extra_tags: dict[str, str] = field(default_factory=dict)


# The run tracked_run has open in this context; set and reset by tracked_run around its body.
OPEN_RUN: ContextVar[OpenRun | None] = ContextVar("qboost_open_run", default=None)


def note_trained(result: Any, metrics: Mapping[str, float], cfg: Mapping[str, Any], tags: Mapping[str, str]) -> None:
    """Tell the open run (if any) that its job finished: from now on a store failure keeps a local record."""
    run = OPEN_RUN.get()
    if run is not None:
        run.trained = (result, dict(metrics), cfg)
        run.trained_time = int(time.time() * 1000)
        run.extra_tags.update(tags)


