"""QBoostClassifier: a scikit-learn estimator whose ensemble is chosen by an annealer."""

from __future__ import annotations

import numbers
import signal
import threading
import time
import warnings
from contextlib import contextmanager
from typing import Any, Iterator, Mapping, Sequence

import dimod
import numpy as np
from scipy.optimize import minimize
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import check_cv
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ._qubo import GramStatistics, PackedPredictions, build_bqm, gram_statistics
from .errors import ConfigError, QBoostError, SamplerError
from .plugins import resolve_sampler, resolve_weak_learner_set

DEFAULT_LAMBDA_GRID = (0.0, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
DEFAULT_NUM_READS = 100  # dimod samplers default to one read, too few to trust the best
_MAX_SEED = 2**31 - 1


class QBoostClassifier(ClassifierMixin, BaseEstimator):
    r"""Binary classifier: a sparse, fixed-point-weighted vote of weak learners chosen by a QUBO.

    Training fits a set of candidate weak learners, writes the choice of their
    weights as a QUBO and hands it to an annealer (any :class:`dimod.Sampler`).
    With ``S`` training samples, ``M`` candidates with outputs
    :math:`h_i(x) \in \{-1, +1\}` and labels :math:`y \in \{-1, +1\}` it minimises

    .. math::

        E(w) = \frac{1}{S} \sum_{s=1}^{S} \Big( \sum_{i=1}^{M} w_i h_i(x_s) - y_s \Big)^2
               + \lambda \, \big|\{ i : w_i > 0 \}\big|

    over fixed-point weights :math:`w_i = c \sum_{k<b} 2^k q_{ik}`,
    :math:`q_{ik} \in \{0, 1\}`, :math:`c = 1 / (M (2^b - 1))`: ``weight_bits=1``
    gives :math:`w_i \in \{0, 1/M\}` (D-Wave's demo); ``weight_bits=b`` gives
    the :math:`2^b` levels :math:`0, c, \dots, 1/M`. The QUBO's offset, linear
    and quadratic terms are stated in :mod:`qboost_exp._qubo`; for ``b > 1`` it
    has one extra indicator variable per learner so that the penalty counts
    learners, not bits.

    Parameters
    ----------
    weak_learners : str or WeakLearnerSet, default="stumps"
        The candidate set: a registered name (``stumps``, ``trees``,
        ``adaboost``, ``mixed``, ``estimators`` or a plugin's) or an instance.
    sampler : str or dimod.Sampler, default="neal"
        The annealer: a registered name (``neal``, ``tabu``, ``steepest``,
        ``exact``, ``qpu``, ``hybrid``, ``mock_qpu`` or a plugin's) or any
        :class:`dimod.Sampler`.
    sampler_params : dict, default=None
        Keyword arguments of ``sampler.sample`` (``num_reads``, ``num_sweeps``,
        ``chain_strength``, ...). Unless given: ``num_reads=100`` where the
        sampler takes it, and a ``seed`` (on embedding samplers also the
        embedding's ``random_seed``) derived from ``random_state``.
    lam : float or "auto", default=0.01
        The sparsity penalty :math:`\lambda \ge 0`. ``"auto"`` picks it from
        ``lam_grid`` by cross-validated accuracy on the training data only.
    weight_bits : int, default=1
        Bits per learner weight (1 to 8).
    lam_grid : sequence of float, default=None
        Candidates for ``lam="auto"``; ``None`` means ``DEFAULT_LAMBDA_GRID``.
    cv : int or cross-validation splitter, default=5
        How ``lam="auto"`` splits the training data (as in scikit-learn's
        ``check_cv``; a ``StratifiedShuffleSplit(n_splits=1)`` is a single
        validation split). Ties go to the larger, sparser ``lam``.
    random_state : int, RandomState or None, default=None
        Seeds the weak learners, the ``lam`` search splits and the sampler.
    verbose : int, default=0
        ``> 0`` prints progress: each ``lam`` search split, and a line every
        few seconds during long sampling (reads done and an ETA) on samplers
        that report progress between reads (dwave-samplers' annealer).

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        The two labels; ``classes_[1]`` is the positive class (margin > 0).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had string column names.
    lam_ : float
        The penalty used for the final fit (chosen, when ``lam="auto"``).
    n_candidates_ : int
    weights_ : ndarray of shape (n_candidates_,)
        The weight of every candidate learner (0 for the unselected).
    selected_indices_ : ndarray of int
        Indices of the candidates with a non-zero weight.
    estimators_ : list
        The fitted selected learners, in the order of ``selected_indices_``.
    estimator_weights_ : ndarray
        Their weights.
    n_qubo_variables_, n_qubo_interactions_ : int
        The size of the QUBO that was solved.
    best_energy_ : float
        Energy (objective value, offset included) of the chosen assignment.
    sampleset_ : dimod.SampleSet
        Everything the sampler returned (aggregated).
    sampler_info_ : dict
        Sampler name, number of reads, timing (``sampleset.info["timing"]``
        on QPU paths), mean chain-break fraction and chain lengths where the
        sampler embeds.
    timings_ : dict
        Seconds spent in ``weak_learners``, ``qubo_build``, ``sampling`` and
        ``lambda_search``.
    lam_search_ : dict or None
        For ``lam="auto"``: the grid, per-split validation accuracy and the means.
    calibration_ : tuple of float
        ``(a, b)`` of the probability sigmoid, see :meth:`predict_proba`.
    """

    def __init__(
        self,
        weak_learners: Any = "stumps",
        sampler: Any = "neal",
        sampler_params: Mapping[str, Any] | None = None,
        lam: float | str = 0.01,
        weight_bits: int = 1,
        lam_grid: Sequence[float] | None = None,
        cv: Any = 5,
        random_state: Any = None,
        verbose: int = 0,
    ) -> None:
        self.weak_learners = weak_learners
        self.sampler = sampler
        self.sampler_params = sampler_params
        self.lam = lam
        self.weight_bits = weight_bits
        self.lam_grid = lam_grid
        self.cv = cv
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Any) -> "QBoostClassifier":
        """Fit the candidates, solve the QUBO and keep the selected learners.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Exactly two distinct labels (any type).

        Returns
        -------
        self
        """
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise ValueError(
                f"QBoostClassifier needs samples of at least 2 classes in the data; the data contains only one class: {self.classes_[0]!r}"
            )
        if len(self.classes_) > 2:
            raise ValueError(
                f"Only binary classification is supported. QBoostClassifier got y with {len(self.classes_)} classes. "
                "For a multi-class problem wrap it: sklearn.multiclass.OneVsRestClassifier(QBoostClassifier(...))."
            )
        self._check_params()
        y_pm = np.where(y == self.classes_[1], 1, -1).astype(np.int8)
        rng = check_random_state(self.random_state)
        learner_set = resolve_weak_learner_set(self.weak_learners)
        sampler = resolve_sampler(self.sampler)
        self.timings_ = {"lambda_search": 0.0}
        self.lam_search_ = None
        if isinstance(self.lam, str):
            t0 = time.perf_counter()
            self.lam_, self.lam_search_ = self._search_lambda(X, y_pm, learner_set, sampler, rng)
            self.timings_["lambda_search"] = time.perf_counter() - t0
        else:
            self.lam_ = float(self.lam)

        t0 = time.perf_counter()
        candidates = learner_set.fit_candidates(X, y_pm, rng)
        preds = _packed_predictions(candidates, X)
        self.timings_["weak_learners"] = time.perf_counter() - t0
        if not candidates:
            raise ConfigError(f"weak-learner set {learner_set!r} produced no candidate learners")

        t0 = time.perf_counter()
        stats = gram_statistics(preds, y_pm)
        self.timings_["qubo_build"] = time.perf_counter() - t0
        weights, sampleset, bqm, self.timings_["sampling"] = _solve(
            stats, self.lam_, self.weight_bits, sampler, self._sample_kwargs(sampler, rng), self.verbose
        )
        # qubo_build covers the Gram statistics and the BQM assembly.
        self.timings_["qubo_build"] += sampleset.info.pop("_qboost_build_seconds")

        self.n_candidates_ = len(candidates)
        self.weights_ = weights
        self.selected_indices_ = np.flatnonzero(weights)
        self.estimators_ = [candidates[i] for i in self.selected_indices_]
        self.estimator_weights_ = weights[self.selected_indices_]
        self.n_qubo_variables_ = bqm.num_variables
        self.n_qubo_interactions_ = bqm.num_interactions
        self.best_energy_ = float(sampleset.first.energy)
        self.sampleset_ = sampleset
        self.sampler_info_ = _sampler_info(self.sampler, sampleset)
        if not self.estimators_:
            warnings.warn(
                f"QBoost selected no weak learner at lam={self.lam_:g}; every prediction is {self.classes_[0]!r}. Use a smaller lam.",
                UserWarning,
                stacklevel=2,
            )
        self.calibration_ = _fit_sigmoid(self._margin(X), y_pm)
        return self

    def _check_params(self) -> None:
        bits = self.weight_bits
        if isinstance(bits, bool) or not isinstance(bits, numbers.Integral) or not 1 <= bits <= 8:
            raise ConfigError(f"weight_bits must be an integer from 1 to 8, got {bits!r}")
        lam = self.lam
        if isinstance(lam, str):
            if lam != "auto":
                raise ConfigError(f"lam must be a number >= 0 or 'auto', got {lam!r}")
            grid = DEFAULT_LAMBDA_GRID if self.lam_grid is None else self.lam_grid
            if len(grid) == 0 or any(not isinstance(v, numbers.Real) or v < 0 for v in grid):
                raise ConfigError(f"lam_grid must be a non-empty list of numbers >= 0, got {list(grid)!r}")
        elif isinstance(lam, bool) or not isinstance(lam, numbers.Real) or not np.isfinite(lam) or lam < 0:
            raise ConfigError(f"lam must be a number >= 0 or 'auto', got {lam!r}")

    def _sample_kwargs(self, sampler: dimod.Sampler, rng: np.random.RandomState) -> dict[str, Any]:
        kwargs = dict(self.sampler_params or {})
        accepted = getattr(sampler, "parameters", None)
        if accepted is not None:
            unknown = sorted(set(kwargs) - set(accepted))
            if unknown:
                raise ConfigError(
                    f"sampler {_sampler_name(self.sampler)} does not take the parameter(s) {', '.join(unknown)}; "
                    f"it takes: {', '.join(sorted(accepted)) or 'none'}"
                )
            seed = int(rng.randint(_MAX_SEED))
            if "num_reads" in accepted:
                kwargs.setdefault("num_reads", DEFAULT_NUM_READS)
            if "seed" in accepted:
                kwargs.setdefault("seed", seed)
            if "embedding_parameters" in accepted:
                kwargs.setdefault("embedding_parameters", {"random_seed": seed})
            if "return_embedding" in accepted:
                kwargs.setdefault("return_embedding", True)
        return kwargs

    def _search_lambda(self, X, y_pm, learner_set, sampler, rng) -> tuple[float, dict[str, Any]]:
        grid = np.asarray(DEFAULT_LAMBDA_GRID if self.lam_grid is None else self.lam_grid, dtype=float)
        splitter = check_cv(self.cv, y_pm, classifier=True)
        if hasattr(splitter, "random_state") and getattr(splitter, "shuffle", True) and splitter.random_state is None:
            splitter.random_state = int(rng.randint(_MAX_SEED))
        scores = []
        n_splits = splitter.get_n_splits(X, y_pm)
        for split_no, (train, val) in enumerate(splitter.split(X, y_pm), start=1):
            candidates = learner_set.fit_candidates(X[train], y_pm[train], rng)
            stats = gram_statistics(_packed_predictions(candidates, X[train]), y_pm[train])
            val_h = np.column_stack([np.asarray(c.predict(X[val]), dtype=float) for c in candidates])
            row = []
            for lam in grid:
                weights, *_ = _solve(stats, float(lam), self.weight_bits, sampler, self._sample_kwargs(sampler, rng))
                row.append(float(np.mean(np.where(val_h @ weights > 0, 1, -1) == y_pm[val])))
            scores.append(row)
            if self.verbose:
                print(f"  lambda search: split {split_no}/{n_splits} done, best so far {grid[int(np.argmax(np.mean(scores, axis=0)))]:g}", flush=True)
        scores_arr = np.asarray(scores)
        mean = scores_arr.mean(axis=0)
        best = np.flatnonzero(mean == mean.max())
        chosen = float(grid[best[np.argmax(grid[best])]])  # ties: the sparser model
        return chosen, {"lam_grid": grid, "split_scores": scores_arr, "mean_score": mean, "best_lam": chosen}

    # ------------------------------------------------------------- predict
    def _margin(self, X: np.ndarray) -> np.ndarray:
        margin = np.zeros(X.shape[0])
        for learner, w in zip(self.estimators_, self.estimator_weights_):
            margin += w * np.asarray(learner.predict(X), dtype=float)
        return margin

    def decision_function(self, X: Any) -> np.ndarray:
        """The ensemble margin :math:`\\sum_i w_i h_i(x)`; positive means ``classes_[1]``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return self._margin(X)

    def predict(self, X: Any) -> np.ndarray:
        """Labels: ``classes_[1]`` where the margin is positive, else ``classes_[0]``."""
        check_is_fitted(self)
        return self.classes_[(self.decision_function(X) > 0).astype(int)]

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities from a sigmoid of the margin.

        ``P(classes_[1] | x) = 1 / (1 + exp(-(a * margin(x) + b)))``, with
        ``a >= 0`` and ``b`` fitted at the end of :meth:`fit` by Platt scaling
        on the training margins (Platt's smoothed targets, so a perfectly
        separated training set does not give probabilities of exactly 0 or 1).
        The sigmoid is increasing, so probabilities rank samples exactly as
        :meth:`decision_function` does.

        Returns
        -------
        ndarray of shape (n_samples, 2)
            Columns in the order of ``classes_``.
        """
        check_is_fitted(self)
        a, b = self.calibration_
        p = expit(a * self.decision_function(X) + b)
        return np.column_stack([1.0 - p, p])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags


