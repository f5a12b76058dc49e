"""The comparison's defaults, in a module light enough for ``--help`` (no pandas)."""

from ..tracking import DEFAULT_OBJECTIVE

#: The objective: what rows are ordered by, the figures plot and "best" means
#: unless ``--objective``/``--sort`` says otherwise. A validation metric: the
#: test split is shown, never used to choose.
DEFAULT_SORT = DEFAULT_OBJECTIVE
#: Where the figures go unless ``--out`` says otherwise.
DEFAULT_OUT = "compare"
