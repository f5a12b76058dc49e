"""QBoostClassifier: a scikit-learn estimator whose ensemble is chosen by an annealer."""

from __future__ import annotations

import os
import threading
import time
import warnings
from collections.abc import Mapping
from numbers import Integral, Real
from typing import Any, Sequence

import dimod
import numpy as np
from sklearn.model_selection import check_cv, train_test_split

from . import _decision, _sampling
from ._local_search import LOCAL_SEARCHES
from ._sampler_kind import capacity, is_qpu_path
from ._sampleset_summary import sum_timings
from ._qubo import dwave_max_weight, selection_penalty, variables_per_learner, weight_scale
from ._search import GridPoint, cross_validate, draw_lambdas, plan_message, sampler_calls, weight_groups
from .._seeds import draw_seed
from .._sklearn_private import HasMethods, Interval, InvalidParameterError, StrOptions, validate_parameter_constraints
from ._generation import Round, grow
from ._strategies import STRATEGIES, FitResult, Iterative, OneShot, packed_predictions
from ..errors import ConfigError, SamplerError
from .plugins import resolve_sampler
from .vote import Choice, WeightedVote

#: λ values tried by ``lam="auto"``, in units of the largest weight (see the class docstring).
DEFAULT_LAMBDA_GRID = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2)
#: Largest weights tried by ``max_weight="auto"``: an ensemble of 4 to 16 full-weight learners reaches margin 1
#: (sparse by default; the benchmark suite measured the same accuracy as (1/32, 1/16, 1/8) with fewer learners).
DEFAULT_MAX_WEIGHT_GRID = (1 / 16, 1 / 8, 1 / 4)
DWAVE_MAX_WEIGHT = "1/M"
DEFAULT_NUM_READS = 100  # dimod samplers default to one read, too few to trust the best
#: What the λ search's sampler calls take by default, on local samplers (``search_params=None``):
#: each call's answers are re-scored at every λ and refined by the local search,
#: so a few short anneals serve the whole grid (benchmarks/bench_fit_speed.py).
DEFAULT_SEARCH_PARAMS = {"num_reads": 10, "num_sweeps": 200}
# A number for lam and max_weight, and each element of their grids. An open
# right end excludes inf (and Interval excludes NaN): an infinite penalty or
# weight would make the QUBO's energies meaningless.
_LAM = Interval(Real, 0, None, closed="left")  # >= 0
_MAX_WEIGHT = Interval(Real, 0, None, closed="neither")  # > 0
#: What every element of a grid parameter must be. scikit-learn's constraints
#: cannot look inside a sequence, so fit checks these itself (see validate_parameter).
_GRID_ELEMENTS = {"lam_grid": _LAM, "max_weight_grid": _MAX_WEIGHT}


