"""The QBoost objective written as a QUBO (a binary quadratic model).

Notation: ``S`` samples, ``M`` candidate learners with outputs
``h_i(x_s) in {-1, +1}``, labels ``y_s in {-1, +1}``, ``b`` weight bits.
Each learner's weight is the fixed-point number

    w_i = c * sum_k 2**k * q_ik,        c = W / (2**b - 1),   q_ik in {0, 1}

so ``w_i`` takes the ``2**b`` levels ``0, c, 2c, ..., W`` up to the largest
weight ``W`` (``W = 1/M`` with ``b = 1`` gives ``{0, 1/M}``, the weights of
D-Wave's demo). The objective is

    E(q) = (1/S) * sum_s (m_s + sum_i w_i h_i(x_s) - y_s)**2  +  penalty * #{i : w_i > 0}

where ``penalty = lam * W`` is the energy a selected learner costs (the
user's ``lam`` is in units of the largest weight, see :func:`selection_penalty`;
everything in this module takes the ``penalty``) and ``m_s`` is a fixed margin
that the new learners add to: 0 for a one-shot QUBO, the strong classifier
built so far for a window of iterative QBoost.
With the residual ``r_s = y_s - m_s`` (``r = y`` when ``m = 0``), expanding the
square with ``q**2 = q`` gives, with the Gram statistics
``G_ij = (1/S) sum_s h_i h_j`` and ``g_i = (1/S) sum_s h_i r_s``:

    offset                = (1/S) sum_s r_s**2           (1 when r = y)
    linear   (i, k)       = c**2 * 4**k * G_ii - 2 * c * 2**k * g_i
    quadratic (i,k),(j,l) = 2 * c**2 * 2**(k+l) * G_ij      (each unordered pair once)

For ``b = 1`` the sparsity term is linear: ``penalty`` on every variable. For
``b > 1`` "learner i is used" is an OR of its bits, which is not quadratic, so
one indicator ``z_i`` per learner carries ``penalty`` and the constraint term
``P * q_ik * (1 - z_i)`` with ``P = 2 * penalty`` forbids a set bit without its
indicator. For every ``q``, ``min over z`` of the energy equals ``E(q)``
exactly (``P > penalty`` suffices: paying ``penalty`` once beats paying ``P``
per set bit), and the energy equals ``E(q)`` whenever ``z_i = OR_k q_ik``.
So a learner takes ``variables_per_learner(b)`` variables: ``b`` bits, plus its
indicator when ``b > 1``.

The penalty enters the energy linearly, ``E_p(q) = E_0(q) + p * units(q)``
(:func:`penalty_units`), so the energy of a sample at one penalty re-scores
exactly to any other (:func:`rescore`): the λ search draws samples at a few
penalties and scores every λ of its grid with them.

With an intercept (``fit_intercept``) the objective has a free real ``b``
inside the square. Its best value for given weights is
``b = mean(r) - sum_i w_i mean(h_i)``; put back, the objective is the same
QUBO over *centred* statistics (:meth:`GramStatistics.centred`): ``G`` and
``g`` become covariances, ``(1/S) sum r**2`` the variance of ``r``. So the
intercept costs no variable, and a constant learner, which only moved the
intercept, has nothing left to offer but its penalty.

The Gram statistics are independent of the penalty: they are computed once and a
BQM for any penalty costs only ``O((M b)**2)``. They are computed from bit-packed
predictions in chunks of samples, so the ``S x M`` matrix of predictions is
never held as floats.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import dimod
import numpy as np
from scipy.linalg import blas

# 16384 samples per chunk (2048 packed bytes per learner). The chunk is
# converted to 0/1 float32 and multiplied with float32 SYRK (fast BLAS) into a
# float32 accumulator: every entry of that accumulator is a count of samples,
# an integer <= 2**24, so float32 arithmetic is exact; before a count could
# exceed 2**24 the accumulator is flushed into float64 (exact to 2**53).
_CHUNK_BYTES = 2048
_FLOAT32_EXACT = 2**24
# Bytes of unpacked uint8 bits converted at a time (keeps that temporary in cache).
_UNPACK_BLOCK_BYTES = 1 << 20


class PackedPredictions:
    """Candidate-learner outputs in {-1, +1}, one bit per prediction.

    Parameters
    ----------
    bits : ndarray of uint8, shape (n_learners, ceil(n_samples / 8))
        Row ``i`` is ``np.packbits(h_i(X) > 0)``.
    n_samples : int
        Number of samples (the last byte of each row may be padding).
    """

    def __init__(self, bits: np.ndarray, n_samples: int) -> None:
        self.bits = bits
        self.n_samples = n_samples

    @classmethod
    def from_rows(cls, rows: Iterable[np.ndarray], n_samples: int) -> "PackedPredictions":
        """Pack an iterable of ``+-1`` prediction vectors, one learner at a time."""
        n_bytes = (n_samples + 7) // 8
        packed = [np.packbits(np.asarray(row) > 0) for row in rows]
        bits = np.vstack(packed) if packed else np.empty((0, n_bytes), dtype=np.uint8)
        return cls(bits, n_samples)

    @property
    def n_learners(self) -> int:
        return self.bits.shape[0]

    def unpack(self) -> np.ndarray:
        """The dense ``(n_samples, n_learners)`` matrix of +-1 as int8 (small problems only)."""
        on = np.unpackbits(self.bits, axis=1, count=self.n_samples).T
        return on.astype(np.int8) * 2 - 1

    def subset(self, learners: np.ndarray) -> "PackedPredictions":
        """The predictions of some learners only (rows ``learners``)."""
        return PackedPredictions(self.bits[learners], self.n_samples)

    def distinct(self) -> np.ndarray:
        """Indices of the first learner of each distinct prediction vector, in order."""
        _, first = np.unique(self.bits, axis=0, return_index=True)
        return np.sort(first)

    def combine(self, learners: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """``sum_i weights_i h_i(x_s)`` over ``learners``, for every sample (float64)."""
        out = np.zeros(self.n_samples)
        for i, w in zip(learners, weights):
            out += w * (2.0 * np.unpackbits(self.bits[i], count=self.n_samples) - 1.0)
        return out


@dataclass(frozen=True)
class GramStatistics:
    """Everything the QUBO needs from the data: ``G = H'H / S``, ``g = H'r / S`` and ``r'r / S``.

    ``r`` is the target the new learners fit: the labels ``y`` (then
    ``residual_sq = 1``), or ``y`` minus a fixed margin (a window of iterative QBoost).
    """

    hh: np.ndarray  # (M, M) float64
    hy: np.ndarray  # (M,) float64
    n_samples: int
    residual_sq: float = 1.0
    h_mean: np.ndarray | None = None  # (M,) mean output of each learner, for centred()
    r_mean: float = 0.0  # mean of r

    @property
    def n_learners(self) -> int:
        return self.hy.shape[0]

    def centred(self) -> "GramStatistics":
        """The statistics of the objective with its best intercept (see the module docstring): covariances."""
        mu = self.h_mean
        return GramStatistics(
            hh=self.hh - np.outer(mu, mu),
            hy=self.hy - mu * self.r_mean,
            n_samples=self.n_samples,
            residual_sq=self.residual_sq - self.r_mean**2,
            h_mean=np.zeros_like(mu),
            r_mean=0.0,
        )


def gram_statistics(predictions: PackedPredictions, y: np.ndarray) -> GramStatistics:
    """Compute ``H'H / S`` and ``H'y / S`` from packed predictions, chunk by chunk.

    ``y`` holds labels in {-1, +1}. Memory beyond the packed input is one
    ``(M + 1) x 16384`` float32 chunk, reused for every chunk, and a few
    ``(M + 1) x (M + 1)`` matrices.

    With the 0/1 bits ``B = (H + 1) / 2`` (and ``y`` as column ``M``), the
    counts ``K = B'B`` are accumulated; then exactly, in integers,
    ``(H'H)_ij = 4 K_ij - 2 K_ii - 2 K_jj + S`` (``B_si**2 = B_si`` makes
    ``K_ii`` the number of +1s of column ``i``).
    """
    n_samples = predictions.n_samples
    bits = predictions.bits
    m = predictions.n_learners
    m1 = m + 1
    n_bytes = bits.shape[1]
    y_on = np.asarray(y).reshape(-1) > 0
    width = 8 * min(_CHUNK_BYTES, n_bytes)
    buffer = np.empty(m1 * width, dtype=np.float32)
    acc32 = np.zeros((m1, m1), dtype=np.float32, order="F")  # upper triangle of K, partial
    in_acc32 = 0  # samples accumulated in acc32 (bounds its entries)
    counts = np.zeros((m1, m1), dtype=np.float64)  # upper triangle of K
    for start in range(0, n_bytes, _CHUNK_BYTES):
        stop = min(start + _CHUNK_BYTES, n_bytes)
        first = 8 * start
        count = min(8 * stop, n_samples) - first
        # (n, M+1) Fortran-ordered view of the 0/1 chunk, for a copy-free SYRK.
        chunk = buffer[: m1 * count].reshape(m1, count)
        rows = max(1, _UNPACK_BLOCK_BYTES // max(count, 1))
        for r0 in range(0, m, rows):
            r1 = min(r0 + rows, m)
            np.copyto(chunk[r0:r1], np.unpackbits(bits[r0:r1, start:stop], axis=1, count=count), casting="unsafe")
        chunk[m] = y_on[first : first + count]
        if in_acc32 + count > _FLOAT32_EXACT:
            counts += acc32
            acc32[...] = 0.0
            in_acc32 = 0
        acc32 = blas.ssyrk(1.0, chunk.T, trans=1, lower=0, beta=1.0, c=acc32, overwrite_c=1)
        in_acc32 += count
    counts += acc32
    upper = np.triu(counts)
    full = upper + np.triu(upper, 1).T  # K, symmetric
    ones = full.diagonal().copy()
    full *= 4.0
    full -= 2.0 * ones[:, None]
    full -= 2.0 * ones[None, :]
    full += n_samples  # now H'H (with y as column M), exact integers
    full /= n_samples
    means = 2.0 * ones / n_samples - 1.0  # each column's mean in {-1, +1} terms (y is column M)
    return GramStatistics(
        hh=full[:m, :m].copy(), hy=full[:m, m].copy(), n_samples=n_samples, h_mean=means[:m], r_mean=float(means[m])
    )


def residual_statistics(
    predictions: PackedPredictions, y: np.ndarray, margin: np.ndarray, hh: np.ndarray | None = None
) -> GramStatistics:
    """Gram statistics for learners that add to a fixed ``margin``: the target is ``r = y - margin``.

    ``G`` comes exactly from :func:`gram_statistics` (or is ``hh``, computed
    before: it does not depend on the margin); ``H'r`` and ``r'r`` are float
    sums over samples, computed chunk by chunk from the packed bits.
    """
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    residual = y - np.asarray(margin, dtype=np.float64).reshape(-1)
    if hh is None:
        hh = gram_statistics(predictions, y).hh
    hr, h_sum = np.zeros(predictions.n_learners), np.zeros(predictions.n_learners)
    step = 8 * _CHUNK_BYTES
    for first in range(0, predictions.n_samples, step):
        stop = min(first + step, predictions.n_samples)
        bits = np.unpackbits(predictions.bits[:, first // 8 : (stop + 7) // 8], axis=1, count=stop - first)
        h = 2.0 * bits - 1.0
        hr += h @ residual[first:stop]
        h_sum += h.sum(axis=1)
    n = predictions.n_samples
    return GramStatistics(
        hh=hh, hy=hr / n, n_samples=n, residual_sq=float(residual @ residual / n), h_mean=h_sum / n, r_mean=float(residual.mean())
    )


def variables_per_learner(weight_bits: int) -> int:
    """BQM variables one learner takes: its ``weight_bits`` bits, and for ``b > 1`` its "used" indicator."""
    return weight_bits + (1 if weight_bits > 1 else 0)


def dwave_max_weight(n_learners: int) -> float:
    """D-Wave's demo largest weight ``W = 1/M`` for ``M`` candidates (1 for an empty dictionary)."""
    return 1.0 / n_learners if n_learners else 1.0


