"""From selected learners to a decision: the tie rule, the optional classical refit, probabilities.

The decision function of a fitted model is ``sum_i w_i h_i(x) + intercept``;
``predict`` is ``classes_[1]`` where it is > 0, and ``predict_proba`` is an
increasing sigmoid of it with no offset, so ``predict`` and the argmax of
``predict_proba`` agree on every row.
"""

from __future__ import annotations

import numpy as np

# numpy alone at module level: the compiled model imports `probabilities` from
# here and must load where only numpy is installed (scipy and scikit-learn are
# imported inside the functions that fit).

REFITS = ("none", "least_squares", "logistic")


def probabilities(decision: np.ndarray, slope: float) -> np.ndarray:
    """``P(classes_[1])`` for each decision value, on the same side of 1/2 as the decision.

    The sigmoid ``1 / (1 + exp(-slope * decision))`` (as ``scipy.special.expit``
    computes it, here in numpy alone). Rounding can put it at exactly 1/2 for
    a tiny positive decision (or a zero slope), where the argmax would then
    pick ``classes_[0]`` while ``predict`` picks ``classes_[1]``; such values
    are nudged to the next float above 1/2. A decision of exactly 0 predicts
    ``classes_[0]`` (scikit-learn's ``decision > 0`` rule), so its
    probability stays 1/2.

    Parameters
    ----------
    decision : ndarray of shape (n_samples,)
    slope : float
        ``proba_slope_`` of the model, ``>= 0``.

    Returns
    -------
    ndarray of shape (n_samples,)
    """
    decision = np.asarray(decision, dtype=np.float64)
    with np.errstate(over="ignore"):  # exp overflows to inf for a very negative decision: p = 0, as expit gives
        p = 1.0 / (1.0 + np.exp(-(slope * decision)))
    positive = decision > 0
    p = np.where(positive & (p <= 0.5), np.nextafter(0.5, 1.0), p)
    return np.where(~positive & (p > 0.5), 0.5, p)


def tie_intercept(margin: np.ndarray, y_pm: np.ndarray, resolution: float) -> float:
    """The intercept that settles exact ties of a fixed-point margin, and nothing else.

    Pure QBoost margins are whole multiples of ``resolution`` (the least
    significant weight), so with 1-bit weights and an even number of learners
    a margin of exactly 0 is common. The intercept is ``+-resolution / 2``: it
    moves no margin across 0 except a tie, and a tie goes to the class that is
    more frequent among the training samples whose margin is a tie; without
    such samples (or when they split evenly), to the training data's more
    frequent class; only when that too is even, to ``classes_[1]``.
    """
    tied = np.abs(margin) < resolution / 2
    for rows in (tied, slice(None)):
        vote = float(np.sum(y_pm[rows]))
        if vote != 0:
            return float(np.sign(vote)) * resolution / 2
    return resolution / 2


def refit(h_selected: np.ndarray, y_pm: np.ndarray, kind: str) -> tuple[np.ndarray, float]:
    """Continuous weights and an intercept for the selected learners' outputs (a departure from QBoost).

    ``least_squares`` minimises QBoost's own squared loss with real weights;
    ``logistic`` fits an L2-regularised logistic regression (C=1). The
    annealer's selection is kept: only the weights change, and they may be
    negative.
    """
    n, k = h_selected.shape
    if kind == "least_squares":
        design = np.column_stack([h_selected, np.ones(n)])
        coef, *_ = np.linalg.lstsq(design, y_pm.astype(np.float64), rcond=None)
        return coef[:k], float(coef[k])
    if kind == "logistic":
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=1.0, max_iter=1000).fit(h_selected, y_pm)
        return model.coef_[0].astype(np.float64), float(model.intercept_[0])
    raise ValueError(f"unknown refit {kind!r}; use one of {', '.join(REFITS)}")


def fit_sigmoid(decision: np.ndarray, y_pm: np.ndarray) -> float:
    """The slope ``a >= 0`` of ``P(y = +1) = sigmoid(a * decision)``, by Platt scaling.

    Platt's smoothed targets keep a separable training set from giving
    probabilities of exactly 0 or 1. There is no offset: the decision already
    holds the intercept, and an offset would let the probability and the
    prediction disagree.
    """
    from scipy.optimize import minimize
    from scipy.special import expit

    n_pos = int(np.sum(y_pm > 0))
    n_neg = y_pm.size - n_pos
    target = np.where(y_pm > 0, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))

    def loss(a: np.ndarray) -> tuple[float, np.ndarray]:
        p = expit(a[0] * decision)
        eps = 1e-15
        value = -np.sum(target * np.log(p + eps) + (1 - target) * np.log(1 - p + eps))
        return float(value), np.array([(p - target) @ decision])

    result = minimize(loss, x0=np.array([1.0]), jac=True, method="L-BFGS-B", bounds=[(0.0, None)])
    return float(result.x[0])