class QBoostClassifier(WeightedVote):
    r"""Binary classifier: a sparse, fixed-point-weighted vote of weak learners chosen by a QUBO.

    Training fits a set of candidate weak learners, writes the choice of their
    weights as a QUBO and hands it to an annealer (any :class:`dimod.Sampler`).
    With ``S`` training samples, ``M`` candidates with outputs
    :math:`h_i(x) \in \{-1, +1\}` and labels :math:`y \in \{-1, +1\}` it minimises

    .. math::

        E(w) = \frac{1}{S} \sum_{s=1}^{S} \Big( \sum_{i=1}^{M} w_i h_i(x_s) + \beta - y_s \Big)^2
               + \lambda W \, \big|\{ i : w_i > 0 \}\big|

    (:math:`\beta = 0` unless ``fit_intercept``, then its best value for :math:`w`)
    over fixed-point weights :math:`w_i = c \sum_{k<b} 2^k q_{ik}`,
    :math:`q_{ik} \in \{0, 1\}`, :math:`c = W / (2^b - 1)`: ``b = weight_bits``
    bits give the :math:`2^b` levels :math:`0, c, \dots, W` up to the largest
    weight :math:`W` (``max_weight``). The penalty per selected learner is
    :math:`\lambda W`, so :math:`\lambda` is in units of the largest weight: a
    learner joins only if it lowers the squared loss by more than
    :math:`\lambda W`, i.e. (alone) if :math:`2\,\mathrm{corr}(h_i, r) - W > \lambda`
    with :math:`r` the residual it fits. ``lam`` means the same for every
    ``max_weight`` and every data set; D-Wave's demo, with :math:`W = 1/M`,
    uses the same normalised λ. The QUBO's offset, linear and quadratic terms
    are stated in :mod:`qboost_exp.domain._qubo`; for ``b > 1`` it has one extra
    indicator variable per learner so that the penalty counts learners, not bits.

    Parameters
    ----------
    weak_learners : str, dict or WeakLearnerSet, default="adaboost"
        The candidate set: a registered name (``adaboost``, ``trees``,
        ``stumps``, ``mixed``, ``estimators`` or a plugin's), a
        ``{"name": ..., "params": {...}}`` mapping, or an instance. The default
        is the 60 depth-2 trees of an AdaBoost run, which suit any tabular data.
    sampler : str or dimod.Sampler, default="neal"
        The annealer: a registered name (``neal``, ``tabu``, ``steepest``,
        ``exact``, ``qpu``, ``hybrid``, ``mock_qpu`` or a plugin's) or any
        :class:`dimod.Sampler`.
    sampler_params : dict, default=None
        Keyword arguments of ``sampler.sample`` (``num_reads``, ``num_sweeps``,
        ``chain_strength``, ...). Unless given: ``num_reads=100`` where the
        sampler takes it, and a ``seed`` (on embedding samplers also the
        embedding's ``random_seed``) derived from ``random_state``.
    lam : float or "auto", default="auto"
        The sparsity penalty :math:`\lambda \ge 0`, in units of the largest
        weight (the energy of a selected learner is ``lam * max_weight``).
        ``"auto"`` picks it from ``lam_grid`` by cross-validation on the
        training data only, together with ``max_weight="auto"``.
    max_weight : float, "1/M" or "auto", default="auto"
        The largest weight :math:`W`. ``"1/M"`` is D-Wave's demo (every weight
        at most one over the number of candidates, so many learners are needed
        to reach a margin of 1); a number fixes it; ``"auto"`` picks it from
        ``max_weight_grid`` by the same cross-validation as ``lam``.
    weight_bits : int, default=1
        Bits per learner weight (1 to 8).
    generation_rounds : int, default=0
        Rounds of new candidates after the final fit, ``one_shot`` only
        (iterative QBoost as Neven et al. 2012 describe it, done as totally
        corrective boosting): each round fits ``generation_size`` trees of
        depth ``generation_depth`` to the residual of the chosen vote and
        re-solves the QUBO over the selected learners plus the newcomers.
        The rounds stop when a round keeps no newcomer or does not lower the
        objective. ``lam`` and ``max_weight`` are chosen (``auto``; ``"1/M"``
        with ``M`` the learner set's candidates) before the rounds. Each
        round's QUBO holds at most what the sampler takes: fewer newcomers
        when the survivors fill it. 0: no rounds.
    generation_size : int, default=10
        New trees per round.
    generation_depth : int, default=2
        Their depth.
    fit_intercept : bool, default=False
        Add a real intercept :math:`\beta` inside the square of the objective,
        as scikit-learn's linear models do. Its best value for any weights
        is :math:`\bar r - \sum_i w_i \bar h_i`, so the QUBO stays the same size:
        its statistics are centred (covariances instead of Gram products).
        Without it, the vote has no bias but the learners that are constant
        on the training data, which the annealer then selects as one (the
        intercept only settles exact ties, see :meth:`decision_function`).
        With a ``refit``, the refit fits its own intercept.
    drop_duplicates : bool, default=False
        Keep only the first of the candidates whose predictions on the data
        fitted are identical (a constant learner counts once per sign). Two
        such candidates are one learner to the vote, so keeping both only
        doubles the weight that direction can reach and leaves the annealer a
        tie that flips across seeds. Each fold of the ``auto`` search drops
        its own duplicates; ``n_duplicates_`` counts the final fit's.
    refit : {"none", "least_squares", "logistic"}, default="none"
        After the annealer has selected the learners, optionally replace their
        fixed-point weights with continuous ones fitted classically on the
        selected learners' outputs (with an intercept; weights may turn
        negative). ``"least_squares"`` minimises QBoost's own squared loss,
        ``"logistic"`` fits an L2-regularised logistic regression. This is a
        departure from pure QBoost: the selection stays the annealer's.
    strategy : {"one_shot", "iterative"}, default="one_shot"
        ``one_shot`` solves one QUBO over all candidates. ``iterative`` is
        iterative QBoost (Neven et al., ACML 2012) for dictionaries larger than
        one QUBO: windows of ``window`` candidates, each solved given the
        strong classifier built so far.
    window : int, default=None
        Candidates per QUBO for ``strategy="iterative"``. ``None``: what the
        sampler takes (the largest clique of a QPU's graph, ``max_variables``
        of ``exact``), divided by the variables per learner; 100 for samplers
        without a limit.
    max_rounds : int, default=None
        QUBOs solved at most by ``iterative``; ``None`` is one pass over the
        windows. More rounds re-solve windows given all the others.
    n_iter_no_change : int, default=None
        ``iterative`` only: stop when the objective on a held-out
        ``validation_fraction`` of the training data has not improved for this
        many rounds, and keep the best round's weights. ``None``: no early
        stopping, all training data is fitted.
    validation_fraction : float, default=0.1
        The held-out share for ``n_iter_no_change``.
    lam_grid : sequence of float, default=None
        Candidates for ``lam="auto"``; ``None`` means ``DEFAULT_LAMBDA_GRID``.
    max_weight_grid : sequence of float, default=None
        Candidates for ``max_weight="auto"``; ``None`` means ``DEFAULT_MAX_WEIGHT_GRID``.
    cv : int or cross-validation splitter, default=5
        How the ``auto`` search splits the training data (as in scikit-learn's
        ``check_cv``; a ``StratifiedShuffleSplit(n_splits=1)`` is a single
        validation split). A splitter given is not modified.
    cv_rule : {"one_se", "best"}, default="one_se"
        ``best``: the grid point with the highest mean validation accuracy.
        ``one_se``: the sparsest grid point whose mean accuracy is within one
        standard error of the best (ties: the larger ``lam``, then the smaller
        ``max_weight``).
    search_params : dict, default=None
        Keyword arguments of ``sampler.sample`` for the ``auto`` search's
        calls, over ``sampler_params``. ``None``: on local samplers
        ``num_reads=10`` and, where the sampler takes it, ``num_sweeps=200``
        (``DEFAULT_SEARCH_PARAMS``, or ``sampler_params``' own values where
        smaller; the local search does the rest); on QPU paths (QPU, hybrid,
        the mock QPU) nothing changes.
    local_search : {"pairs", "flips", "none"}, default="pairs"
        A deterministic descent from the sampler's answers, at every QUBO
        solved (search and final fit): ``pairs`` takes the best single or
        pair flip (a swap of two learners, two added or removed) until none
        lowers the energy; ``flips`` single flips only; ``none`` keeps the
        sampler's best answer as it is. It never returns a worse solution
        than the sampler's best.
    n_jobs : int, default=-1
        Worker threads for the ``auto`` search: its folds, and the final
        fit's candidates, run in parallel (the annealer and scikit-learn's
        tree building release the GIL). ``-1``: one per CPU core; ``1``: all
        in the calling thread. Results do not depend on it.
    random_state : int, RandomState or None, default=None
        Seeds the weak learners, the search splits and the sampler.
    verbose : int, default=0
        ``> 0`` prints progress: each search split, each iterative round, and a
        line every few seconds during long sampling (reads done and an ETA).

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        The two labels; ``classes_[1]`` is the positive class (decision > 0).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had string column names.
    lam_ : float
        The λ used for the final fit (chosen, when ``lam="auto"``).
    max_weight_ : float
        The largest weight :math:`W` used (``1/M`` resolved; chosen, when ``"auto"``).
    penalty_ : float
        ``lam_ * max_weight_``: the energy each selected learner costs.
    n_candidates_ : int
        Candidates the annealer chose among (after ``drop_duplicates``; after
        generation rounds, the kept round's survivors and newcomers).
    n_duplicates_ : int
        Candidates of the learner set dropped as duplicates of an earlier one
        in the final fit (0 unless ``drop_duplicates``); generation rounds
        drop theirs too, not counted here.
    weights_ : ndarray of shape (n_candidates_,)
        The weight of every candidate learner (0 for the unselected); after a
        ``refit``, the refitted weights.
    selected_indices_ : ndarray of int
        Indices of the candidates the annealer selected.
    estimators_ : list
        The fitted selected learners, in the order of ``selected_indices_``.
    estimator_weights_ : ndarray
        Their weights.
    intercept_ : float
        Added to the weighted vote. With ``fit_intercept`` or a refit it is
        fitted; otherwise it only settles exact ties, see :meth:`decision_function`.
    n_qubo_variables_, n_qubo_interactions_ : int
        The size of the largest QUBO solved.
    n_qubos_ : int
        QUBOs solved for the final fit (1 for ``one_shot``).
    best_energy_ : float
        The objective :math:`E` of the selected fixed-point weights on the
        training data (for ``one_shot``, the energy of the best sample, offset
        included).
    rounds_ : list of dict or None
        ``iterative``: per round, the window, the learners selected so far and
        the objective. ``generation_rounds``: per round, the candidates of its
        QUBO, the newcomers and learners selected, the objective and whether
        the round was kept. ``n_qubo_variables_``, ``n_qubo_interactions_``
        and ``sampler_info_`` then cover every round's QUBO, and
        ``sampleset_summary_`` is the last round's (often a refused one).
    sampleset_summary_ : dict
        A plain summary of the last sampleset (energies and occurrences of its
        distinct samples, reads, chain-break fraction, timing): the sampleset
        itself holds Ocean objects that cannot be pickled.
    sampler_info_ : dict
        Sampler name, number of reads, timing (summed over QUBOs; on QPU
        paths ``qpu_access_time`` and the rest of ``sampleset.info["timing"]``),
        mean chain-break fraction and chain lengths where the sampler embeds.
    timings_ : dict
        Seconds spent in ``weak_learners``, ``qubo_build``, ``sampling``,
        ``lambda_search`` and ``generation`` (the rounds' trees and bookkeeping;
        their QUBOs count in ``qubo_build`` and ``sampling``).
    search_ : dict or None
        For an ``auto`` search: the grid (``lam``, ``max_weight``), per-split
        accuracy and selected counts (``split_scores``, ``split_selected``),
        their means (``mean_score``, ``mean_selected``), the ``rule`` and the
        ``chosen`` index; and what it cost: ``sampler_calls`` (in all) and
        ``split_sampler_calls`` (per split), ``draws`` (``"ends"``,
        ``"middle"``, ``"every"``, or ``None`` for an iterative fitter: see
        :meth:`search_plan`), ``draw_lams`` (the λ values sampled at, per
        largest weight) and ``local_search``.
    proba_slope_ : float
        The slope ``a >= 0`` of :meth:`predict_proba`.

    Notes
    -----
    Parameters are checked when :meth:`fit` starts, as scikit-learn checks its
    own estimators' (``_parameter_constraints``): an invalid one raises
    scikit-learn's ``InvalidParameterError`` (a ``ValueError`` and
    ``TypeError``) naming it. :func:`validate_parameter` runs the same check
    for one parameter.
    """

    _parameter_constraints: dict[str, list[Any]] = {
        **WeightedVote._parameter_constraints,
        "sampler": [str, HasMethods(["sample"])],
        "sampler_params": [Mapping, None],
        "lam": [_LAM, StrOptions({"auto"})],
        "max_weight": [_MAX_WEIGHT, StrOptions({"auto", DWAVE_MAX_WEIGHT})],
        "weight_bits": [Interval(Integral, 1, 8, closed="both")],
        "generation_rounds": [Interval(Integral, 0, None, closed="left")],
        "generation_size": [Interval(Integral, 1, None, closed="left")],
        "generation_depth": [Interval(Integral, 1, None, closed="left")],
        "fit_intercept": ["boolean"],
        "drop_duplicates": ["boolean"],
        "refit": [StrOptions(set(_decision.REFITS))],
        "strategy": [StrOptions(set(STRATEGIES))],
        "window": [Interval(Integral, 1, None, closed="left"), None],
        "max_rounds": [Interval(Integral, 1, None, closed="left"), None],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), None],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "lam_grid": ["array-like", None],  # and each element as _GRID_ELEMENTS says
        "max_weight_grid": ["array-like", None],
        "search_params": [Mapping, None],
        "local_search": [StrOptions(set(LOCAL_SEARCHES))],
        "n_jobs": [Integral],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        weak_learners: Any = "adaboost",
        sampler: Any = "neal",
        sampler_params: Mapping[str, Any] | None = None,
        lam: float | str = "auto",
        max_weight: float | str = "auto",
        weight_bits: int = 1,
        generation_rounds: int = 0,
        generation_size: int = 10,
        generation_depth: int = 2,
        fit_intercept: bool = False,
        drop_duplicates: bool = False,
        refit: str = "none",
        strategy: str = "one_shot",
        window: int | None = None,
        max_rounds: int | None = None,
        n_iter_no_change: int | None = None,
        validation_fraction: float = 0.1,
        lam_grid: Sequence[float] | None = None,
        max_weight_grid: Sequence[float] | None = None,
        cv: Any = 5,
        cv_rule: str = "one_se",
        search_params: Mapping[str, Any] | None = None,
        local_search: str = "pairs",
        n_jobs: int = -1,
        random_state: Any = None,
        verbose: int = 0,
    ) -> None:
        self.weak_learners = weak_learners
        self.sampler = sampler
        self.sampler_params = sampler_params
        self.lam = lam
        self.max_weight = max_weight
        self.weight_bits = weight_bits
        self.generation_rounds = generation_rounds
        self.generation_size = generation_size
        self.generation_depth = generation_depth
        self.fit_intercept = fit_intercept
        self.drop_duplicates = drop_duplicates
        self.refit = refit
        self.strategy = strategy
        self.window = window
        self.max_rounds = max_rounds
        self.n_iter_no_change = n_iter_no_change
        self.validation_fraction = validation_fraction
        self.lam_grid = lam_grid
        self.max_weight_grid = max_weight_grid
        self.cv = cv
        self.cv_rule = cv_rule
        self.search_params = search_params
        self.local_search = local_search
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ fit
    def _choose_weights(self, X: np.ndarray, y_pm: np.ndarray, learner_set: Any, rng: np.random.RandomState) -> Choice:
        """Solve the QUBO(s) over the candidates (after the ``auto`` search, if any): :meth:`WeightedVote.fit`'s step."""
        for name in _GRID_ELEMENTS:
            _check_grid(name, getattr(self, name), _GRID_ELEMENTS[name])
        sampler = resolve_sampler(self.sampler)
        validate = getattr(sampler, "validate_parameters", None)
        if callable(validate):
            validate(dict(self.sampler_params or {}))
        self._sample_kwargs(sampler, rng)  # unknown parameters fail before any training work
        grid = self._grid()
        if len(grid) > 1:
            self._search_kwargs(sampler, rng)
        check_generation(self.generation_rounds, self.strategy)
        self.timings_ = {"lambda_search": 0.0, "weak_learners": 0.0, "qubo_build": 0.0, "sampling": 0.0, "generation": 0.0}
        self.search_ = None

        if len(grid) > 1:
            t0 = time.perf_counter()
            point, self.search_, ((candidates, fitter, self.n_duplicates_), seconds) = self._search(
                X, y_pm, learner_set, sampler, rng, grid
            )
            self.timings_["lambda_search"] = time.perf_counter() - t0
            self.timings_["weak_learners"] = seconds  # ran alongside the search (in another thread when n_jobs > 1)
        else:
            point = grid[0]
            t0 = time.perf_counter()
            candidates, fitter, self.n_duplicates_ = self._prepare(learner_set, X, y_pm, rng, sampler)
            self.timings_["weak_learners"] = time.perf_counter() - t0
        max_weight = self._resolve_max_weight(point.max_weight, len(candidates))
        self.lam_, self.max_weight_ = float(point.lam), max_weight
        self.penalty_ = selection_penalty(self.lam_, max_weight)
        solve = self._solver(sampler, rng, self.verbose)
        result = fitter.fit(self.penalty_, max_weight, solve)
        if self.generation_rounds:
            candidates, fitter, result = self._generate(X, y_pm, candidates, fitter, result, max_weight, solve, rng, sampler)
        for sol in result.solutions:
            self.timings_["qubo_build"] += sol.build_seconds
            self.timings_["sampling"] += sol.sampling_seconds
        self.best_energy_ = fitter.objective(result.weights, self.penalty_)
        weights, intercept = self._finish(fitter, result.weights, max_weight)
        self.n_qubo_variables_ = max(sol.n_variables for sol in result.solutions)
        self.n_qubo_interactions_ = max(sol.n_interactions for sol in result.solutions)
        self.n_qubos_ = len(result.solutions)
        self.rounds_ = result.rounds
        self.sampleset_summary_ = result.solutions[-1].summary
        self.sampler_info_ = _sampler_info(self.sampler, result)
        # The annealer's selection, also where a refit gives a selected learner a weight of 0.
        return Choice(candidates, weights, intercept, selected=np.flatnonzero(result.weights))

    def _after_fit(self, X: np.ndarray, y_pm: np.ndarray) -> None:
        if not self.estimators_:
            warnings.warn(
                f"QBoost selected no weak learner at lam={self.lam_:g} (max_weight={self.max_weight_:g}): an empty model "
                f"that predicts {self.classes_[int(self.intercept_ > 0)].item()!r} for every sample. Use a smaller lam.",
                UserWarning,
                stacklevel=3,
            )

    def _grid(self) -> list[GridPoint]:
        lams = (DEFAULT_LAMBDA_GRID if self.lam_grid is None else self.lam_grid) if self.lam == "auto" else (self.lam,)
        if self.max_weight == "auto":
            weights: Sequence[Any] = DEFAULT_MAX_WEIGHT_GRID if self.max_weight_grid is None else self.max_weight_grid
        else:
            weights = (self.max_weight,)
        return [GridPoint(float(lam), w if isinstance(w, str) else float(w)) for w in weights for lam in lams]

    @staticmethod
    def _resolve_max_weight(value: float | str, n_candidates: int) -> float:
        return dwave_max_weight(n_candidates) if value == DWAVE_MAX_WEIGHT else float(value)

    def _sample_kwargs(self, sampler: dimod.Sampler, rng: np.random.RandomState) -> dict[str, Any]:
        kwargs = dict(self.sampler_params or {})
        accepted = getattr(sampler, "parameters", None)
        if accepted is not None:
            self._refuse_unknown(accepted, kwargs, "parameter(s)")
            seed = draw_seed(rng)
            if "num_reads" in accepted:
                kwargs.setdefault("num_reads", DEFAULT_NUM_READS)
            if "seed" in accepted:
                kwargs.setdefault("seed", seed)
            if "embedding_parameters" in accepted:
                kwargs.setdefault("embedding_parameters", {"random_seed": seed})
            if "return_embedding" in accepted:
                kwargs.setdefault("return_embedding", True)
        return kwargs

    def _refuse_unknown(self, accepted: Any, given: Mapping[str, Any], what: str) -> None:
        """A ``sample()`` option the sampler does not take is a config error, named with the ones it does take."""
        unknown = sorted(set(given) - set(accepted))
        if unknown:
            raise ConfigError(
                f"sampler {_sampler_name(self.sampler)} does not take the {what} {', '.join(unknown)}; "
                f"it takes: {', '.join(sorted(accepted)) or 'none'}"
            )

    def _search_kwargs(self, sampler: dimod.Sampler, rng: np.random.RandomState) -> dict[str, Any]:
        """``sample()`` arguments of one search call: ``sampler_params``, then ``search_params`` (or the defaults)."""
        kwargs = self._sample_kwargs(sampler, rng)
        if self.search_params is not None:
            extra = dict(self.search_params)
        elif is_qpu_path(sampler):
            extra = {}
        else:
            accepted = getattr(sampler, "parameters", None) or {}
            # never more effort than the final fit's own settings
            extra = {k: min(v, int(kwargs[k])) if kwargs.get(k) else v for k, v in DEFAULT_SEARCH_PARAMS.items() if k in accepted}
        accepted = getattr(sampler, "parameters", None)
        if accepted is not None:
            self._refuse_unknown(accepted, extra, "search parameter(s)")
        validate = getattr(sampler, "validate_parameters", None)
        if callable(validate):
            validate(extra)
        return {**kwargs, **extra}

    def _draws(self, sampler: dimod.Sampler) -> str | None:
        """How the search samples each (split, largest weight): see :data:`._search.DRAWS`; ``None`` without a λ path."""
        if self.strategy != "one_shot":
            return None
        if is_qpu_path(sampler):
            return "middle"
        if "num_reads" in (getattr(sampler, "parameters", None) or {}):
            return "ends"
        return "every"

    def _n_splits(self) -> int:
        if isinstance(self.cv, Integral):
            return int(self.cv)
        return int(check_cv(self.cv, classifier=True).get_n_splits())

    def search_plan(self, sampler: Any = None) -> dict[str, Any]:
        """What the ``auto`` search will cost, before :meth:`fit`: sampler calls and how they are spent.

        Parameters
        ----------
        sampler : dimod.Sampler, default=None
            The sampler the fit will use; ``None`` resolves ``self.sampler``
            (a cloud sampler by name then needs its credentials).

        Returns
        -------
        dict
            ``folds``, ``max_weights`` and ``lambdas`` (grid sizes),
            ``draws`` (``"ends"``: the sampler is called at the smallest and
            the largest λ of each (fold, largest weight); ``"middle"``: once,
            at the median λ, on remote samplers; ``"every"``: at every λ, on
            samplers without ``num_reads``; ``None``: iterative QBoost, one
            fit per grid point), ``search_calls`` (at most; ``None`` for
            iterative QBoost, whose calls depend on its rounds),
            ``final_calls`` (one-shot: 1, plus at most one per generation
            round) and ``message`` (the line a verbose
            fit prints before it starts). A grid of one point means no search
            (``search_calls`` 0).
        """
        if sampler is None:
            sampler = resolve_sampler(self.sampler)
        grid = self._grid()
        draws = self._draws(sampler)
        folds = self._n_splits() if len(grid) > 1 else 0
        search_calls = 0 if not folds else (sampler_calls(folds, grid, draws) if draws is not None else None)
        final_calls = 1 + self.generation_rounds if self.strategy == "one_shot" else None
        return {
            "folds": folds,
            "max_weights": len(weight_groups(grid)),
            "lambdas": max(len(g) for g in weight_groups(grid)),
            "draws": draws,
            "search_calls": search_calls,
            "final_calls": final_calls,
            "message": plan_message(folds, grid, draws, self.generation_rounds) if folds else "no lambda search (one grid point)",
        }

    def _solver(self, sampler: dimod.Sampler, rng: np.random.RandomState, verbose: int, stop: threading.Event | None = None):
        """``solve(stats, penalty, max_weight)`` with this estimator's sampler settings; a fresh seed per QUBO."""

        def solve(stats, penalty, max_weight):
            kwargs = self._sample_kwargs(sampler, rng)
            return _sampling.solve(
                stats, penalty, self.weight_bits, max_weight, sampler, kwargs, verbose, refine=self.local_search, stop=stop
            )

        return solve

    def _window(self, sampler: dimod.Sampler) -> int:
        if self.window is not None:
            return int(self.window)
        per_qubo = self._learners_per_qubo(sampler)
        return _sampling.DEFAULT_CLASSICAL_CAPACITY if per_qubo is None else max(1, per_qubo)

    def _learners_per_qubo(self, sampler: dimod.Sampler) -> int | None:
        """The most candidates one QUBO of this sampler holds at ``weight_bits`` (None: no limit)."""
        limit = capacity(sampler)
        return None if limit is None else limit // variables_per_learner(self.weight_bits)

    def _prepare(self, learner_set: Any, X: np.ndarray, y_pm: np.ndarray, rng: np.random.RandomState, sampler: dimod.Sampler):
        """The candidates fitted on ``(X, y_pm)`` (less duplicates), the fitter of ``strategy``, and the duplicates dropped."""
        validation = None
        if self.strategy == "iterative" and self.n_iter_no_change:
            X, X_val, y_pm, y_val = train_test_split(
                X, y_pm, test_size=self.validation_fraction, stratify=y_pm, random_state=draw_seed(rng)
            )
        fitted = self._fit_candidates(learner_set, X, y_pm, rng)
        candidates, predictions = self._dictionary(fitted, X)
        dropped = len(fitted) - len(candidates)
        if self.strategy == "one_shot":
            self._check_capacity(len(candidates), sampler)
            return candidates, OneShot(predictions, y_pm, self.fit_intercept), dropped
        if self.n_iter_no_change:
            h_val = np.column_stack([np.asarray(c.predict(X_val), dtype=np.float64) for c in candidates])
            validation = (h_val, y_val.astype(np.float64))
        window = self._window(sampler)
        fitter = Iterative(predictions, y_pm, window, self.max_rounds, self.n_iter_no_change, validation, self.fit_intercept)
        if self.verbose:
            print(f"  iterative QBoost: {len(candidates)} candidates in {len(fitter.windows)} windows of {window}", flush=True)
        return candidates, fitter, dropped

    def _dictionary(self, candidates: list, X: np.ndarray) -> tuple[list, Any]:
        """``candidates`` and their packed predictions on ``X``, less duplicates when ``drop_duplicates``."""
        predictions = packed_predictions(candidates, X)
        if not self.drop_duplicates:
            return candidates, predictions
        kept = predictions.distinct()
        return [candidates[i] for i in kept], predictions.subset(kept)

    def _check_capacity(self, n_candidates: int, sampler: dimod.Sampler) -> None:
        """Refuse one QUBO over ``n_candidates`` that the sampler cannot take, naming the ways out."""
        per_qubo = self._learners_per_qubo(sampler)
        if per_qubo is not None and n_candidates > per_qubo:
            needed = n_candidates * variables_per_learner(self.weight_bits)
            raise SamplerError(
                f"sampler {_sampler_name(self.sampler)} takes QUBOs of at most {capacity(sampler)} variables; one QUBO over "
                f"{n_candidates} candidates with weight_bits={self.weight_bits} needs {needed}. Use "
                f"strategy='iterative' (qubo=iterative: windows of {max(1, per_qubo)} candidates), fewer candidates or fewer weight bits."
            )

    def _generate(self, X, y_pm, candidates, fitter, result, max_weight, solve, rng, sampler):
        """``generation_rounds`` rounds of new candidates after the final fit (see :mod:`._generation`)."""
        t0 = time.perf_counter()

        def state(pool, pool_fitter, pool_result):
            return Round(pool, pool_fitter, pool_result, pool_fitter.objective(pool_result.weights, self.penalty_))

        def solve_pool(pool):  # grow keeps the pool within the sampler's capacity (max_pool)
            pool, predictions = self._dictionary(pool, X)
            pool_fitter = OneShot(predictions, y_pm, self.fit_intercept)
            return state(pool, pool_fitter, pool_fitter.fit(self.penalty_, max_weight, solve))

        best, records, solutions = grow(
            state(candidates, fitter, result), X, solve_pool,
            self.generation_rounds, self.generation_size, self.generation_depth, rng,
            max_pool=self._learners_per_qubo(sampler),
        )
        # The rounds' QUBOs count in qubo_build and sampling (from the solutions); the rest of their time here.
        solving = sum(sol.build_seconds + sol.sampling_seconds for sol in solutions)
        self.timings_["generation"] = max(0.0, time.perf_counter() - t0 - solving)
        if self.verbose:
            kept = sum(r["newcomers_selected"] for r in records if r["accepted"])
            print(f"  generation: {len(records)} rounds, {kept} newcomers kept, {len(best.candidates)} candidates", flush=True)
        return best.candidates, best.fitter, FitResult(best.result.weights, result.solutions + solutions, rounds=records)

    def _finish(self, fitter: Any, weights: np.ndarray, max_weight: float) -> tuple[np.ndarray, float]:
        """Final weights and intercept: the tie rule, or the classical refit of the selected learners."""
        selected = np.flatnonzero(weights)
        if self.refit == "none":
            if self.fit_intercept:
                return weights, fitter.intercept(weights)
            margin = fitter.predictions.combine(selected, weights[selected])
            return weights, _decision.tie_intercept(margin, fitter.y, weight_scale(max_weight, self.weight_bits))
        if not len(selected):
            return weights, _decision.tie_intercept(np.zeros(len(fitter.y)), fitter.y, 1.0)
        outputs = fitter.predictions.subset(selected).unpack().astype(np.float64)
        coef, intercept = _decision.refit(outputs, fitter.y, self.refit)
        refitted = np.zeros_like(weights)
        refitted[selected] = coef
        return refitted, intercept

    def _search(self, X, y_pm, learner_set, sampler, rng, grid):
        """The ``auto`` search; returns the chosen point, ``search_`` and the final fit's ``(_prepare's triple, seconds)``.

        Every seed is drawn here, in a fixed order, before any task starts:
        a fit gives the same result whatever ``n_jobs`` and the threads' timing.
        """
        splits = self._splits(X, y_pm, rng)
        split_seeds = [draw_seed(rng) for _ in splits]
        final_seed = draw_seed(rng)
        draws = self._draws(sampler)
        groups = weight_groups(grid)
        remote_lock = threading.Lock() if is_qpu_path(sampler) else None  # one QPU call at a time
        if self.verbose:
            print("  " + plan_message(len(splits), grid, draws, self.generation_rounds), flush=True)

        def score_split(s: int, train: np.ndarray, val: np.ndarray, stop: threading.Event):
            split_rng = np.random.RandomState(split_seeds[s])
            candidates, fitter, _ = self._prepare(learner_set, X[train], y_pm[train], split_rng, sampler)
            h_val = np.column_stack([np.asarray(c.predict(X[val]), dtype=np.float64) for c in candidates])
            scores, selected = np.zeros(len(grid)), np.zeros(len(grid))
            calls = 0
            for group in groups:
                w = self._resolve_max_weight(grid[group[0]].max_weight, len(candidates))
                penalties = [selection_penalty(grid[g].lam, w) for g in group]
                if draws is None:  # iterative: one fit per grid point
                    solve = self._solver(sampler, split_rng, 0, stop)
                    weight_sets = []
                    for penalty in penalties:
                        result = fitter.fit(penalty, w, solve)
                        weight_sets.append(result.weights)
                        calls += len(result.solutions)
                else:
                    draw_at = draw_lambdas([grid[g].lam for g in group], draws)
                    weight_sets, used = fitter.fit_path(penalties, w, self._path_solver(sampler, split_rng, draw_at, stop, remote_lock))
                    calls += used
                for g, weights in zip(group, weight_sets):
                    final, intercept = self._finish(fitter, weights, w)
                    predicted = np.where(h_val @ final + intercept > 0, 1, -1)
                    scores[g], selected[g] = float(np.mean(predicted == y_pm[val])), int(np.count_nonzero(weights))
            return scores, selected, calls

        def prepare_final(stop: threading.Event):
            t0 = time.perf_counter()
            prepared = self._prepare(learner_set, X, y_pm, np.random.RandomState(final_seed), sampler)
            return prepared, time.perf_counter() - t0

        point, details, (final,) = cross_validate(
            grid, splits, score_split, self.cv_rule, self.verbose, self._threads(), extra=[prepare_final]
        )
        details["draws"] = draws
        details["draw_lams"] = {
            str(grid[group[0]].max_weight): [grid[group[i]].lam for i in draw_lambdas([grid[g].lam for g in group], draws)]
            for group in groups
        } if draws is not None else None
        details["local_search"] = self.local_search
        return point, details, final

    def _path_solver(self, sampler, rng, draw_at, stop, lock):
        """``solve_path(stats, penalties, max_weight)`` for :meth:`OneShot.fit_path`: the search's sampler calls."""

        def draw(bqm):
            kwargs = self._search_kwargs(sampler, rng)
            if lock is None:
                return _sampling.run_sampler(sampler, bqm, kwargs, 0, stop)
            with lock:
                return _sampling.run_sampler(sampler, bqm, kwargs, 0, stop)

        def solve_path(stats, penalties, max_weight):
            return _sampling.solve_path(stats, penalties, self.weight_bits, max_weight, draw_at, draw, self.local_search)

        return solve_path

    def _threads(self) -> int:
        n = int(self.n_jobs)
        cores = os.cpu_count() or 1
        return max(1, cores + 1 + n if n < 0 else n)


