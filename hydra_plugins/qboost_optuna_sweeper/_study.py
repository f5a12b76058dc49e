"""What a stored study holds, read the way the sweeper counts it: which trials count, which ran which parameters.

A study outlives its drivers, so a launch starts by reading what the earlier
ones left: trials a dead driver left RUNNING, trials a stopped driver told
FAIL (to run again), parameter sets already COMPLETE (never to run again).
These helpers read :class:`optuna.trial.FrozenTrial` objects only; the
sweep (:mod:`._impl`) changes the study.
"""

from __future__ import annotations

import math
from typing import Any, Hashable, Iterable, Mapping, Sequence

#: Trial user attribute: ``qboost_exp.tracking.driver_id()`` of the process that asked for the trial.
DRIVER_ATTR = "qboost.driver"
#: Trial user attribute: the overrides every trial of its launch shared (a list): part of what makes two trials the same.
FIXED_ATTR = "qboost.fixed"
#: Trial user attribute: why a trial was told FAIL without its job's verdict (its driver died or was stopped): it runs again.
STOPPED_ATTR = "qboost.stopped"
#: Trial user attribute: why a trial never ran (the sampler proposed a COMPLETE trial's parameters again).
NOT_RUN_ATTR = "qboost.not_run"
#: Trial user attribute: why the trial failed, in words (the job's error, or why it was stopped).
FAILURE_ATTR = "failure"
#: Trial system attribute written by optuna.storages.RetryHeartbeatStaleTrialCallback: the trials a retry repeats.
RETRY_HISTORY_ATTR = "retry_history"

ParamsKey = tuple[tuple[str, Any], ...]


def retried(trials: Iterable[Any]) -> set[int]:
    """Numbers of the trials another trial runs again (Optuna's retry callback records them in the retry)."""
    found: set[int] = set()
    for trial in trials:
        found.update(int(n) for n in trial.system_attrs.get(RETRY_HISTORY_ATTR, []) or [])
    return found


def counts_toward_budget(trial: Any, again: set[int]) -> bool:
    """Whether ``trial`` is one of the study's ``n_trials``.

    COMPLETE and PRUNED trials count, and so does a trial whose job failed
    (running it again would fail again). A trial told FAIL because its
    driver died or was stopped does not once it has a retry (``again``, see
    :func:`retried`): the retry counts in its place. A parameter set that
    never ran (:data:`NOT_RUN_ATTR`) does not count.
    """
    from optuna.trial import TrialState

    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    if trial.state == TrialState.FAIL:
        return trial.number not in again and NOT_RUN_ATTR not in trial.user_attrs
    return False


def params_key(params: Mapping[str, Any]) -> ParamsKey:
    """A trial's parameters as a hashable, order-free key."""
    return tuple(sorted((str(k), _hashable(v)) for k, v in params.items()))


def _hashable(value: Any) -> Hashable:
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    try:
        hash(value)
        return value
    except TypeError:
        return repr(value)


def trial_key(trial: Any) -> tuple[tuple[str, ...] | None, ParamsKey]:
    """(fixed overrides or None if the trial did not record them, parameters): two trials with the same key ran the same job."""
    fixed = trial.user_attrs.get(FIXED_ATTR)
    return (tuple(sorted(fixed)) if isinstance(fixed, list) else None), params_key(trial.params)


def completed_sets(trials: Iterable[Any], fixed: Sequence[str]) -> dict[ParamsKey, int]:
    """{parameters: first trial number} of the COMPLETE trials that ran with the overrides ``fixed`` (or did not record theirs)."""
    from optuna.trial import TrialState

    wanted = tuple(sorted(fixed))
    found: dict[ParamsKey, int] = {}
    for trial in trials:
        if trial.state != TrialState.COMPLETE:
            continue
        recorded, params = trial_key(trial)
        if recorded is None or recorded == wanted:
            found.setdefault(params, trial.number)
    return found


def space_size(space: Mapping[str, Any]) -> int | None:
    """How many parameter sets the search space holds; None if it is not finite (a continuous interval)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    size = 1
    for distribution in space.values():
        if isinstance(distribution, CategoricalDistribution):
            size *= len(distribution.choices)
        elif isinstance(distribution, IntDistribution):
            size *= (distribution.high - distribution.low) // distribution.step + 1
        elif isinstance(distribution, FloatDistribution) and distribution.step is not None:
            size *= int(round((distribution.high - distribution.low) / distribution.step)) + 1
        else:
            return None
    return size


def untried_point(space: Mapping[str, Any], tried: set[ParamsKey], seed: int, limit: int = 100_000) -> dict[str, Any] | None:
    """A point of a finite ``space`` not in ``tried``, chosen at random (``seed``); None if there is none or the space is too large to list."""
    import itertools
    import random

    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    size = space_size(space)
    if size is None or size > limit:
        return None
    values: list[list[Any]] = []
    for distribution in space.values():
        if isinstance(distribution, CategoricalDistribution):
            values.append(list(distribution.choices))
        elif isinstance(distribution, IntDistribution):
            values.append(list(range(distribution.low, distribution.high + 1, distribution.step)))
        elif isinstance(distribution, FloatDistribution) and distribution.step is not None:
            count = int(round((distribution.high - distribution.low) / distribution.step)) + 1
            values.append([distribution.low + i * distribution.step for i in range(count)])
    keys = list(space)
    points = [dict(zip(keys, combo)) for combo in itertools.product(*values)]
    left = [p for p in points if params_key(p) not in tried]
    return random.Random(seed).choice(left) if left else None


def in_space(params: Mapping[str, Any], space: Mapping[str, Any]) -> bool:
    """Whether ``params`` is a point of ``space`` (same keys, values inside): what counts toward exhausting it."""
    if set(params) != set(space):
        return False
    for key, distribution in space.items():
        try:
            if not distribution._contains(distribution.to_internal_repr(params[key])):  # noqa: SLF001 - Optuna's own membership test
                return False
        except Exception:  # noqa: BLE001 - a value of another type: not a point of this space
            return False
    return True


def launch_seed(seed: int, trials_in_study: int) -> int:
    """The sampler's seed for a launch of a study that already holds ``trials_in_study`` trials.

    The configured seed itself for a fresh study (so that a new study with
    the same seed is reproducible); otherwise the configured seed mixed with
    the study's size, so that a resumed study's sampler does not replay the
    start-up draws of the earlier launches (the same seed would give the same
    parameters again), and the same resume of the same study gives the same
    draws.
    """
    if trials_in_study <= 0:
        return int(seed)
    import numpy as np

    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(trials_in_study)]).generate_state(1)[0])
