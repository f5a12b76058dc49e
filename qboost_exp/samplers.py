"""Built-in samplers. Every one is a :class:`dimod.Sampler`; anything else that
samples a BQM works too (pass an instance, or register a factory under the
entry-point group ``qboost_exp.samplers``).

Each function here is a *factory*: its keyword arguments are the sampler's
construction options (``sampler.init`` in the Hydra config), while the options
of ``sample()`` (``num_reads``, ``chain_strength``, ...) live in
``sampler.params``.
"""

from __future__ import annotations

from typing import Any, Sequence

import dimod

from .errors import CredentialsError, SamplerError

OFFLINE_HINT = "To run offline use sampler=mock_qpu (the QPU path on a simulated Pegasus graph) or sampler=neal."


def neal() -> dimod.Sampler:
    """Simulated annealing: dwave-samplers' ``SimulatedAnnealingSampler`` (the successor of dwave-neal)."""
    from dwave.samplers import SimulatedAnnealingSampler

    return SimulatedAnnealingSampler()


def tabu() -> dimod.Sampler:
    """Tabu search: dwave-samplers' ``TabuSampler``."""
    from dwave.samplers import TabuSampler

    return TabuSampler()


def steepest() -> dimod.Sampler:
    """Steepest-descent local search: dwave-samplers' ``SteepestDescentSolver``."""
    from dwave.samplers import SteepestDescentSolver

    return SteepestDescentSolver()


class BoundedExactSolver(dimod.Sampler):
    """dimod's ``ExactSolver``, refusing problems it would take too long to enumerate.

    Parameters
    ----------
    max_variables : int, default=24
        Largest problem accepted: the solver enumerates all ``2**n`` states.
    """

    parameters: dict[str, list] = {}
    properties: dict[str, Any] = {}

    def __init__(self, max_variables: int = 24) -> None:
        self.max_variables = max_variables
        self.properties = {"max_variables": max_variables}

    def sample(self, bqm: dimod.BinaryQuadraticModel, **parameters: Any) -> dimod.SampleSet:
        if bqm.num_variables > self.max_variables:
            raise SamplerError(
                f"sampler=exact enumerates all 2**n states and accepts at most {self.max_variables} variables; "
                f"this QUBO has {bqm.num_variables}. Use fewer candidate learners or weight bits, "
                "or a heuristic sampler such as sampler=neal or sampler=tabu."
            )
        return dimod.ExactSolver().sample(bqm)


def exact(max_variables: int = 24) -> dimod.Sampler:
    """Brute force over every assignment (dimod's ``ExactSolver``), for small problems."""
    return BoundedExactSolver(max_variables=max_variables)


def _require_token(sampler_name: str, client_config: dict[str, Any]) -> None:
    """Stop before any work if Ocean's usual sources hold no API token."""
    from dwave.cloud.config import load_config

    try:
        config = load_config(**{k: v for k, v in client_config.items() if k in ("config_file", "profile", "token", "endpoint", "region")})
    except Exception as exc:  # a malformed dwave.conf is a user problem too
        raise CredentialsError(f"sampler={sampler_name}: could not read the D-Wave configuration: {exc}") from None
    if not config.get("token"):
        raise CredentialsError(
            f"sampler={sampler_name} needs a D-Wave Leap API token and none is configured. "
            "Set the environment variable DWAVE_API_TOKEN, or run `dwave config create` to write dwave.conf "
            "(a token may also be given as sampler.init.token, but it then lands in logs). " + OFFLINE_HINT
        )


def _connect(sampler_name: str, make: Any) -> Any:
    try:
        return make()
    except Exception as exc:
        raise SamplerError(
            f"sampler={sampler_name}: could not reach a D-Wave solver ({type(exc).__name__}: {exc}). "
            "Check the token, the solver/region settings and the network. " + OFFLINE_HINT
        ) from None


def qpu(**client_config: Any) -> dimod.Sampler:
    """A D-Wave QPU behind minor-embedding: ``EmbeddingComposite(DWaveSampler(**client_config))``.

    ``client_config`` is passed to ``DWaveSampler`` (``solver``, ``region``,
    ``profile``, ...). The token comes the usual Ocean way: ``DWAVE_API_TOKEN``
    or dwave.conf.
    """
    _require_token("qpu", client_config)
    from dwave.system import DWaveSampler, EmbeddingComposite

    return EmbeddingComposite(_connect("qpu", lambda: DWaveSampler(**client_config)))


def hybrid(**client_config: Any) -> dimod.Sampler:
    """D-Wave's Leap hybrid solver: ``LeapHybridSampler(**client_config)``."""
    _require_token("hybrid", client_config)
    from dwave.system import LeapHybridSampler

    return _connect("hybrid", lambda: LeapHybridSampler(**client_config))


def mock_qpu(topology_type: str = "pegasus", topology_shape: Sequence[int] = (16,)) -> dimod.Sampler:
    """The QPU path offline: ``EmbeddingComposite`` over dwave-system's ``MockDWaveSampler``.

    Minor-embedding, chain strength, unembedding, chain-break fractions and
    timing info all run as on a QPU; the annealing itself is replaced by
    steepest descent. A ``seed`` sample parameter makes it reproducible.
    """
    from dwave.system import EmbeddingComposite

    from ._mock_qpu import SeededMockDWaveSampler

    return EmbeddingComposite(SeededMockDWaveSampler(topology_type=topology_type, topology_shape=list(topology_shape)))


BUILTIN_SAMPLERS = {
    "neal": neal,
    "tabu": tabu,
    "steepest": steepest,
    "exact": exact,
    "qpu": qpu,
    "hybrid": hybrid,
    "mock_qpu": mock_qpu,
}