def check_generation(rounds: int, strategy: str, rounds_name: str = "generation_rounds", strategy_name: str = "strategy") -> None:
    """Refuse generation rounds with iterative QBoost (the rule the estimator and the config check share)."""
    if rounds and strategy != "one_shot":
        raise ConfigError(
            f"{rounds_name}={rounds} needs {strategy_name}=one_shot: the rounds re-solve one QUBO over the survivors and "
            f"the newcomers (got {strategy_name}={strategy}). Use {rounds_name}=0, or {strategy_name}=one_shot."
        )


def validate_parameter(name: str, value: Any, *, key: str | None = None, caller_name: str = "QBoostClassifier") -> None:
    """Check one constructor parameter as :meth:`QBoostClassifier.fit` does.

    Parameters
    ----------
    name : str
        A constructor parameter of :class:`QBoostClassifier`.
    value : object
        The value to check.
    key : str, default=None
        The name the message gives the parameter (e.g. the config key that
        sets it); ``None`` means ``name``.
    caller_name : str, default="QBoostClassifier"
        Who the message says takes the parameter.

    Raises
    ------
    sklearn.utils._param_validation.InvalidParameterError
        ``"The 'KEY' parameter of CALLER must be ... Got VALUE instead."``
    """
    key = name if key is None else key
    validate_parameter_constraints({key: QBoostClassifier._parameter_constraints[name]}, {key: value}, caller_name=caller_name)
    if name in _GRID_ELEMENTS:
        _check_grid(key, value, _GRID_ELEMENTS[name], caller_name)


