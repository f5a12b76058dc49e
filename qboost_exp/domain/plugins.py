"""Name -> factory registries for samplers, weak-learner sets and baselines.

Built-ins live in :mod:`qboost_exp.domain.samplers`, :mod:`qboost_exp.domain.weak_learners`
and :mod:`qboost_exp.domain.baselines`.
Third parties add their own without touching this package, through entry
points in their ``pyproject.toml``::

    [project.entry-points."qboost_exp.samplers"]
    my_annealer = "my_pkg:make_sampler"          # callable(**init) -> dimod.Sampler

    [project.entry-points."qboost_exp.weak_learners"]
    my_learners = "my_pkg:MyLearnerSet"          # callable(**params) -> WeakLearnerSet

    [project.entry-points."qboost_exp.baselines"]
    my_rival = "my_pkg:make_rival"               # callable(**params) -> unfitted classifier

Every registered name is then usable as ``sampler=my_annealer``,
``weak_learners=my_learners`` or ``model=my_rival`` on the command line, and
as ``QBoostClassifier(sampler="my_annealer")``. A baseline factory that takes
a ``weak_learners`` argument selects from QBoost's dictionary: it is given
the run's weak-learner set (:func:`uses_dictionary`).

The built-ins are registered the same way, by ``module:attribute`` reference,
and every factory is imported only when it is used: listing the registries
(which the CLI does at every start) imports neither dimod nor scikit-learn.
"""

from __future__ import annotations

import inspect
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any, Callable, Mapping

from ..errors import ConfigError

if TYPE_CHECKING:
    import dimod

SAMPLER_GROUP = "qboost_exp.samplers"
WEAK_LEARNER_GROUP = "qboost_exp.weak_learners"
BASELINE_GROUP = "qboost_exp.baselines"

#: The built-in factories, as entry points would name them.
_BUILTINS: dict[str, dict[str, str]] = {
    SAMPLER_GROUP: {
        "neal": "qboost_exp.domain.samplers:neal",
        "tabu": "qboost_exp.domain.samplers:tabu",
        "steepest": "qboost_exp.domain.samplers:steepest",
        "exact": "qboost_exp.domain.samplers:exact",
        "qpu": "qboost_exp.domain.samplers:qpu",
        "hybrid": "qboost_exp.domain.samplers:hybrid",
        "mock_qpu": "qboost_exp.domain.samplers:mock_qpu",
    },
    WEAK_LEARNER_GROUP: {
        "stumps": "qboost_exp.domain.weak_learners:Stumps",
        "trees": "qboost_exp.domain.weak_learners:Trees",
        "adaboost": "qboost_exp.domain.weak_learners:AdaBoostLearners",
        "estimators": "qboost_exp.domain.weak_learners:Estimators",
        "mixed": "qboost_exp.domain.weak_learners:Mixed",
    },
    BASELINE_GROUP: {
        "lasso": "qboost_exp.domain.baselines:LassoClassifier",
        "l1_logistic": "qboost_exp.domain.baselines:L1LogisticClassifier",
        "abess": "qboost_exp.domain.baselines:BestSubsetClassifier",
        "adaboost": "qboost_exp.domain.baselines:adaboost",
        "gradient_boosting": "qboost_exp.domain.baselines:gradient_boosting",
    },
}


def _registry(group: str) -> dict[str, Callable[..., Any]]:
    builtins = _BUILTINS[group]
    found: dict[str, Callable[..., Any]] = {name: _LazyEntryPoint(EntryPoint(name, value, group)) for name, value in builtins.items()}
    for ep in entry_points(group=group):
        if ep.name in builtins:
            continue  # built-in names cannot be hijacked by an installed package
        found[ep.name] = _LazyEntryPoint(ep)
    return found


def _builtin_factories(group: str) -> dict[str, Callable[..., Any]]:
    """The built-in factories of ``group``, imported (for the deprecated ``BUILTIN_*`` dicts)."""
    return {name: _LazyEntryPoint(EntryPoint(name, value, group)).load() for name, value in _BUILTINS[group].items()}


class _LazyEntryPoint:
    """A factory that is imported only when it is used, so one broken plugin cannot break the others."""

    def __init__(self, ep: Any) -> None:
        self.ep = ep

    def load(self) -> Callable[..., Any]:
        try:
            return self.ep.load()
        except Exception as exc:
            dist = getattr(self.ep, "dist", None)
            where = f" (from package {dist.name})" if dist is not None else ""
            raise ConfigError(f"plugin '{self.ep.name}' = '{self.ep.value}'{where} failed to load: {type(exc).__name__}: {exc}") from None

    def __call__(self, **kwargs: Any) -> Any:
        return self.load()(**kwargs)


def available_samplers() -> dict[str, Callable[..., dimod.Sampler]]:
    """All sampler names, built-in and from entry points, with their factories (imported when called)."""
    return _registry(SAMPLER_GROUP)


