"""Finding the dataset and split configs (conf/dataset, conf/split) outside Hydra.

The data CLI reads its defaults from the same YAML files as the experiments.
Unlike :func:`qboost_exp.config.config_dir` this does not need
conf/config.yaml: it looks for conf/dataset in ``qboost_exp/conf`` (a wheel)
and then in ``../conf`` (a source checkout).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..errors import DataError

_PACKAGE = Path(__file__).resolve().parent.parent


def conf_dir() -> Path:
    """The conf/ directory holding the ``dataset`` and ``split`` groups."""
    for candidate in (_PACKAGE / "conf", _PACKAGE.parent / "conf"):
        if (candidate / "dataset").is_dir():
            return candidate
    raise FileNotFoundError(f"qboost_exp: no conf/dataset next to {_PACKAGE} or its parent; the installation is incomplete")


def dataset_names() -> list[str]:
    """The names of the conf/dataset/*.yaml files."""
    return sorted(p.stem for p in (conf_dir() / "dataset").glob("*.yaml"))


def describe(name: str) -> str:
    """The one-line description of data set ``name``: the first line of conf/dataset/NAME.yaml, a comment.

    That line is the one place a data set says what it is for (the benchmark
    suite's data sets: why they are in it); ``python -m qboost_exp.data
    --list`` prints them all.
    """
    path = conf_dir() / "dataset" / f"{name}.yaml"
    if not path.is_file():
        raise DataError(f"no dataset config {name!r}; choose one of: {', '.join(dataset_names())}")
    first = path.read_text(encoding="utf-8").partition("\n")[0].strip()
    if not first.startswith("#"):
        raise DataError(f"{path}: its first line must be a comment describing the data set")
    return first.lstrip("#").strip()


def descriptions() -> dict[str, str]:
    """Every data set's one-line description (:func:`describe`), by name."""
    return {name: describe(name) for name in dataset_names()}


def read_group(group: str, name: str) -> dict[str, Any]:
    """The keys of conf/GROUP/NAME.yaml as a plain dict (``???`` stays a string)."""
    path = conf_dir() / group / f"{name}.yaml"
    if not path.is_file():
        names = sorted(p.stem for p in path.parent.glob("*.yaml"))
        raise DataError(f"no {group} config {name!r}; choose one of: {', '.join(names)}")
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