def _sampler_name(sampler: Any) -> str:
    return sampler if isinstance(sampler, str) else type(sampler).__name__


def _packed_predictions(candidates: Sequence[Any], X: np.ndarray) -> PackedPredictions:
    def rows():
        for i, learner in enumerate(candidates):
            h = np.asarray(learner.predict(X))
            if h.shape != (X.shape[0],) or not np.all((h == 1) | (h == -1)):
                raise QBoostError(f"candidate learner {i} ({learner!r}) must predict -1 or +1 for every sample")
            yield h

    return PackedPredictions.from_rows(rows(), X.shape[0])


def _solve(stats: GramStatistics, lam: float, weight_bits: int, sampler: dimod.Sampler, kwargs: dict[str, Any], verbose: int = 0):
    t0 = time.perf_counter()
    bqm, layout = build_bqm(stats, lam, weight_bits)
    build_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    try:
        with _interruptible(sampler, kwargs, verbose) as sample_kwargs:
            sampleset = sampler.sample(bqm, **sample_kwargs)
            sampleset.resolve()
    except (QBoostError, KeyboardInterrupt):
        raise
    except Exception as exc:
        raise SamplerError(
            f"{type(sampler).__name__} failed on a QUBO of {bqm.num_variables} variables and "
            f"{bqm.num_interactions} interactions: {type(exc).__name__}: {exc}"
        ) from exc
    sampling_seconds = time.perf_counter() - t0
    if len(sampleset) == 0:
        raise SamplerError(f"{type(sampler).__name__} returned no samples")
    best = sampleset.first.sample
    weights = layout.weights(np.array([best[v] for v in range(layout.n_variables)]))
    sampleset.info["_qboost_build_seconds"] = build_seconds
    return weights, sampleset, bqm, sampling_seconds