def available_weak_learner_sets() -> dict[str, Callable[..., Any]]:
    """All weak-learner-set names, built-in and from entry points, with their factories (imported when called)."""
    return _registry(WEAK_LEARNER_GROUP)


def available_baselines() -> dict[str, Callable[..., Any]]:
    """All baseline ``model`` names, built-in and from entry points, with their factories (imported when called).

    ``model=qboost`` and ``model=sklearn`` (any classifier as ``_target_``) are not registry entries.
    """
    return _registry(BASELINE_GROUP)


def uses_dictionary(name: str) -> bool:
    """Whether the baseline registered as ``name`` selects from QBoost's dictionary (its factory takes ``weak_learners``)."""
    registry = available_baselines()
    return name in registry and _takes_dictionary(registry[name])


def _takes_dictionary(factory: Callable[..., Any]) -> bool:
    return "weak_learners" in factory_defaults(factory)


def make_registered_baseline(name: str, *, weak_learners: Any = None, **params: Any) -> Any:
    """Build the baseline registered as ``name`` with ``params``; it must be a scikit-learn classifier.

    ``weak_learners`` is passed only to a factory that takes it (:func:`uses_dictionary`).
    """
    registry = available_baselines()
    if name in registry and weak_learners is not None and _takes_dictionary(registry[name]):
        params = {"weak_learners": weak_learners, **params}
    estimator = _build("baseline", name, registry, params)
    if not (hasattr(estimator, "fit") and hasattr(estimator, "predict") and hasattr(estimator, "get_params")):
        raise ConfigError(f"baseline '{name}' did not build a scikit-learn classifier (got {type(estimator).__name__})")
    return estimator


def factory_defaults(factory: Callable[..., Any]) -> dict[str, Any]:
    """The keyword arguments a factory accepts, with their defaults (for generated configs).

    Reads only the factory's signature; a registry entry is imported for it,
    the sampler or set is not built.
    """
    if isinstance(factory, _LazyEntryPoint):
        factory = factory.load()
    out: dict[str, Any] = {}
    for name, p in inspect.signature(factory).parameters.items():
        if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        default = None if p.default is p.empty else p.default
        out[name] = list(default) if isinstance(default, tuple) else default
    return out


def _build(kind: str, name: str, registry: Mapping[str, Callable[..., Any]], options: Mapping[str, Any]) -> Any:
    if name not in registry:
        raise ConfigError(f"unknown {kind} '{name}'; available: {', '.join(sorted(registry))}")
    factory = registry[name]
    try:
        return factory(**dict(options))
    except TypeError as exc:
        raise ConfigError(f"{kind} '{name}': bad options {dict(options)!r}: {exc}") from None


def make_sampler(name: str, **init: Any) -> dimod.Sampler:
    """Build the sampler registered as ``name`` with construction options ``init``."""
    import dimod

    sampler = _build("sampler", name, available_samplers(), init)
    if not isinstance(sampler, dimod.Sampler):
        raise ConfigError(f"sampler '{name}' did not build a dimod.Sampler (got {type(sampler).__name__})")
    return sampler


def make_weak_learner_set(name: str, **params: Any) -> Any:
    """Build the weak-learner set registered as ``name`` with parameters ``params``.

    A ``members`` list (the ``mixed`` set's, or a plugin's that takes the same
    shape) is resolved first: names and ``{name, params}`` mappings become
    sets; classifiers and set instances pass through.
    """
    if isinstance(params.get("members"), (list, tuple)):
        params["members"] = [
            m if hasattr(m, "fit") and hasattr(m, "predict") else resolve_weak_learner_set(m) for m in params["members"]
        ]
    learner_set = _build("weak-learner set", name, available_weak_learner_sets(), params)
    if not callable(getattr(learner_set, "fit_candidates", None)):
        raise ConfigError(f"weak-learner set '{name}' has no fit_candidates(X, y, random_state) method")
    return learner_set


def resolve_sampler(sampler: str | dimod.Sampler) -> dimod.Sampler:
    """A sampler from a registered name or an instance."""
    if isinstance(sampler, str):
        return make_sampler(sampler)
    if callable(getattr(sampler, "sample", None)):  # a dimod.Sampler, or anything that samples a BQM the same way
        return sampler
    raise ConfigError(f"sampler must be a registered name or a dimod.Sampler, got {sampler!r}")


def resolve_weak_learner_set(spec: Any) -> Any:
    """A weak-learner set from a name, a ``{"name": ..., "params": {...}}`` mapping, or an instance."""
    if isinstance(spec, str):
        return make_weak_learner_set(spec)
    if isinstance(spec, Mapping):
        if "name" not in spec:
            raise ConfigError(f"a weak-learner set given as a mapping needs a 'name' key, got {dict(spec)!r}")
        return make_weak_learner_set(spec["name"], **dict(spec.get("params") or {}))
    if callable(getattr(spec, "fit_candidates", None)):
        return spec
    raise ConfigError(f"weak_learners must be a registered name or a WeakLearnerSet, got {spec!r}")
