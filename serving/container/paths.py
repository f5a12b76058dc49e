"""SageMaker's ``/opt/ml`` layout, with a root that local runs and tests can move.

SageMaker mounts everything a container program reads and writes under
``/opt/ml``::

    /opt/ml/input/config/hyperparameters.json   training: the job's hyperparameters (all strings)
    /opt/ml/input/data/<channel>/               training: one directory per input channel (File mode)
    /opt/ml/model/                              training writes the model here; serving reads it
    /opt/ml/output/failure                      training: why the job failed (first 1024 characters)

The root is ``--opt-ml ROOT`` if a program is given it, else the environment
variable ``SM_OPT_ML_ROOT``, else ``/opt/ml``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ENV_ROOT = "SM_OPT_ML_ROOT"
DEFAULT_ROOT = "/opt/ml"


@dataclass(frozen=True)
class OptMl:
    """The paths of one ``/opt/ml`` tree.

    Parameters
    ----------
    root : Path
        The directory standing for ``/opt/ml``.
    """

    root: Path

    @classmethod
    def resolve(cls, root: str | os.PathLike[str] | None = None) -> "OptMl":
        """The layout under ``root``, else ``$SM_OPT_ML_ROOT``, else ``/opt/ml``."""
        chosen = root or os.environ.get(ENV_ROOT) or DEFAULT_ROOT
        return cls(Path(chosen).expanduser().absolute())

    @property
    def hyperparameters(self) -> Path:
        return self.root / "input" / "config" / "hyperparameters.json"

    @property
    def data(self) -> Path:
        return self.root / "input" / "data"

    def channel(self, name: str) -> Path:
        """The directory of input channel ``name`` (File input mode)."""
        return self.data / name

    @property
    def model(self) -> Path:
        return self.root / "model"

    @property
    def failure(self) -> Path:
        return self.root / "output" / "failure"
