"""The two labels of a binary classifier: QBoost's and its baselines' one rule for ``y``."""

from __future__ import annotations

import numpy as np
from sklearn.utils.multiclass import check_classification_targets


def binary_classes(y: np.ndarray, estimator_name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(classes_, y in {-1, +1})`` for labels of exactly two classes; ``classes_[1]`` is the positive one.

    Raises
    ------
    ValueError
        One class only, or more than two (the message says to wrap the
        estimator in ``OneVsRestClassifier``), in scikit-learn's wording.
    """
    check_classification_targets(y)
    classes = np.unique(y)
    if len(classes) < 2:
        raise ValueError(
            f"{estimator_name} needs samples of at least 2 classes in the data; the data contains only one class: {classes[0]!r}"
        )
    if len(classes) > 2:
        raise ValueError(
            f"Only binary classification is supported. {estimator_name} got y with {len(classes)} classes. "
            f"For a multi-class problem wrap it: sklearn.multiclass.OneVsRestClassifier({estimator_name}(...))."
        )
    return classes, np.where(y == classes[1], 1, -1).astype(np.int8)
