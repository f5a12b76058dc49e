"""The domain: the classifiers, the QUBO, the samplers, the search and the compiled model.

Nothing here knows of configs, datasets, MLflow or command lines (the layers
above: ``qboost_exp.data``, ``tracking``, ``config``/``experiment`` and the
apps). The public modules:

* :mod:`.vote`: ``WeightedVote``, the sparse weighted vote that QBoost and the
  dictionary baselines share (fit's frame, the prediction methods, the tags);
* :mod:`.qboost`: ``QBoostClassifier``;
* :mod:`.baselines`: the L1 baselines over QBoost's dictionary, the classical
  baselines and their registry;
* :mod:`.samplers`, :mod:`.weak_learners`, :mod:`.plugins`: the built-in
  samplers and weak-learner sets and the entry-point registries;
* :mod:`.compiled`: a fitted vote as numpy arrays;
* :mod:`.testing`: the conformance kit for plugin authors.

The private modules hold one job each: ``_qubo`` (the objective and its
QUBO), ``_sampling`` (one sampler call), ``_local_search``, ``_strategies``
(one-shot and iterative QBoost), ``_search`` (the λ grid search), ``_decision``
(the tie rule, refits, probabilities), ``_clique`` and ``_mock_qpu``,
``_targets`` (the binary target rule).

The package root's old module names (``qboost_exp.samplers``, ...) still
import, with a DeprecationWarning, for one release (``qboost_exp._moved``).
"""
