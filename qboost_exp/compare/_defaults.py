"""The comparison's defaults, in a module light enough for ``--help`` (no pandas)."""

#: The metric rows are ordered by unless ``--sort`` says otherwise.
DEFAULT_SORT = "test_accuracy"
#: Where the figures go unless ``--out`` says otherwise.
DEFAULT_OUT = "compare"
