"""``python -m qboost_exp``: compose the config with Hydra, train, report."""

from __future__ import annotations

import sys

import hydra
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig

from ._paths import config_dir
from .errors import ConfigError, QBoostError
from .plugins import available_samplers, available_weak_learner_sets, factory_defaults


def register_plugin_configs() -> None:
    """Give every registered plugin without a YAML file a config node, so
    ``sampler=NAME`` / ``weak_learners=NAME`` select it like a built-in."""
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


def _task(cfg: DictConfig) -> None:
    from hydra.utils import get_original_cwd

    from .experiment import run_experiment
    from .report import format_report

    try:
        result = run_experiment(cfg, base_dir=get_original_cwd())
    except QBoostError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    print(format_report(cfg, result))


def main() -> None:
    """Console entry point (also ``python -m qboost_exp``)."""
    register_plugin_configs()
    hydra.main(config_path=str(config_dir()), config_name="config", version_base="1.3")(_task)()