def selection_penalty(lam: float, max_weight: float) -> float:
    """The energy a selected learner costs, ``lam * W``: the user's ``lam`` is in units of the largest weight.

    With this unit a learner joins (alone) if ``2 corr(h_i, r) - W > lam``, so
    one ``lam`` means the same for every largest weight and every data set.
    """
    return lam * max_weight


@dataclass(frozen=True)
class QuboLayout:
    """How BQM variables map back to learners: variable ``i*b + k`` is bit ``k`` of learner ``i``;
    for ``b > 1`` variable ``M*b + i`` is learner ``i``'s "used" indicator."""

    n_learners: int
    weight_bits: int
    scale: float  # c: the weight of the least significant bit

    @property
    def n_variables(self) -> int:
        return self.n_learners * variables_per_learner(self.weight_bits)

    def weights(self, sample: np.ndarray) -> np.ndarray:
        """Learner weights from one sample (array over variables 0..n_variables-1)."""
        m, b = self.n_learners, self.weight_bits
        bits = np.asarray(sample[: m * b], dtype=np.float64).reshape(m, b)
        return self.scale * bits @ (2.0 ** np.arange(b))


def weight_scale(max_weight: float, weight_bits: int) -> float:
    """The least significant weight ``c = W / (2**b - 1)`` for the largest weight ``W``."""
    return max_weight / (2**weight_bits - 1)


