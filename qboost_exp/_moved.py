"""Modules that moved, still importable under their old names for one release (with a DeprecationWarning).

The domain (estimator, QUBO, samplers, ...) moved from the package root into
:mod:`qboost_exp.domain`. Code that imports an old name, and models pickled
before the move (a pickle names the module of each class), keep working:
the old name is an alias of the new module, not a copy.
"""

from __future__ import annotations

import importlib
import sys
from importlib.machinery import ModuleSpec
import warnings
from types import ModuleType

#: old module name -> where it lives now
MOVED = {
    "qboost_exp.baselines": "qboost_exp.domain.baselines",
    "qboost_exp.compiled": "qboost_exp.domain.compiled",
    "qboost_exp.plugins": "qboost_exp.domain.plugins",
    "qboost_exp.samplers": "qboost_exp.domain.samplers",
    "qboost_exp.testing": "qboost_exp.domain.testing",
    "qboost_exp.weak_learners": "qboost_exp.domain.weak_learners",
    "qboost_exp._estimator": "qboost_exp.domain.qboost",  # what pickled QBoostClassifier models name
}


# Plain classes, not importlib.abc's: that module alone costs `import qboost_exp` about 10 ms
# (it pulls in importlib.resources), and the import system only calls these methods.
class _Alias:
    def __init__(self, new: str) -> None:
        self.new = new

    def create_module(self, spec):  # the default empty module; exec_module swaps it for the real one
        return None

    def exec_module(self, module: ModuleType) -> None:
        warnings.warn(
            f"{module.__name__} moved to {self.new}; the old name goes away in the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        # The import system returns whatever sys.modules holds under the name once this returns.
        sys.modules[module.__name__] = importlib.import_module(self.new)


class _MovedFinder:
    def find_spec(self, fullname, path, target=None):
        if fullname not in MOVED:
            return None
        return ModuleSpec(fullname, _Alias(MOVED[fullname]))


def install() -> None:
    """Make the old names importable (once per process)."""
    if not any(isinstance(finder, _MovedFinder) for finder in sys.meta_path):
        sys.meta_path.append(_MovedFinder())
