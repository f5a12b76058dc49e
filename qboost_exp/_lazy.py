"""Public names that load on first use (PEP 562 module ``__getattr__``).

Each package lists its public names and the module that defines each. The
package's ``__getattr__`` imports that module the first time a name is asked
for, so ``import qboost_exp.tracking`` or a command's ``--help`` pays only for
what it uses, not for scikit-learn, dimod, Hydra or MLflow. Packages also
import the same names under ``if TYPE_CHECKING:`` for type checkers, and so
that the import-graph test sees every edge.
"""

from __future__ import annotations

import warnings
from importlib import import_module
from typing import Any, Callable, Mapping


def lazy_exports(
    package: str, exports: Mapping[str, str], moved: Mapping[str, str] | None = None
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    exports : mapping of str to str
        Public name -> the module defining it, relative to ``package`` (``"._log"``).
    moved : mapping of str to str, optional
        Names that moved to another module (absolute name): they still load,
        with a DeprecationWarning, for one release.
    """
    namespace = import_module(package).__dict__
    moved = dict(moved or {})

    def __getattr__(name: str) -> Any:
        if name in exports:
            value = getattr(import_module(exports[name], package), name)
            namespace[name] = value  # later look-ups skip this function
            return value
        if name in moved:
            warnings.warn(
                f"{package}.{name} moved to {moved[name]}.{name}; the old name goes away in the next release",
                DeprecationWarning,
                stacklevel=2,
            )
            return getattr(import_module(moved[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
