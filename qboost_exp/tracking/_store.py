"""Where MLflow runs are stored, and creating the store before anyone races for it."""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping

from ..errors import ConfigError

DEFAULT_EXPERIMENT = "qboost"


@contextmanager
def quiet(logger_name: str) -> Iterator[None]:
    """Hide a library logger's messages below ERROR for a moment."""
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def tracking_uri(mlflow_cfg: Mapping[str, Any], base_dir: str | os.PathLike[str]) -> str:
    """The tracking URI: ``mlflow.tracking_uri`` if set, else ``MLFLOW_TRACKING_URI``,
    else ``sqlite:///mlflow.db`` in ``base_dir`` (the directory the command was launched from).

    The SQLite path is made absolute so that every job of a sweep, whatever its
    working directory, writes to the same file.
    """
    uri = mlflow_cfg.get("tracking_uri") or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        return f"sqlite:///{Path(base_dir).resolve() / 'mlflow.db'}"
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return f"sqlite:///{(Path(base_dir) / uri[len('sqlite:///'):]).resolve()}"
    return uri


def prepare_store(uri: str, experiment: str) -> str:
    """Point MLflow at ``uri``, create the store and the experiment if needed, return its id.

    Creating a fresh SQLite store runs MLflow's schema migrations; parallel jobs
    doing that at once race. The CLI and the sweep callback call this once,
    before any job starts.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    mlflow.set_tracking_uri(uri)
    try:
        # A fresh SQLite store announces its schema migration at INFO level.
        with quiet("mlflow.store.db.utils"):
            found = mlflow.get_experiment_by_name(experiment)
        if found is not None:
            if found.lifecycle_stage == "deleted":
                raise ConfigError(
                    f"MLflow experiment '{experiment}' at {uri} is deleted; restore it "
                    f"(`mlflow experiments restore`) or choose another with mlflow.experiment=NAME"
                )
            return found.experiment_id
        try:
            return mlflow.create_experiment(experiment)
        except MlflowException:
            # another process created it between our lookup and our create
            return mlflow.get_experiment_by_name(experiment).experiment_id
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(f"cannot use the MLflow tracking store {uri}: {type(exc).__name__}: {exc}") from None