@contextmanager
def _interruptible(sampler: dimod.Sampler, kwargs: dict[str, Any], verbose: int = 0) -> Iterator[dict[str, Any]]:
    """Let Ctrl-C stop samplers that run long loops in compiled code, and report their progress.

    Python delivers SIGINT only between bytecodes, so a simulated anneal in
    C++ would ignore it until done. Samplers that take an
    ``interrupt_function`` (dwave-samplers' annealer) call it between reads:
    a SIGINT handler sets a flag, the sampler stops at the next read, and
    KeyboardInterrupt is raised once it has returned. The same hook counts
    reads, so a long anneal can print how far it is.
    """
    accepted = getattr(sampler, "parameters", None) or {}
    if "interrupt_function" not in accepted or "interrupt_function" in kwargs or threading.current_thread() is not threading.main_thread():
        yield kwargs
        return
    hit = threading.Event()
    progress = _ReadProgress(int(kwargs.get("num_reads") or 1), verbose)

    def interrupt() -> bool:
        progress.tick()
        return hit.is_set()

    previous = signal.signal(signal.SIGINT, lambda signum, frame: hit.set())
    try:
        yield {**kwargs, "interrupt_function": interrupt}
    finally:
        signal.signal(signal.SIGINT, previous)
    if hit.is_set():
        raise KeyboardInterrupt


