"""The experiment config: where it lives, its plugin options, and composing it.

``python -m qboost_exp`` composes the config with Hydra from ``conf/`` (in a
wheel, a copy inside the package). Programs that run an experiment without the
CLI (SageMaker's ``train``, tests, notebooks) compose the very same config
with :func:`compose`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence


def config_dir() -> Path:
    """The directory holding ``config.yaml`` and the config groups.

    ``conf/`` at the repository root is the one source of configs; a wheel
    carries a copy at ``qboost_exp/conf`` (see pyproject.toml), and a source
    checkout or an editable install reads the repository's ``conf/``.
    """
    here = Path(__file__).resolve().parent
    for candidate in (here / "conf", here.parent / "conf"):
        if (candidate / "config.yaml").is_file():
            return candidate
    raise FileNotFoundError(f"qboost_exp: no conf/config.yaml next to {here} or its parent; the installation is incomplete")


def register_plugin_configs() -> None:
    """Give every registered plugin without a YAML file a config node.

    ``sampler=NAME`` and ``weak_learners=NAME`` then select a plugin like a
    built-in; the node's ``init`` / ``params`` are the factory's keyword
    arguments with their defaults.
    """
    from hydra.core.config_store import ConfigStore

    from .errors import ConfigError
    from .domain.plugins import available_samplers, available_weak_learner_sets, factory_defaults

    store = ConfigStore.instance()
    conf = config_dir()
    groups = (
        ("sampler", available_samplers(), lambda name, d: {"name": name, "init": d, "params": {}}),
        ("weak_learners", available_weak_learner_sets(), lambda name, d: {"name": name, "params": d}),
    )
    for group, registry, node in groups:
        for name, factory in registry.items():
            if (conf / group / f"{name}.yaml").is_file():
                continue
            try:
                defaults = factory_defaults(factory)
            except ConfigError:
                defaults = {}  # a broken plugin: selecting it reports the load error
            store.store(group=group, name=name, node=node(name, defaults))


def compose(overrides: Sequence[str] = (), *, return_hydra_config: bool = False) -> Any:
    """The experiment config for ``overrides``, composed as ``python -m qboost_exp OVERRIDES`` composes it.

    Parameters
    ----------
    overrides : sequence of str
        Hydra overrides such as ``"sampler=tabu"`` or ``"lambda=0.1"``.
    return_hydra_config : bool
        Keep the ``hydra`` node (launcher, sweeper, callbacks).

    Returns
    -------
    omegaconf.DictConfig

    Raises
    ------
    hydra.errors.HydraException, omegaconf.errors.OmegaConfBaseException
        Hydra's own errors for unknown options, keys or bad syntax.
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    register_plugin_configs()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return hydra_compose("config", overrides=list(overrides), return_hydra_config=return_hydra_config)


# -- the schema of a composed config -------------------------------------------
#: Experiment config key -> the QBoostClassifier parameter it sets. The
#: estimator declares each parameter's valid values once
#: (``QBoostClassifier._parameter_constraints``); the config checks its keys
#: against those same declarations, so the two can never disagree.
ESTIMATOR_KEYS = {
    "lambda": "lam",
    "lambda_grid": "lam_grid",
    "qubo.strategy": "strategy",
    "qubo.weight_bits": "weight_bits",
    "qubo.max_weight": "max_weight",
    "qubo.max_weight_grid": "max_weight_grid",
    "qubo.cv_rule": "cv_rule",
    "qubo.refit": "refit",
    "qubo.window": "window",
    "qubo.max_rounds": "max_rounds",
    "qubo.n_iter_no_change": "n_iter_no_change",
    "qubo.validation_fraction": "validation_fraction",
}

_CALLER = "the experiment config"

#: The config groups: a top-level key of a composed config that is not one of
#: these nor one of the typed keys was added by mistake (``+data=digits``).
GROUPS = ("dataset", "split", "weak_learners", "qubo", "sampler", "model")
#: Keys of the ``qubo`` node that are not estimator parameters.
_QUBO_EXTRA = ("cv", "lambda_grid")


