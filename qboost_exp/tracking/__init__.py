"""MLflow tracking: one CLI run is one MLflow run; a Hydra multirun is a parent
run with one nested child run per job.

Writing runs:

- :func:`tracking_uri` / :func:`prepare_store`: where a job's runs go (config,
  then ``MLFLOW_TRACKING_URI``, then ``sqlite:///mlflow.db`` in the launch
  directory) and creating that store once.
- :func:`tracked_run`: the context manager around one training job.
- :class:`MLflowSweepCallback`: the Hydra callback that opens and closes the
  parent run of a sweep; :class:`JobFailure` is what a failed sweep job returns.
- :func:`save_model`: the same MLflow model, written to a directory (the
  SageMaker ``train`` program writes /opt/ml/model with it).

Reading them back (``compare``, ``serving package --best``):

- :func:`resolve_tracking_uri`: the store to read, refusing a local one that
  does not exist.
- :func:`training_runs`: the training runs (not sweep parents) of an experiment.
- :func:`best_run`, :func:`is_better`, :func:`rank_key`: the one rule for
  "best" (direction from the metric's name, ties to the earliest run).
"""

from ._log import save_model
from ._run import tracked_run
from ._runs import (
    CHILD_ROLE,
    FAILED_STATUSES,
    PARENT_ROLE,
    ROLE_TAG,
    SINGLE_ROLE,
    TRAINING_ROLES,
    best_run,
    is_better,
    metric_value,
    rank_key,
    training_runs,
)
from ._store import (
    DEFAULT_EXPERIMENT,
    DEFAULT_TRACKING_URI,
    TrackingStoreError,
    prepare_store,
    resolve_tracking_uri,
    tracking_uri,
)
from ._sweep import JobFailure, MLflowSweepCallback, job_failed

__all__ = [
    "CHILD_ROLE",
    "DEFAULT_EXPERIMENT",
    "DEFAULT_TRACKING_URI",
    "FAILED_STATUSES",
    "JobFailure",
    "MLflowSweepCallback",
    "PARENT_ROLE",
    "ROLE_TAG",
    "SINGLE_ROLE",
    "TRAINING_ROLES",
    "TrackingStoreError",
    "best_run",
    "is_better",
    "job_failed",
    "metric_value",
    "prepare_store",
    "rank_key",
    "resolve_tracking_uri",
    "save_model",
    "tracked_run",
    "tracking_uri",
    "training_runs",
]
