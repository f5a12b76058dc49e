"""The QBoost objective written as a QUBO (a binary quadratic model).

Notation: ``S`` samples, ``M`` candidate learners with outputs
``h_i(x_s) in {-1, +1}``, labels ``y_s in {-1, +1}``, ``b`` weight bits.
Each learner's weight is the fixed-point number

    w_i = c * sum_k 2**k * q_ik,        c = W / (2**b - 1),   q_ik in {0, 1}

so ``w_i`` takes the ``2**b`` levels ``0, c, 2c, ..., W`` up to the largest
weight ``W`` (``W = 1/M`` with ``b = 1`` gives ``{0, 1/M}``, the weights of
D-Wave's demo). The objective is

    E(q) = (1/S) * sum_s (m_s + sum_i w_i h_i(x_s) - y_s)**2  +  lam * #{i : w_i > 0}

where ``m_s`` is a fixed margin that the new learners add to: 0 for a one-shot
QUBO, the strong classifier built so far for a window of iterative QBoost.
With the residual ``r_s = y_s - m_s`` (``r = y`` when ``m = 0``), expanding the
square with ``q**2 = q`` gives, with the Gram statistics
``G_ij = (1/S) sum_s h_i h_j`` and ``g_i = (1/S) sum_s h_i r_s``:

    offset                = (1/S) sum_s r_s**2           (1 when r = y)
    linear   (i, k)       = c**2 * 4**k * G_ii - 2 * c * 2**k * g_i
    quadratic (i,k),(j,l) = 2 * c**2 * 2**(k+l) * G_ij      (each unordered pair once)

For ``b = 1`` the sparsity term is linear: ``lam`` on every variable. For
``b > 1`` "learner i is used" is an OR of its bits, which is not quadratic, so
one indicator ``z_i`` per learner carries ``lam`` and the penalty
``P * q_ik * (1 - z_i)`` with ``P = 2 * lam`` forbids a set bit without its
indicator. For every ``q``, ``min over z`` of the energy equals ``E(q)``
exactly (``P > lam`` suffices: paying ``lam`` once beats paying ``P`` per set
bit), and the energy equals ``E(q)`` whenever ``z_i = OR_k q_ik``.

The Gram statistics are independent of ``lam``: they are computed once and a
BQM for any ``lam`` costs only ``O((M b)**2)``. They are computed from bit-packed
predictions in chunks of samples, so the ``S x M`` matrix of predictions is
never held as floats.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

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

    @property
    def n_learners(self) -> int:
        return self.hy.shape[0]


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
    return GramStatistics(hh=full[:m, :m].copy(), hy=full[:m, m].copy(), n_samples=n_samples)


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
    hr = np.zeros(predictions.n_learners)
    step = 8 * _CHUNK_BYTES
    for first in range(0, predictions.n_samples, step):
        stop = min(first + step, predictions.n_samples)
        bits = np.unpackbits(predictions.bits[:, first // 8 : (stop + 7) // 8], axis=1, count=stop - first)
        hr += (2.0 * bits - 1.0) @ residual[first:stop]
    n = predictions.n_samples
    return GramStatistics(hh=hh, hy=hr / n, n_samples=n, residual_sq=float(residual @ residual / n))


@dataclass(frozen=True)
class QuboLayout:
    """How BQM variables map back to learners: variable ``i*b + k`` is bit ``k`` of learner ``i``;
    for ``b > 1`` variable ``M*b + i`` is learner ``i``'s "used" indicator."""

    n_learners: int
    weight_bits: int
    scale: float  # c: the weight of the least significant bit

    @property
    def n_variables(self) -> int:
        m, b = self.n_learners, self.weight_bits
        return m * b + (m if b > 1 else 0)

    def weights(self, sample: np.ndarray) -> np.ndarray:
        """Learner weights from one sample (array over variables 0..n_variables-1)."""
        m, b = self.n_learners, self.weight_bits
        bits = np.asarray(sample[: m * b], dtype=np.float64).reshape(m, b)
        return self.scale * bits @ (2.0 ** np.arange(b))


def weight_scale(max_weight: float, weight_bits: int) -> float:
    """The least significant weight ``c = W / (2**b - 1)`` for the largest weight ``W``."""
    return max_weight / (2**weight_bits - 1)


def build_bqm(
    stats: GramStatistics, lam: float | np.ndarray, weight_bits: int = 1, max_weight: float | None = None
) -> tuple[dimod.BinaryQuadraticModel, QuboLayout]:
    """The QBoost BQM for the sparsity penalty ``lam`` (see the module docstring for the formula).

    ``lam`` is the energy a selected learner costs: one number, or one per
    learner (iterative QBoost charges nothing more for a learner that other
    windows already pay for). ``max_weight`` is the largest weight ``W``;
    ``None`` means D-Wave's ``1/M``.
    """
    m, b = stats.n_learners, weight_bits
    if max_weight is None:
        max_weight = 1.0 / m if m else 1.0
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
    lam_each = np.broadcast_to(np.asarray(lam, dtype=np.float64), (m,))
    if b == 1:
        linear = linear + lam_each
    elif np.any(lam_each != 0):
        penalty = np.repeat(2.0 * lam_each, b)
        linear = linear + penalty
        rows = np.arange(mb)
        matrix[rows, mb + rows // b] = -penalty
    diag = np.zeros(n)
    diag[:mb] = linear
    if b > 1:
        diag[mb:] = lam_each
    matrix[np.arange(n), np.arange(n)] = diag
    bqm = dimod.BinaryQuadraticModel(matrix, "BINARY")
    bqm.offset = stats.residual_sq
    return bqm, layout


def qboost_objective(weights: np.ndarray, h: np.ndarray, y: np.ndarray, lam: float | np.ndarray, margin: np.ndarray | float = 0.0) -> float:
    """The QBoost objective evaluated directly (reference implementation for checks).

    ``h`` is the dense ``(S, M)`` matrix of learner outputs, ``y`` the +-1
    labels and ``margin`` a fixed margin the learners add to.
    """
    residual = margin + h @ weights - y
    return float(residual @ residual / len(y) + np.sum(np.broadcast_to(lam, weights.shape) * (weights != 0)))
