"""MLflow tracking: one CLI run is one MLflow run; a Hydra multirun is a parent
run with one nested child run per job.

- :func:`tracking_uri` / :func:`prepare_store`: where runs go (config, then
  ``MLFLOW_TRACKING_URI``, then ``sqlite:///mlflow.db`` in the launch directory).
- :func:`tracked_run`: the context manager around one training job.
- :class:`MLflowSweepCallback`: the Hydra callback that opens and closes the
  parent run of a sweep.
- :func:`save_model`: the same MLflow model, written to a directory (the
  SageMaker ``train`` program writes /opt/ml/model with it).
"""

from ._log import save_model
from ._run import tracked_run
from ._store import prepare_store, tracking_uri
from ._sweep import MLflowSweepCallback

__all__ = ["save_model", "tracked_run", "prepare_store", "tracking_uri", "MLflowSweepCallback"]
