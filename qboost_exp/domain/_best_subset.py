"""Best-subset selection of k columns for least squares, by the ``abess`` package (the ``abess`` baseline's step).

:func:`best_subset` is the one call to abess: the columns of ``k`` learners'
±1 outputs that minimise the squared loss of a least-squares fit with an
intercept, as found by abess's splicing algorithm (Zhu et al., PNAS 2020;
a fast search that is not an exhaustive one). Two of abess 0.4's quirks are
handled here, so no caller meets them:

* it refuses a constant column (it standardises columns): constant columns
  are never passed to it (with an intercept they explain nothing), and the
  indices it returns are mapped back to the caller's columns;
* with one column its ``predict`` broadcasts wrongly: nothing here predicts
  with abess, only its support (``coef_``'s non-zero entries) is read, and
  when every usable column is wanted it is not called at all.

abess is imported only inside :func:`best_subset`: a fitted model holds
plain arrays and scikit-learn trees, never an abess object, so unpickling or
serving one does not need abess.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Subset", "best_subset", "varying_columns"]

#: The targets' scale in the call to abess (see best_subset).
_TARGET_SCALE = 1e3


@dataclass(frozen=True)
class Subset:
    """What :func:`best_subset` chose.

    Attributes
    ----------
    indices : ndarray of int
        The chosen columns of ``H``, sorted.
    n_varying : int
        Columns of ``H`` that are not constant: at most this many can be chosen.
    """

    indices: np.ndarray
    n_varying: int


def varying_columns(H: np.ndarray) -> np.ndarray:
    """The indices of the columns of ``H`` that take more than one value."""
    if H.shape[0] == 0:
        return np.zeros(0, dtype=np.intp)
    return np.flatnonzero(np.any(H != H[:1], axis=0))


def best_subset(H: np.ndarray, y: np.ndarray, k: int) -> Subset:
    """The ``k`` columns of ``H`` whose least-squares fit (with an intercept) to ``y`` has the smallest squared loss.

    Parameters
    ----------
    H : ndarray of shape (n_samples, n_columns)
        The learners' outputs (any real values; constant columns are skipped).
    y : ndarray of shape (n_samples,)
        The targets (±1).
    k : int
        The support size, >= 0. With fewer than ``k`` non-constant columns,
        all of them are chosen (``len(indices) < k``).

    Returns
    -------
    Subset
    """
    varying = varying_columns(H)
    size = min(int(k), len(varying))
    if size == 0:
        return Subset(np.zeros(0, dtype=np.intp), len(varying))
    if size == len(varying):  # every usable column: nothing to choose (and abess's one-column case never arises)
        return Subset(varying, len(varying))
    from abess import LinearRegression

    # abess's splicing takes a swap only if it lowers the loss by more than a fixed threshold (meant to stop at
    # statistically meaningful gains): with ±1 targets that threshold hides real gains, and it stops early. The
    # targets scaled by _TARGET_SCALE rank every subset as the unscaled ones do, and make the threshold negligible.
    targets = np.asarray(y, dtype=np.float64) * _TARGET_SCALE
    fit = LinearRegression(support_size=[size], fit_intercept=True, thread=1).fit(H[:, varying], targets)
    return Subset(varying[np.flatnonzero(fit.coef_)], len(varying))
