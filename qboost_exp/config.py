"""The experiment config: where it lives, its plugin options, composing it, checking it and reading it.

``python -m qboost_exp`` composes the config with Hydra from ``conf/`` (in a
wheel, a copy inside the package). Programs that run an experiment without the
CLI (SageMaker's ``train``, tests, notebooks) compose the very same config
with :func:`compose`.

A run reads its composed config once, with :func:`read`: converted to plain
Python (:func:`as_plain`, the one conversion), checked (:func:`check_config`,
then the one rule for missing values, :func:`require_set`) and returned as a
frozen :class:`RunSpec` whose parts (:class:`ModelSpec`, :class:`QuboSpec`,
:class:`SamplerSpec`, :class:`WeakLearnersSpec`, :class:`DataSpec`,
:class:`TrackingSpec`) the run layer builds the experiment from.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping as AbstractMapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from ._plain_config import MISSING, FrozenDict, _frozen, as_plain, first_missing, require_set, thawed, to_plain  # noqa: F401 - public here
from .errors import ConfigError


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

    ``sampler=NAME``, ``weak_learners=NAME`` and ``model=NAME`` then select a
    plugin like a built-in; the node's ``init`` / ``params`` (a baseline's
    node itself) are the factory's keyword arguments with their defaults. A
    baseline's ``weak_learners`` and ``random_state`` are left out: the run
    gives it its weak-learner set and its seed.
    """
    from hydra.core.config_store import ConfigStore

    from .domain.plugins import available_baselines, available_samplers, available_weak_learner_sets, factory_defaults

    store = ConfigStore.instance()
    conf = config_dir()

    def baseline(name: str, defaults: dict[str, Any]) -> dict[str, Any]:
        return {"name": name, **{k: v for k, v in defaults.items() if k not in ("weak_learners", "random_state")}}

    groups = (
        ("sampler", available_samplers(), lambda name, d: {"name": name, "init": d, "params": {}}),
        ("weak_learners", available_weak_learner_sets(), lambda name, d: {"name": name, "params": d}),
        ("model", available_baselines(), baseline),
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
    "qubo.generation_rounds": "generation_rounds",
    "qubo.generation_size": "generation_size",
    "qubo.generation_depth": "generation_depth",
    "qubo.fit_intercept": "fit_intercept",
    "qubo.drop_duplicates": "drop_duplicates",
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
    """``(found, value)`` of a dotted key (``qubo.cv``) in a config or its plain copy."""
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
    :func:`read` runs it once per run; the grid sweeper runs it on every
    job's config before any job starts.

    Parameters
    ----------
    cfg : DictConfig or mapping
        The composed config, or its plain copy.

    Raises
    ------
    ConfigError
        Naming the key, the value, what it must be and how to set it.
    """
    _check_known_keys(cfg)
    _check_own_keys(cfg)
    _check_estimator_keys(cfg)


def _refuse(key: str, message: str) -> None:
    """Raise scikit-learn's message about ``key`` as a ConfigError that says how to set it."""
    reason = message.removeprefix(f"The {key!r} parameter of {_CALLER} ")
    raise ConfigError(f"{key} {reason} Set it on the command line as {key}=VALUE.")


def _check_own_keys(cfg: Any) -> None:
    """The experiment's own keys against :func:`_own_constraints`; a test metric never chooses."""
    from ._sklearn_private import first_invalid_parameter
    from .tracking import is_test_metric

    constraints = _own_constraints()
    own = {}
    for key in constraints:
        found, value = _lookup(cfg, key)
        if found:
            own[key] = value
    bad = first_invalid_parameter(constraints, own, caller_name=_CALLER)
    if bad is not None:
        _refuse(*bad)
    for key in ("objective", "mlflow.promote_metric"):
        if isinstance(own.get(key), str) and is_test_metric(own[key]):
            raise ConfigError(
                f"{key}={own[key]}: a test metric never chooses anything (choosing on the test split overfits it, and its "
                f"accuracy is then no estimate any more); use a validation metric, e.g. {key}=validation_accuracy"
            )


def _check_estimator_keys(cfg: Any) -> None:
    """The keys of :data:`ESTIMATOR_KEYS`, each by the estimator's own check of its parameter."""
    from ._sklearn_private import InvalidParameterError
    from .domain.qboost import check_generation, validate_parameter

    for key, param in ESTIMATOR_KEYS.items():
        found, value = _lookup(cfg, key)
        if not found:
            continue
        try:
            # The estimator's own check of that parameter: one validator per parameter.
            validate_parameter(param, _lam_as_given(value) if key == "lambda" else value, key=key, caller_name=_CALLER)
        except InvalidParameterError as exc:
            _refuse(key, str(exc))
    rounds, strategy = (_lookup(cfg, key) for key in ("qubo.generation_rounds", "qubo.strategy"))
    if rounds[0] and strategy[0]:
        check_generation(rounds[1], strategy[1], "qubo.generation_rounds", "qubo.strategy")


#: The keys of a ``+benchmark=NAME`` preset (conf/benchmark/*.yaml), read by the sweep's report.
BENCHMARK_KEYS = ("name", "against", "metric")


def _known_keys() -> dict[str, set[str]]:
    """The keys something reads, by node: top level (``""``), ``benchmark``, ``qubo`` and ``mlflow``."""
    typed = [*_own_constraints(), *ESTIMATOR_KEYS]
    return {
        "": {*GROUPS, *(k for k in typed if "." not in k), "mlflow", "hydra", "hparams_search", "benchmark"},
        "benchmark": set(BENCHMARK_KEYS),
        "qubo": {*(k.split(".", 1)[1] for k in typed if k.startswith("qubo.")), *_QUBO_EXTRA},
        "mlflow": {k.split(".", 1)[1] for k in typed if k.startswith("mlflow.")},
    }


def unknown_key(where: str) -> str | None:
    """Why ``where`` (a dotted key) is refused, with the nearest known key; None if it is known or not ours to judge.

    Only the top level, ``benchmark``, ``qubo`` and ``mlflow`` are judged: the other nodes
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


def _lam_as_given(value: Any) -> Any:
    """``lambda`` as the estimator takes it: "auto", or a number (a quoted number, e.g. from SageMaker, is read as one).

    Anything else is returned as given, for :func:`check_config` to refuse
    with the value the user wrote.
    """
    if isinstance(value, str) and value.strip().lower() != "auto":
        try:
            return float(value)
        except ValueError:
            return value
    return value.strip().lower() if isinstance(value, str) else value


def read_lam(cfg: Mapping[str, Any]) -> float | str:
    """λ as a config sets it (the top-level ``lambda``, a Python keyword: ``cfg["lambda"]``): a float, or "auto".

    Converted, not checked: :func:`check_config` checks it (:func:`read` does both).

    Raises
    ------
    ConfigError
        The config has no top-level ``lambda``.
    """
    if "lambda" not in cfg:
        raise ConfigError("the config has no top-level `lambda`; set it, e.g. lambda=0.01 or lambda=auto")
    lam = _lam_as_given(cfg["lambda"])
    return lam if isinstance(lam, str) else float(lam)


def _checked_cv(value: Any) -> int | float:
    """``qubo.cv`` (and a dictionary baseline's ``model.cv``): k folds (an integer >= 2) or one held-out split of that fraction."""
    message = "qubo.cv must be an integer >= 2 (folds) or a fraction in (0, 1) (one validation split), got"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{message} {value!r}")
    if isinstance(value, int) and value < 2 or isinstance(value, float) and not 0 < value < 1:
        raise ConfigError(f"{message} {value}")
    return value


# -- the spec of a run: what read() returns ---------------------------------------
def _node(plain: Any, where: str) -> Mapping[str, Any]:
    """A config node that must hold keys (an absent one holds none)."""
    if plain is None:
        return {}
    if not isinstance(plain, AbstractMapping):
        raise ConfigError(f"{where} must hold keys ({where}.KEY=VALUE), got {plain!r}")
    return plain


def _plugin_name(node: Mapping[str, Any], group: str) -> str:
    """The ``name`` of a plugin group's node (``sampler``, ``weak_learners``): every option must name its plugin."""
    name = node.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"the {group} config has no `name`; every {group} option must name a registered plugin")
    return name


@dataclass(frozen=True)
class SamplerSpec:
    """The ``sampler`` node: the plugin, its factory's options and its ``sample()`` options.

    Attributes
    ----------
    name : str
        The registered sampler plugin (``neal``, ``qpu``, ...).
    init : FrozenDict
        The factory's keyword arguments (``sampler.init``); null values are
        left out, so the factory's defaults apply.
    params : FrozenDict
        The options of ``sample()`` (``sampler.params``); null values mean
        "the sampler's default" and are left out.
    """

    name: str
    init: FrozenDict
    params: FrozenDict

    @classmethod
    def from_config(cls, node: Any, where: str = "sampler") -> "SamplerSpec":
        """The spec of a ``sampler`` node (an OmegaConf node or a plain mapping)."""
        plain = _node(to_plain(node, where), where)
        init = {k: v for k, v in _node(plain.get("init"), f"{where}.init").items() if v is not None}
        params = {k: v for k, v in _node(plain.get("params"), f"{where}.params").items() if v is not None}
        return cls(name=_plugin_name(plain, "sampler"), init=_frozen(init), params=_frozen(params))


@dataclass(frozen=True)
class WeakLearnersSpec:
    """The ``weak_learners`` node: the plugin and its factory's keyword arguments.

    Attributes
    ----------
    name : str
        The registered weak-learner set (``adaboost``, ``trees``, ...).
    params : FrozenDict
        Its factory's keyword arguments (``weak_learners.params``), as
        written: a mapping with ``_target_`` becomes its object when the set
        is built.
    """

    name: str
    params: FrozenDict

    @classmethod
    def from_config(cls, node: Any, where: str = "weak_learners") -> "WeakLearnersSpec":
        """The spec of a ``weak_learners`` node (an OmegaConf node or a plain mapping)."""
        plain = _node(to_plain(node, where), where)
        params = _node(plain.get("params"), f"{where}.params")
        return cls(name=_plugin_name(plain, "weak_learners"), params=_frozen(params))


@dataclass(frozen=True)
class ModelSpec:
    """The ``model`` node: ``qboost``, or a baseline and its constructor arguments.

    Attributes
    ----------
    name : str
        ``qboost`` (also when the config has no ``model`` node) or a baseline
        option (:data:`qboost_exp.domain.baselines.BASELINES`).
    options : FrozenDict
        Every other key of the node: a baseline's constructor arguments
        (``_target_`` and its arguments for ``sklearn``; a dictionary
        baseline's ``cv`` is checked as ``qubo.cv`` is).
    """

    name: str
    options: FrozenDict

    @property
    def is_qboost(self) -> bool:
        """Whether the model is QBoost (its sampler and QUBO settings are read), not a baseline."""
        from .tracking import QBOOST_MODEL

        return self.name == QBOOST_MODEL

    @property
    def method(self) -> str:
        """The run's :data:`~qboost_exp.tracking.METHOD_TAG`: ``qboost``, or the baseline with its learner count (``lasso@k``, ``abess@15``), a ``_target_`` classifier by its class."""
        from .tracking import method_name

        return method_name(self.name, self.options.get("max_learners"), self.options.get("_target_"))

    @property
    def matches_qboost(self) -> bool:
        """Whether ``model.max_learners=match``: the count is its QBoost sibling's ``selected_varying`` (learners that vary on the training data), resolved when the job starts."""
        from .tracking import MATCH_LEARNERS

        return not self.is_qboost and self.options.get("max_learners") == MATCH_LEARNERS

    @property
    def takes_candidates(self) -> bool:
        """Whether the model selects from a weak-learner set's candidates: QBoost and the dictionary baselines."""
        from .domain.plugins import uses_dictionary

        return self.is_qboost or uses_dictionary(self.name)

    @classmethod
    def from_config(cls, node: Any, where: str = "model") -> "ModelSpec":
        """The spec of a ``model`` node (None: the config has none, which means ``qboost``)."""
        from .tracking import QBOOST_MODEL

        if node is None:
            return cls(name=QBOOST_MODEL, options=FrozenDict())
        plain = to_plain(node, where)
        name = plain.get("name") if isinstance(plain, AbstractMapping) else None
        if not isinstance(name, str) or not name:
            raise ConfigError("the model config has no `name`; choose an option: model=qboost, model=lasso, model=adaboost, ...")
        spec = cls(name=name, options=_frozen({k: v for k, v in plain.items() if k != "name"}))
        spec._check_options()
        return spec

    def _check_options(self) -> None:
        """What a baseline's builder would refuse without building anything: ``sklearn`` without a class, a bad ``cv``,
        a bad ``max_learners`` (``"match"`` passes: it is resolved into a number before the model is built)."""
        from .domain.plugins import uses_dictionary

        if self.name == "sklearn":
            target = self.options.get("_target_")
            if not isinstance(target, str) or not target:
                raise ConfigError("model=sklearn needs a classifier: model._target_=sklearn.ensemble.RandomForestClassifier (for example)")
            return
        if "cv" in self.options and uses_dictionary(self.name):
            _checked_cv(self.options["cv"])
        if "max_learners" in self.options:
            from .domain.baselines import MAX_LEARNERS_BASELINES, check_max_learners

            if self.name in MAX_LEARNERS_BASELINES:
                check_max_learners(self.name, self.options["max_learners"])


def _estimator_defaults() -> dict[str, Any]:
    """QBoostClassifier's parameters with their defaults: what a setting the config leaves out is."""
    import inspect

    from .domain.qboost import QBoostClassifier

    return {name: parameter.default for name, parameter in inspect.signature(QBoostClassifier).parameters.items()}


@dataclass(frozen=True)
class QuboSpec:
    """QBoost's settings: λ, the QUBO formulation and the (λ, largest weight) search, named as the estimator's parameters.

    :data:`ESTIMATOR_KEYS` maps each config key to its field; a key the
    config leaves out has the estimator's default.

    Attributes
    ----------
    lam : float or "auto"
        λ, the config's top-level ``lambda``, in units of the largest weight.
    lam_grid : tuple of float or None
        The λ values ``lam="auto"`` tries (``lambda_grid``; the deprecated
        ``qubo.lambda_grid`` overrides it).
    strategy, weight_bits, generation_rounds, generation_size, generation_depth, fit_intercept, drop_duplicates, max_weight, max_weight_grid, cv_rule, refit, window, max_rounds, n_iter_no_change, validation_fraction
        ``qubo.<name>``.
    cv : int or float
        ``qubo.cv``: k folds (an integer >= 2), or the fraction of one
        stratified validation split, in (0, 1).
    """

    lam: float | str
    lam_grid: tuple[float, ...] | None
    strategy: str
    weight_bits: int
    generation_rounds: int
    generation_size: int
    generation_depth: int
    fit_intercept: bool
    drop_duplicates: bool
    max_weight: float | str
    max_weight_grid: tuple[float, ...] | None
    cv: int | float
    cv_rule: str
    refit: str
    window: int | None
    max_rounds: int | None
    n_iter_no_change: int | None
    validation_fraction: float

    @classmethod
    def from_config(cls, plain: Mapping[str, Any]) -> "QuboSpec":
        """The settings of a whole plain config (top-level ``lambda`` and ``lambda_grid``, the ``qubo`` node), not checked again."""
        defaults = _estimator_defaults()
        settings = {}
        for key, param in ESTIMATOR_KEYS.items():
            found, value = _lookup(plain, key)
            settings[param] = _frozen(value) if found else defaults[param]
        settings["lam"] = read_lam(plain)
        cv = _node(plain.get("qubo"), "qubo").get("cv", defaults["cv"])
        return cls(cv=_checked_cv(cv), **settings)

    def estimator_params(self) -> dict[str, Any]:
        """The QBoostClassifier keyword arguments these settings are, as plain values (``cv`` aside: a splitter needs the seed)."""
        return {item.name: thawed(getattr(self, item.name)) for item in fields(self) if item.name != "cv"}


@dataclass(frozen=True)
class DataSpec:
    """The ``dataset`` and ``split`` nodes, as :func:`qboost_exp.data.load_dataset` takes them.

    Attributes
    ----------
    dataset : FrozenDict or None
        ``name`` and the data set's keys (conf/dataset/NAME.yaml); None when
        the config has no ``dataset`` node (a run then needs its data given).
    split : FrozenDict or None
        ``test_size`` and ``validation_size``.
    """

    dataset: FrozenDict | None
    split: FrozenDict | None

    @classmethod
    def from_config(cls, cfg: Any) -> "DataSpec":
        """The data nodes of a whole config (an OmegaConf config or a plain mapping)."""
        nodes = [_frozen(to_plain(cfg[key], key)) if key in cfg else None for key in ("dataset", "split")]
        return cls(*nodes)


@dataclass(frozen=True)
class TrackingSpec:
    """Whether and where the run is tracked: the ``mlflow`` node, ``register`` and ``promote``.

    A key the config leaves out is None (``enabled`` and ``log_model``:
    true): :mod:`qboost_exp.tracking`'s default applies.
    """

    enabled: bool = True
    tracking_uri: str | None = None
    experiment: str | None = None
    log_model: bool = True
    model_name: str | None = None
    promote_metric: str | None = None
    retry_seconds: float | None = None
    register: bool = False
    promote: bool = False

    @classmethod
    def from_config(cls, plain: Mapping[str, Any]) -> "TrackingSpec":
        """The tracking settings of a whole plain config, checked already."""
        mlflow = _node(plain.get("mlflow"), "mlflow")
        given = {key: mlflow[key] for key in _TRACKING_KEYS if key in mlflow}
        given.update({key: plain[key] for key in ("register", "promote") if key in plain})
        if given.get("retry_seconds") is not None:
            given["retry_seconds"] = float(given["retry_seconds"])
        return cls(**given)


#: The keys of the ``mlflow`` node, each a field of :class:`TrackingSpec`.
_TRACKING_KEYS = ("enabled", "tracking_uri", "experiment", "log_model", "model_name", "promote_metric", "retry_seconds")


@dataclass(frozen=True)
class RunSpec:
    """One run's config, read once (:func:`read`): plain Python, checked, frozen; what the run layer builds from.

    Attributes
    ----------
    seed : int
        Seeds the split, the weak learners, the sampler and the baselines.
    verbose : int
        1: progress lines; 0: quiet.
    objective : str
        The metric a sweep optimises.
    model : ModelSpec
        ``qboost`` or a baseline.
    qubo : QuboSpec or None
        QBoost's λ and QUBO settings; None for a baseline.
    sampler : SamplerSpec or None
        None for a baseline: it builds no sampler.
    weak_learners : WeakLearnersSpec or None
        The candidates of QBoost and the dictionary baselines; None for a
        model that has no candidates (``adaboost``, ``gradient_boosting``, ``sklearn``).
    data : DataSpec
    tracking : TrackingSpec
    """

    seed: int
    verbose: int
    objective: str
    model: ModelSpec
    qubo: QuboSpec | None
    sampler: SamplerSpec | None
    weak_learners: WeakLearnersSpec | None
    data: DataSpec
    tracking: TrackingSpec


def read(cfg: Any) -> RunSpec:
    """Read a composed config for one run: converted to plain Python once, checked, frozen.

    The run layer (:mod:`qboost_exp.experiment`) builds everything from the
    result; nothing reads the config again.

    Parameters
    ----------
    cfg : DictConfig or mapping
        The composed experiment config, or its plain copy (:func:`as_plain`:
        then it is not converted again). A RunSpec is returned as it is.

    Returns
    -------
    RunSpec

    Raises
    ------
    ConfigError
        The first mistake: an interpolation that cannot be resolved, then
        what :func:`check_config` refuses, then a value required but not set
        (:func:`require_set`), then a node without ``name``, a missing
        ``lambda``, a bad ``qubo.cv`` or ``model=sklearn`` without a class.
    """
    from .tracking import DEFAULT_OBJECTIVE

    if isinstance(cfg, RunSpec):
        return cfg
    plain = _with_grid_moved(as_plain(cfg))
    check_config(plain)
    require_set(plain)
    model = ModelSpec.from_config(plain.get("model"))
    return RunSpec(
        seed=int(plain.get("seed", 0)),
        verbose=int(plain.get("verbose", 1)),
        objective=str(plain.get("objective", DEFAULT_OBJECTIVE)),
        model=model,
        qubo=QuboSpec.from_config(plain) if model.is_qboost else None,
        sampler=SamplerSpec.from_config(plain.get("sampler")) if model.is_qboost else None,
        weak_learners=WeakLearnersSpec.from_config(plain.get("weak_learners")) if model.takes_candidates else None,
        data=DataSpec.from_config(plain),
        tracking=TrackingSpec.from_config(plain),
    )


def _with_grid_moved(plain: Mapping[str, Any]) -> Mapping[str, Any]:
    """The deprecated ``qubo.lambda_grid`` (when set) moved to the top-level ``lambda_grid``, with a DeprecationWarning."""
    qubo = plain.get("qubo")
    if not isinstance(qubo, AbstractMapping) or "lambda_grid" not in qubo:
        return plain
    moved = {**plain, "qubo": {key: value for key, value in qubo.items() if key != "lambda_grid"}}
    if qubo["lambda_grid"] is not None:
        warnings.warn(
            "qubo.lambda_grid is deprecated and goes away in the next release: the grid lives beside lambda, "
            "as the top-level lambda_grid (lambda_grid=[0.01,0.1] on the command line); until then it overrides lambda_grid",
            DeprecationWarning,
            stacklevel=3,
        )
        moved["lambda_grid"] = qubo["lambda_grid"]
    return moved
