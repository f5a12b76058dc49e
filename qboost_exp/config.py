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
    from .plugins import available_samplers, available_weak_learner_sets, factory_defaults

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
