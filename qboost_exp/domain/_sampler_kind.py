"""What kind of sampler this is (local, QPU, remote), as the sampler declares it, and how large a QUBO it takes.

The kind decides how QBoost spends sampler calls: a *local* sampler (simulated
annealing, tabu, ...) is cheap to call, so the λ search samples at several λ
and reads run in interruptible batches; a *qpu* sampler runs a QPU's path here
(``sampler=mock_qpu``: embedding, chains, timing) and a *remote* one is a cloud
solver (a D-Wave QPU or the hybrid solver), where every call costs access
time: one call per (split, largest weight), one call per QUBO, one at a time.

A sampler declares its kind; nothing is guessed from its class:

1. ``properties["qboost_exp_kind"]``, one of :data:`KINDS`, on the sampler or
   on any child of its composites: the built-in samplers declare it, and a
   plugin declares it the same way;
2. else D-Wave's own declaration, ``properties["category"]`` of its solvers
   (``"qpu"`` or ``"hybrid"``, as SAPI reports it and dwave-system's
   ``DWaveSampler``, ``LeapHybridSampler`` and ``MockDWaveSampler`` copy it):
   a solver of those categories is ``remote`` (a bare ``MockDWaveSampler``
   too: it stands for one, so it is spent as one);
3. else ``local``.
"""

from __future__ import annotations

from typing import Any, Iterator

from ..errors import SamplerError

#: The kinds, cheapest call first.
KINDS = ("local", "qpu", "remote")
#: The ``properties`` key a sampler declares its kind under.
KIND_PROPERTY = "qboost_exp_kind"
_REMOTE_CATEGORIES = ("qpu", "hybrid")
_MAX_DEPTH = 16  # composites nest a few levels; a cycle of children must not hang


def _levels(sampler: Any) -> Iterator[Any]:
    """The sampler and its composites' children, outermost first."""
    for _ in range(_MAX_DEPTH):
        if sampler is None:
            return
        yield sampler
        sampler = getattr(sampler, "child", None)


def _properties(sampler: Any) -> dict:
    try:
        properties = getattr(sampler, "properties", None)
    except Exception:  # a property that needs a connection is no declaration
        return {}
    return properties if isinstance(properties, dict) else {}


def sampler_kind(sampler: Any) -> str:
    """``"local"``, ``"qpu"`` or ``"remote"``: what ``sampler`` (or a child of its composites) declares."""
    levels = [_properties(level) for level in _levels(sampler)]
    for properties in levels:
        declared = properties.get(KIND_PROPERTY)
        if declared is not None:
            if declared not in KINDS:
                raise SamplerError(f"{type(sampler).__name__} declares {KIND_PROPERTY}={declared!r}; use one of {', '.join(KINDS)}")
            return declared
    if any(properties.get("category") in _REMOTE_CATEGORIES for properties in levels):
        return "remote"
    return "local"


def is_remote(sampler: Any) -> bool:
    """Whether ``sampler`` is a cloud solver: one call per QUBO, already interruptible while Python waits."""
    return sampler_kind(sampler) == "remote"


def is_qpu_path(sampler: Any) -> bool:
    """Whether each call of ``sampler`` costs (or stands for) QPU access time: a ``qpu`` or ``remote`` sampler."""
    return sampler_kind(sampler) != "local"


def capacity(sampler: Any) -> int | None:
    """The most QUBO variables ``sampler`` takes, where it states a limit.

    The clique-embedding QPU samplers report their largest clique
    (``largest_clique_size``); the bounded exact solver its ``max_variables``.
    """
    for key in ("largest_clique_size", "max_variables"):
        value = getattr(sampler, key, None)
        if value is None:
            value = _properties(sampler).get(key)
        if value is not None:
            return int(value)
    return None
