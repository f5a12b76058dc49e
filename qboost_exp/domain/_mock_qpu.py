"""A seedable MockDWaveSampler (kept apart so dwave.system loads only when asked for)."""

from __future__ import annotations

from dwave.system.testing import MockDWaveSampler

from ._sampler_kind import KIND_PROPERTY


class SeededMockDWaveSampler(MockDWaveSampler):
    """MockDWaveSampler that also takes ``seed``, passed to its steepest-descent stand-in.

    It declares itself a ``qpu`` sampler (:mod:`._sampler_kind`): the QPU path
    run here. A bare MockDWaveSampler declares only D-Wave's ``category: qpu``
    and so is spent as the remote QPU it stands for.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.properties = {**self.properties, KIND_PROPERTY: "qpu"}

    @property
    def parameters(self) -> dict[str, list]:
        return {**self._mock_parameters, "seed": []}

    @parameters.setter
    def parameters(self, value: dict[str, list]) -> None:
        # MockDWaveSampler assigns its parameter table in __init__.
        self._mock_parameters = value

    def sample(self, bqm, seed: int | None = None, **kwargs):
        saved = self.substitute_kwargs
        if seed is not None:
            self.substitute_kwargs = {**saved, "seed": seed}
        try:
            return super().sample(bqm, **kwargs)
        finally:
            self.substitute_kwargs = saved
