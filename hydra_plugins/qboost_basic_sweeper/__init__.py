"""qboost-exp's grid sweeper: Hydra's BasicSweeper, with every job accounted for and ``hydra.sweeper.resume``.

conf/hydra/sweeper/basic.yaml puts it behind Hydra's own option name, so
``python -m qboost_exp -m lambda=0.05,0.1`` uses it; this module imports
nothing heavy, because Hydra imports every plugin module at start-up.
"""
