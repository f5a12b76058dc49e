"""A seedable MockDWaveSampler (kept apart so dwave.system loads only when asked for)."""

from __future__ import annotations

from dwave.system.testing import MockDWaveSampler


class SeededMockDWaveSampler(MockDWaveSampler):
    """MockDWaveSampler that also takes ``seed``, passed to its steepest-descent stand-in."""

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