class _ReadProgress:
    """Prints ``reads done / total`` with an ETA, at most every few seconds."""

    EVERY_SECONDS = 5.0

    def __init__(self, total: int, verbose: int) -> None:
        self.total, self.verbose = total, verbose
        self.done = 0
        self.start = self.last = time.perf_counter()

    def tick(self) -> None:
        self.done += 1
        now = time.perf_counter()
        if self.verbose and now - self.last >= self.EVERY_SECONDS and self.done < self.total:
            self.last = now
            elapsed = now - self.start
            eta = elapsed / self.done * (self.total - self.done)
            print(f"  sampling: {self.done}/{self.total} reads, {elapsed:.0f} s elapsed, ETA {eta:.0f} s", flush=True)


def _sampler_info(sampler: Any, sampleset: dimod.SampleSet) -> dict[str, Any]:
    info: dict[str, Any] = {"sampler": _sampler_name(sampler), "num_reads": int(sampleset.record.num_occurrences.sum())}
    if "timing" in sampleset.info:
        info["timing"] = dict(sampleset.info["timing"])
    if "chain_break_fraction" in sampleset.record.dtype.names:
        cbf = sampleset.record.chain_break_fraction
        info["chain_break_fraction"] = float(np.average(cbf, weights=sampleset.record.num_occurrences))
    context = sampleset.info.get("embedding_context") or {}
    if "embedding" in context:
        lengths = [len(chain) for chain in context["embedding"].values()]
        info["max_chain_length"] = max(lengths)
        info["qubits"] = sum(lengths)
        info["chain_strength"] = context.get("chain_strength")
    for key in ("problem_id", "problem_label"):
        if key in sampleset.info:
            info[key] = sampleset.info[key]
    return info


def _fit_sigmoid(margin: np.ndarray, y_pm: np.ndarray) -> tuple[float, float]:
    """Platt scaling with an increasing sigmoid (a >= 0)."""
    n_pos = int(np.sum(y_pm > 0))
    n_neg = y_pm.size - n_pos
    target = np.where(y_pm > 0, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))

    def loss(ab: np.ndarray) -> tuple[float, np.ndarray]:
        z = ab[0] * margin + ab[1]
        p = expit(z)
        eps = 1e-15
        value = -np.sum(target * np.log(p + eps) + (1 - target) * np.log(1 - p + eps))
        grad_z = p - target
        return float(value), np.array([grad_z @ margin, grad_z.sum()])

    prior = np.log((n_pos + 1.0) / (n_neg + 1.0))
    result = minimize(loss, x0=np.array([1.0, prior]), jac=True, method="L-BFGS-B", bounds=[(0.0, None), (None, None)])
    a, b = result.x
    return float(a), float(b)
