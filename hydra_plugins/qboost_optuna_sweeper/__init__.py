"""qboost-exp's Hydra sweeper over current Optuna (``hydra/sweeper=optuna``).

Hydra finds plugins in the ``hydra_plugins`` namespace package; this module
and :mod:`.optuna_sweeper` import nothing heavy, because Hydra imports every
plugin module at start-up. Optuna itself is imported only when a sweep runs.
"""
