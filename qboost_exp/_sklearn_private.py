"""The one place that imports scikit-learn's private parameter validation.

scikit-learn declares the valid values of every estimator parameter in
``_parameter_constraints`` and checks them with the helpers of
``sklearn.utils._param_validation``. That module has no public equivalent
(scikit-learn documents the mechanism for its own estimators and for
third-party ones that subclass ``BaseEstimator``, but does not export it), so
it may change in any release. Importing it only here keeps such a change to
one module; ``tests/test_estimator.py::test_scikit_learn_parameter_validation_still_works``
fails when it does.
"""

from __future__ import annotations

from typing import Any, Mapping

from sklearn.utils._param_validation import (
    HasMethods,
    Hidden,
    Interval,
    InvalidParameterError,
    Options,
    StrOptions,
    validate_parameter_constraints,
)

__all__ = [
    "HasMethods",
    "Hidden",
    "Interval",
    "InvalidParameterError",
    "Options",
    "StrOptions",
    "estimator_constraints",
    "first_invalid_parameter",
    "validate_parameter_constraints",
]


def estimator_constraints(estimator_class: type, name: str) -> list[Any]:
    """The constraints a scikit-learn estimator declares for its parameter ``name``.

    A weak-learner set that passes a parameter straight to a scikit-learn
    estimator declares that estimator's own constraints for it, so the two can
    never disagree.
    """
    return list(estimator_class._parameter_constraints[name])


def first_invalid_parameter(
    constraints: Mapping[str, Any], params: Mapping[str, Any], caller_name: str
) -> tuple[str, str] | None:
    """The first parameter in ``params`` that breaks ``constraints``, as ``(name, message)``.

    The message is scikit-learn's own (``"The 'max_depth' parameter of Trees
    must be ... Got 0 instead."``). Each parameter is validated on its own, so
    the name is known without reading it back out of the message.

    Returns
    -------
    tuple of (str, str) or None
        ``None`` when every parameter is valid.
    """
    for name, value in params.items():
        if name not in constraints:
            continue
        try:
            validate_parameter_constraints({name: constraints[name]}, {name: value}, caller_name=caller_name)
        except InvalidParameterError as exc:
            return name, str(exc)
    return None