def config_digest(cfg: Any) -> str:
    """A digest of a composed config, ``hydra`` (and ``mlflow.retry_seconds``) excluded: equal for equal experiments.

    Taken before interpolations resolve (``${now:...}`` stays as written), so
    that a sweeper composing a job's config and the job itself agree on it.
    """
    import hashlib

    from omegaconf import DictConfig, OmegaConf

    if isinstance(cfg, DictConfig):
        plain = OmegaConf.to_container(cfg, resolve=False)
    else:
        plain = dict(cfg)
    plain.pop("hydra", None)
    if isinstance(plain.get("mlflow"), dict):
        # How long a failing server is retried is no part of the experiment; leaving it
        # out also keeps the digests of runs logged before the key existed.
        plain["mlflow"].pop("retry_seconds", None)
    text = OmegaConf.to_yaml(OmegaConf.create(plain), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _own_constraints() -> dict[str, list[Any]]:
    """The keys that belong to the experiment itself, with scikit-learn's declarative constraints."""
    from numbers import Integral, Real

    from ._seeds import MAX_SEED
    from ._sklearn_private import Interval

    return {
        "seed": [Interval(Integral, 0, MAX_SEED, closed="left")],
        "verbose": [Interval(Integral, 0, None, closed="left")],
        "objective": [str],
        "register": ["boolean"],
        "promote": ["boolean"],
        "mlflow.enabled": ["boolean"],
        "mlflow.tracking_uri": [str, None],
        "mlflow.experiment": [str],
        "mlflow.log_model": ["boolean"],
        "mlflow.model_name": [str],
        "mlflow.promote_metric": [str],
        # seconds a failing tracking server is retried after training (see tracking.retry_plan)
        "mlflow.retry_seconds": [Interval(Real, 1, 3600, closed="both")],
    }


def _lookup(cfg: Any, dotted: str) -> tuple[bool, Any]:
    node = cfg
    for part in dotted.split("."):
        if not hasattr(node, "get") or part not in node:
            return False, None
        node = node[part]
    return True, node


def check_config(cfg: Any) -> None:
    """Check every typed key of a composed (plain) config; the first bad one raises.

    The experiment's own keys (``seed``, ``verbose``, ``objective``,
    ``register``, ``promote``, ``mlflow.*``) and the keys that set
    estimator parameters (``lambda``, ``lambda_grid``, ``qubo.*``: see
    :data:`ESTIMATOR_KEYS`) are checked against scikit-learn-style declarative
    constraints, the latter against the estimator's own declarations.

    Raises
    ------
    ConfigError
        Naming the key, the value, what it must be and how to set it.
    """
    from .domain.qboost import validate_parameter
    from ._sklearn_private import InvalidParameterError, first_invalid_parameter
    from .errors import ConfigError

    def fail(key: str, message: str) -> None:
        reason = message.removeprefix(f"The {key!r} parameter of {_CALLER} ")
        raise ConfigError(f"{key} {reason} Set it on the command line as {key}=VALUE.")

    _check_known_keys(cfg)
    own = {}
    for key in _own_constraints():
        found, value = _lookup(cfg, key)
        if found:
            own[key] = value
    bad = first_invalid_parameter(_own_constraints(), own, caller_name=_CALLER)
    if bad is not None:
        fail(*bad)
    from .tracking import is_test_metric

    for key in ("objective", "mlflow.promote_metric"):
        if isinstance(own.get(key), str) and is_test_metric(own[key]):
            raise ConfigError(
                f"{key}={own[key]}: a test metric never chooses anything (choosing on the test split overfits it, and its "
                f"accuracy is then no estimate any more); use a validation metric, e.g. {key}=validation_accuracy"
            )
    for key, param in ESTIMATOR_KEYS.items():
        found, value = _lookup(cfg, key)
        if not found:
            continue
        try:
            # The estimator's own check of that parameter: one validator per parameter.
            validate_parameter(param, _as_number(value) if key == "lambda" else value, key=key, caller_name=_CALLER)
        except InvalidParameterError as exc:
            fail(key, str(exc))


def _known_keys() -> dict[str, set[str]]:
    """The keys something reads, by node: top level (``""``), ``qubo`` and ``mlflow``."""
    typed = [*_own_constraints(), *ESTIMATOR_KEYS]
    return {
        "": {*GROUPS, *(k for k in typed if "." not in k), "mlflow", "hydra", "hparams_search"},
        "qubo": {*(k.split(".", 1)[1] for k in typed if k.startswith("qubo.")), *_QUBO_EXTRA},
        "mlflow": {k.split(".", 1)[1] for k in typed if k.startswith("mlflow.")},
    }


def unknown_key(where: str) -> str | None:
    """Why ``where`` (a dotted key) is refused, with the nearest known key; None if it is known or not ours to judge.

    Only the top level, ``qubo`` and ``mlflow`` are judged: the other nodes
    (``sampler.params``, ``dataset``, ...) belong to plugins.
    """
    import difflib

    node, _, key = where.rpartition(".")
    names = _known_keys().get(node)
    if names is None or key in names:
        return None
    close = difflib.get_close_matches(key, sorted(names - {"hydra"}), n=1, cutoff=0.5)
    hint = f" (did you mean {f'{node}.' if node else ''}{close[0]}?" if close else ""
    if close and not node and close[0] in (*GROUPS, "hparams_search"):
        hint += f" a config group option is chosen without '+': {close[0]}=NAME"
    hint += ")" if hint else ""
    listing = ", ".join(sorted(names - {"hydra"}))
    return f"unknown config key {where!r}: nothing reads it{hint}; the keys {'under ' + node + ' ' if node else ''}are: {listing}"


def _check_known_keys(cfg: Any) -> None:
    """Refuse a top-level, ``qubo`` or ``mlflow`` key that nothing reads (a typo, or ``+data=digits``)."""
    from .errors import ConfigError

    for node, names in _known_keys().items():
        found, value = (True, cfg) if not node else _lookup(cfg, node)
        if not found:
            continue
        if not hasattr(value, "keys"):
            raise ConfigError(f"{node} must hold keys ({node}.KEY=VALUE), got {value!r}; the keys under {node} are: {', '.join(sorted(names))}")
        for key in value.keys():
            refused = unknown_key(f"{node}.{key}" if node else str(key))
            if refused:
                raise ConfigError(refused)


def _as_number(value: Any) -> Any:
    """``lambda`` as the estimator takes it: "auto", or a number (a quoted number, e.g. from SageMaker, is read as one)."""
    if isinstance(value, str) and value.strip().lower() != "auto":
        try:
            return float(value)
        except ValueError:
            return value
    return value.strip().lower() if isinstance(value, str) else value
