"""qboost-exp: QBoost classifiers trained by annealers, with experiments driven by Hydra."""

from ._estimator import QBoostClassifier
from .errors import ConfigError, CredentialsError, DataError, QBoostError, SamplerError
from .weak_learners import WeakLearnerSet

__version__ = "0.1.0"

__all__ = [
    "QBoostClassifier",
    "WeakLearnerSet",
    "QBoostError",
    "ConfigError",
    "DataError",
    "SamplerError",
    "CredentialsError",
    "__version__",
]