def _check_grid(key: str, values: Any, element: Interval, caller_name: str = "QBoostClassifier") -> None:
    """A grid is ``None`` or a non-empty sequence whose every element satisfies ``element``."""
    if values is None:
        return
    if len(values) == 0 or not all(element.is_satisfied_by(v) for v in values):
        raise InvalidParameterError(
            f"The {key!r} parameter of {caller_name} must be None or a non-empty sequence, each element "
            f"{element}. Got {values!r} instead."
        )


def _sampler_name(sampler: Any) -> str:
    return sampler if isinstance(sampler, str) else type(sampler).__name__


def _sampler_info(sampler: Any, result: FitResult) -> dict[str, Any]:
    """Sampler name and what its samplesets reported, over every QUBO of the final fit."""
    summaries = [sol.summary for sol in result.solutions]
    last = summaries[-1]
    info: dict[str, Any] = {"sampler": _sampler_name(sampler), "num_reads": last["num_reads"]}
    timings = [s["timing"] for s in summaries if "timing" in s]
    if timings:
        info["timing"] = sum_timings(timings)
    breaks = [s["chain_break_fraction"] for s in summaries if "chain_break_fraction" in s]
    if breaks:
        info["chain_break_fraction"] = float(np.mean(breaks))
    for key in ("max_chain_length", "qubits"):
        values = [s[key] for s in summaries if key in s]
        if values:
            info[key] = max(values)
    for key in ("chain_strength", "problem_id", "problem_label"):
        if key in last:
            info[key] = last[key]
    return info
