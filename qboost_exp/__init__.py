"""qboost-exp: QBoost classifiers trained by annealers, with experiments driven by Hydra.

The public names below are loaded on first use (module ``__getattr__``), so
that ``import qboost_exp.tracking`` or a command's ``--help`` does not pay for
scikit-learn, dimod or Hydra.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

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


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name], __name__), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
