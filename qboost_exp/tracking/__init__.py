"""MLflow tracking: one CLI run is one MLflow run; a Hydra multirun is a parent
run with one nested child run per job.

Writing runs:

- :func:`tracking_uri` / :func:`prepare_store`: where a job's runs go (config,
  then ``MLFLOW_TRACKING_URI``, then ``sqlite:///mlflow.db`` in the launch
  directory) and creating that store once.
- :class:`RunContext` and :func:`tracked_run`: the context manager around one
  training job, told explicitly where and as what it is tracked.
- :func:`log_result`: what a finished job logs into its run.
- :func:`ui_url` / :func:`ui_line`: the MLflow UI's link to an experiment's
  runs table (a shared view of :data:`KEY_COLUMNS`, in model-training mode) or
  to one run; :func:`ensure_runs_view` gives an older experiment that view.
- :func:`save_model`: the same MLflow model, written to a directory (the
  SageMaker ``train`` program writes /opt/ml/model with it).
- When the store fails: :func:`bounded_retries` / :func:`retry_plan` (a
  tracking server is retried for ``mlflow.retry_seconds``, default
  :data:`DEFAULT_RETRY_SECONDS`), :func:`store_failure_reason`, and
  :class:`StoreFailure` (the run's full record kept in
  ``<output_dir>/mlflow-record``; exit status :data:`STORE_FAILED_STATUS`);
  :func:`sync_record` (``python -m qboost_exp.tracking sync DIR``) uploads
  such a record later.

Reading them back (the runs API: ``compare``, the sweep callback, the Optuna
sweeper, ``serving package --best``):

- the tags and their values (:data:`ROLE_TAG`, :data:`PARENT_ROLE`,
  :data:`METHOD_TAG` and its one rule :func:`method_name`, ...),
  :data:`DEFAULT_EXPERIMENT` and :data:`DEFAULT_OBJECTIVE`;
- :func:`resolve_tracking_uri`: the store to read, refusing a local one that
  does not exist; :func:`client_for`: a client for exactly that store;
- :func:`training_runs`, :func:`child_runs`, :func:`find_parent_run`,
  :func:`get_experiment`: the queries;
- :func:`best_run`, :func:`is_better`, :func:`rank_key`, :func:`sparsity`,
  :func:`higher_is_better`: the one rule for "best" (direction from the
  metric's name; among level runs the fewer selected learners, then the
  larger λ, then the earliest run).

Names are loaded on first use, so reading runs does not import scikit-learn,
dimod or Hydra (nor MLflow until a query runs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_EXPORTS = {
    "save_model": "._log",
    "log_result": "._log",
    "Trained": "._log",
    "RunContext": "._run",
    "flatten": "._run",
    "tracked_run": "._run",
    **dict.fromkeys(
        ("DEFAULT_RETRY_SECONDS", "STORE_FAILED_STATUS", "StoreFailure", "bounded_retries", "retry_plan", "store_failure_reason"),
        "._faults",
    ),
    **dict.fromkeys(("LOCAL_RECORD_TAG", "RECORD_DIRNAME"), "._record"),
    **dict.fromkeys(("SyncError", "sync_record"), "._sync"),
    **dict.fromkeys(
        (
            "BASELINE_TAG", "MODEL_TAG", "QBOOST_MODEL", "model_tags", "TEST_PREFIX", "is_test_metric", "SELECTED_METRIC", "SELECTED_VARYING_METRIC", "LAMBDA_METRIC", "sparsity",
            "METHOD_TAG", "MATCH_LEARNERS", "MATCHED_K_TAG", "MATCHED_RUN_TAG", "method_name", "matched_params",
            "CHILD_ROLE", "CLOSED_BY_TAG", "CONFIG_DIGEST_TAG", "DRIVER_TAG", "DEFAULT_EXPERIMENT", "DEFAULT_OBJECTIVE", "FAILED_STATUSES", "JOB_NUM_TAG", "JOBS_TAG",
            "PARENT_ROLE", "PARENT_RUN_TAG", "ROLE_TAG", "SINGLE_ROLE", "SOURCE_DIGEST_TAG", "SWEEP_DIR_TAG", "SWEPT_TAG", "TRAINING_ROLES",
            "best_run", "child_runs", "children_filter", "client_for", "driver_alive", "driver_id", "find_parent_run", "get_experiment",
            "higher_is_better", "higher_is_better_for", "is_better", "metric_value", "rank_key", "search_all",
            "swept_keys", "training_runs",
        ),
        "._runs",
    ),
    **dict.fromkeys(
        (
            "DEFAULT_TRACKING_URI", "DEFAULT_UI", "KEY_COLUMNS", "SHARED_VIEW_KEY", "TrackingStoreError", "check_reachable", "check_writable",
            "ensure_runs_view", "is_sagemaker_arn", "is_server", "prepare_store", "quiet", "resolve_tracking_uri", "shared_view_state", "tracking_uri", "ui_line", "ui_url",
        ),
        "._store",
    ),
}

# Moved to qboost_exp.sweep (orchestration sits above tracking); the old names
# work for one release. Loaded by name, so tracking itself imports nothing above it.
_MOVED = {"MLflowSweepCallback": "qboost_exp.sweep", "JobFailure": "qboost_exp.sweep", "job_failed": "qboost_exp.sweep"}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from ._faults import DEFAULT_RETRY_SECONDS, STORE_FAILED_STATUS, StoreFailure, bounded_retries, retry_plan, store_failure_reason
    from ._log import Trained, log_result, save_model
    from ._record import LOCAL_RECORD_TAG, RECORD_DIRNAME
    from ._sync import SyncError, sync_record
    from ._run import RunContext, flatten, tracked_run
    from ._runs import (
        BASELINE_TAG, MODEL_TAG, QBOOST_MODEL, model_tags, TEST_PREFIX, is_test_metric, SELECTED_METRIC, SELECTED_VARYING_METRIC, LAMBDA_METRIC, sparsity,
        METHOD_TAG, MATCH_LEARNERS, MATCHED_K_TAG, MATCHED_RUN_TAG, method_name, matched_params,
        CHILD_ROLE, CLOSED_BY_TAG, CONFIG_DIGEST_TAG, DRIVER_TAG, DEFAULT_EXPERIMENT, DEFAULT_OBJECTIVE, FAILED_STATUSES, JOB_NUM_TAG, JOBS_TAG, PARENT_ROLE,
        PARENT_RUN_TAG, ROLE_TAG, SINGLE_ROLE, SWEEP_DIR_TAG, SWEPT_TAG, TRAINING_ROLES, best_run, child_runs,
        children_filter, client_for, driver_alive, driver_id, find_parent_run, get_experiment, higher_is_better, higher_is_better_for,
        is_better, metric_value, rank_key, search_all, swept_keys, training_runs,
    )
    from ._store import (
        DEFAULT_TRACKING_URI, DEFAULT_UI, KEY_COLUMNS, SHARED_VIEW_KEY, TrackingStoreError, check_reachable, check_writable, ensure_runs_view, is_sagemaker_arn,
        is_server, prepare_store, quiet, resolve_tracking_uri, shared_view_state, tracking_uri, ui_line, ui_url,
    )


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, _MOVED)
