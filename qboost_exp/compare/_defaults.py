"""The comparison's defaults, in a module light enough for ``--help`` (no pandas)."""

from ..tracking import DEFAULT_OBJECTIVE

#: The objective: what rows are ordered by, the figures plot and "best" means
#: unless ``--objective``/``--sort`` says otherwise. A validation metric: the
#: test split is shown, never used to choose.
DEFAULT_SORT = DEFAULT_OBJECTIVE
#: Where the figures go unless ``--out`` says otherwise.
DEFAULT_OUT = "compare"
#: The benchmark report: the metric methods are compared on (an estimate, never a choice: a test metric is allowed),
#: the reference method of the paired tests, and the directory (under ``--out``, and on the parent run) of its files.
DEFAULT_BENCHMARK_METRIC = "test_accuracy"
DEFAULT_AGAINST = "qboost"
BENCHMARK_DIR = "benchmark"