def _renamed(old: str, new: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Accept the keyword ``old`` for ``new`` for one release, with a DeprecationWarning."""

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if old in kwargs:
                if new in kwargs:
                    raise TypeError(f"{function.__name__}() got both {new!r} and its deprecated name {old!r}")
                warnings.warn(
                    f"{function.__name__}({old}=...) is deprecated and will be removed in the next release; "
                    f"pass {new}= (the energy a selected learner costs, lam * max_weight)",
                    DeprecationWarning,
                    stacklevel=2,
                )
                kwargs[new] = kwargs.pop(old)
            return function(*args, **kwargs)

        return wrapper

    return decorate


@_renamed("lam", "penalty")
def build_bqm(
    stats: GramStatistics, penalty: float | np.ndarray, weight_bits: int = 1, max_weight: float | None = None
) -> tuple[dimod.BinaryQuadraticModel, QuboLayout]:
    """The QBoost BQM for a sparsity penalty (see the module docstring for the formula).

    Parameters
    ----------
    stats : GramStatistics
        The data's Gram statistics (for the labels, or a residual).
    penalty : float or ndarray of shape (n_learners,)
        The energy a selected learner costs (``lam * max_weight``, see
        :func:`selection_penalty`): one number, or one per learner (iterative
        QBoost charges nothing more for a learner that other windows already
        pay for).
    weight_bits : int, default=1
        Bits per learner weight.
    max_weight : float, default=None
        The largest weight ``W``; ``None`` means D-Wave's ``1/M`` (:func:`dwave_max_weight`).

    Returns
    -------
    bqm : dimod.BinaryQuadraticModel
        BINARY, with the offset that makes its energy the objective.
    layout : QuboLayout
        How to read learner weights back from a sample.
    """
    qubo = qubo_matrix(stats, penalty, weight_bits, max_weight)
    bqm = dimod.BinaryQuadraticModel(qubo.matrix, "BINARY")
    bqm.offset = qubo.offset
    return bqm, qubo.layout


@dataclass(frozen=True)
class QuboMatrix:
    """A QBoost QUBO as one dense upper-triangular matrix: the energy of a 0/1 vector ``x`` is
    ``offset + x' matrix x`` (the diagonal holds the linear biases, above it the quadratic ones)."""

    matrix: np.ndarray  # (n, n) float64, upper triangular
    offset: float
    layout: QuboLayout

    def energies(self, samples: np.ndarray) -> np.ndarray:
        """The energy of every row of ``samples`` (0/1, shape ``(k, n)``), offset included."""
        x = np.asarray(samples, dtype=np.float64).reshape(-1, self.matrix.shape[0])
        return self.offset + np.einsum("ij,ij->i", x @ self.matrix, x)


def qubo_matrix(
    stats: GramStatistics, penalty: float | np.ndarray, weight_bits: int = 1, max_weight: float | None = None
) -> QuboMatrix:
    """The matrix form of :func:`build_bqm`: the same biases and offset, as numpy arrays."""
    m, b = stats.n_learners, weight_bits
    if max_weight is None:
        max_weight = dwave_max_weight(m)
    c = weight_scale(max_weight, b)
    layout = QuboLayout(n_learners=m, weight_bits=b, scale=c)
    n = layout.n_variables
    a = c * 2.0 ** np.arange(b)  # value of each bit
    aa = np.outer(a, a)
    linear = np.kron(stats.hh.diagonal(), a * a) - 2.0 * np.kron(stats.hy, a)
    # Dense upper-triangular matrix: diagonal = linear biases, above = quadratic.
    matrix = np.zeros((n, n), dtype=np.float64)
    mb = m * b
    # The quadratic block 2 * kron(G, a a') written in place, one (k, l) bit
    # pair at a time (entry (i*b + k, j*b + l) = 2 * G_ij * a_k * a_l), then
    # everything on and below its diagonal cleared: no (M b)**2 temporaries.
    for k in range(b):
        for l in range(b):
            block = matrix[k:mb:b, l:mb:b]
            np.multiply(stats.hh, aa[k, l], out=block)
            block *= 2.0
    for r in range(mb):
        matrix[r, : r + 1] = 0.0
    penalty_each = np.broadcast_to(np.asarray(penalty, dtype=np.float64), (m,))
    if b == 1:
        linear = linear + penalty_each
    elif np.any(penalty_each != 0):
        forbid = np.repeat(2.0 * penalty_each, b)  # P = 2 * penalty: a set bit without its indicator
        linear = linear + forbid
        rows = np.arange(mb)
        matrix[rows, mb + rows // b] = -forbid
    diag = np.zeros(n)
    diag[:mb] = linear
    if b > 1:
        diag[mb:] = penalty_each
    matrix[np.arange(n), np.arange(n)] = diag
    return QuboMatrix(matrix=matrix, offset=float(stats.residual_sq), layout=layout)


def penalty_units(samples: np.ndarray, layout: QuboLayout) -> np.ndarray:
    """How many times each sample pays the (scalar) penalty: its energy is ``E_0(x) + penalty * units(x)``.

    The penalty enters the QUBO linearly (and, for ``b > 1``, in the
    bit-indicator couplings), so the energy at one penalty re-scores exactly to
    any other: ``E_p2(x) = E_p1(x) + (p2 - p1) * units(x)``. With ``b = 1``,
    ``units`` is the number of selected learners; with ``b > 1`` it is the
    number of set indicators plus 2 for every set bit whose indicator is clear.
    """
    x = np.asarray(samples).reshape(-1, layout.n_variables)
    m, b = layout.n_learners, layout.weight_bits
    if b == 1:
        return x.sum(axis=1, dtype=np.float64)
    bits = x[:, : m * b].reshape(-1, m, b) != 0
    clear = x[:, m * b :] == 0
    unpaid = (bits & clear[:, :, None]).sum(axis=(1, 2), dtype=np.float64)
    return (m - clear.sum(axis=1, dtype=np.float64)) + 2.0 * unpaid


def rescore(energies: np.ndarray, samples: np.ndarray, layout: QuboLayout, penalty_from: float, penalty_to: float) -> np.ndarray:
    """Energies at ``penalty_from`` turned into the energies of the same samples at ``penalty_to`` (exact)."""
    return np.asarray(energies, dtype=np.float64) + (penalty_to - penalty_from) * penalty_units(samples, layout)


@_renamed("lam", "penalty")
def qboost_objective(
    weights: np.ndarray,
    h: np.ndarray | PackedPredictions,
    y: np.ndarray,
    penalty: float | np.ndarray,
    margin: np.ndarray | float = 0.0,
) -> float:
    """The QBoost objective ``E(w)`` evaluated directly: the one definition every caller uses.

    Parameters
    ----------
    weights : ndarray of shape (n_learners,)
        Every learner's weight (0 for the unselected).
    h : ndarray of shape (n_samples, n_learners) or PackedPredictions
        The learners' +-1 outputs, dense or bit-packed.
    y : ndarray of shape (n_samples,)
        The +-1 labels.
    penalty : float or ndarray of shape (n_learners,)
        The energy a selected learner costs (``lam * max_weight``).
    margin : float or ndarray of shape (n_samples,), default=0.0
        A fixed margin the learners add to.

    Returns
    -------
    float
        ``mean((margin + h w - y)**2) + penalty * #{i : w_i != 0}``.
    """
    weights = np.asarray(weights, dtype=np.float64)
    used = weights != 0
    if isinstance(h, PackedPredictions):
        selected = np.flatnonzero(used)
        vote = h.combine(selected, weights[selected])  # never unpacks the unselected learners
    else:
        vote = h @ weights
    residual = margin + vote - np.asarray(y, dtype=np.float64)
    if np.ndim(penalty) == 0:
        cost = float(penalty) * int(np.count_nonzero(used))
    else:
        cost = float(np.sum(np.broadcast_to(penalty, weights.shape)[used]))
    return float(residual @ residual / len(residual) + cost)
