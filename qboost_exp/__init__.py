"""qboost-exp: QBoost classifiers trained by annealers, with experiments driven by Hydra.

The public names below are loaded on first use (module ``__getattr__``), so
that ``import qboost_exp.tracking`` or a command's ``--help`` does not pay for
scikit-learn, dimod or Hydra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_exports

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "QBoostClassifier": "._estimator",
    "WeakLearnerSet": ".weak_learners",
    "QBoostError": ".errors",
    "ConfigError": ".errors",
    "DataError": ".errors",
    "SamplerError": ".errors",
    "CredentialsError": ".errors",
}

__all__ = [*_EXPORTS, "__version__"]

if TYPE_CHECKING:  # for type checkers and IDEs; at run time __getattr__ loads them
    from ._estimator import QBoostClassifier
    from .errors import ConfigError, CredentialsError, DataError, QBoostError, SamplerError
    from .weak_learners import WeakLearnerSet


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
