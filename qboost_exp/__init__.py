"""qboost-exp: QBoost classifiers trained by annealers, with experiments driven by Hydra.

The public names below are loaded on first use (module ``__getattr__``), so
that ``import qboost_exp.tracking`` or a command's ``--help`` does not pay for
scikit-learn, dimod or Hydra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_exports
from ._moved import install as _install_moved_modules

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "QBoostClassifier": ".domain.qboost",
    "LassoClassifier": ".domain.baselines",
    "L1LogisticClassifier": ".domain.baselines",
    "BestSubsetClassifier": ".domain.baselines",
    "WeakLearnerSet": ".domain.weak_learners",
    "QBoostError": ".errors",
    "ConfigError": ".errors",
    "DataError": ".errors",
    "SamplerError": ".errors",
    "CredentialsError": ".errors",
}

__all__ = [*_EXPORTS, "__version__"]

if TYPE_CHECKING:  # for type checkers and IDEs; at run time __getattr__ loads them
    from .domain.baselines import BestSubsetClassifier, L1LogisticClassifier, LassoClassifier
    from .domain.qboost import QBoostClassifier
    from .errors import ConfigError, CredentialsError, DataError, QBoostError, SamplerError
    from .domain.weak_learners import WeakLearnerSet


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
_install_moved_modules()  # the old module names (qboost_exp.samplers, ...) for one release
