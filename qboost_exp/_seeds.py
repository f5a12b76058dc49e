"""Seeds handed from one random generator to the next.

Every seed the package draws (for a sampler, a weak learner, a split) lies in
``[0, MAX_SEED)``: ``2**31 - 1`` is the largest bound every consumer takes
(numpy's legacy ``RandomState`` and scikit-learn take up to ``2**32 - 1``, but
dwave-samplers and the QPU mock take a signed 32-bit seed).
"""

from __future__ import annotations

import numpy as np

#: Exclusive upper bound of every seed the package draws or accepts.
MAX_SEED = 2**31 - 1


def draw_seed(rng: np.random.RandomState) -> int:
    """A fresh seed in ``[0, MAX_SEED)`` from ``rng`` (one draw, so seeded runs repeat).

    Parameters
    ----------
    rng : numpy.random.RandomState

    Returns
    -------
    int
    """
    return int(rng.randint(MAX_SEED))
