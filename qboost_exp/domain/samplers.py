"""Built-in samplers. Every one is a :class:`dimod.Sampler`; anything else that
samples a BQM works too (pass an instance, or register a factory under the
entry-point group ``qboost_exp.samplers``).

Each function here is a *factory*: its keyword arguments are the sampler's
construction options (``sampler.init`` in the Hydra config), while the options
of ``sample()`` (``num_reads``, ``chain_strength``, ...) live in
``sampler.params``. The classes they build are defined at module level, so
they can be imported, pickled and subclassed: :class:`Neal`, :class:`Tabu`,
:class:`Steepest` and :class:`BoundedExactSolver`. The registry
(:mod:`qboost_exp.domain.plugins`) lists the factories without importing this module.

Importing this module costs dimod and dwave-samplers' Python layer, whose
classes are the base classes here: about 0.25 s, nearly all of it dimod
(dwave-samplers adds under 10 ms). The cloud clients and the QPU mock
(dwave-system) load only in the factories that use them.
"""

from __future__ import annotations

import numbers
from typing import Any, Mapping, Sequence

import dimod
from dwave.samplers import SimulatedAnnealingSampler, SteepestDescentSolver, TabuSampler

from ..errors import ConfigError, CredentialsError, SamplerError

OFFLINE_HINT = "To run offline use sampler=mock_qpu (the QPU path on a simulated Pegasus graph) or sampler=neal."
EMBEDDINGS = ("clique", "heuristic")


def _require(params: Mapping[str, Any], key: str, sampler: str, what: str, ok: Any) -> None:
    if key in params and params[key] is not None:
        value = params[key]
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not ok(value):
            raise ConfigError(f"sampler={sampler}: sampler.params.{key} must be {what}, got {value!r}")


def _positive_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and value >= 1


def _check_reads(params: Mapping[str, Any], sampler: str) -> None:
    _require(params, "num_reads", sampler, "an integer >= 1", _positive_int)


class _Validated:
    """Checks the ``sample()`` options the sampler itself does not check before it runs.

    The estimator calls :meth:`validate_parameters` before any training work;
    ``sample`` calls it again, for direct use.
    """

    config_name = ""

    def validate_parameters(self, params: Mapping[str, Any]) -> None:
        _check_reads(params, self.config_name)

    def sample(self, bqm, **parameters):
        self.validate_parameters(parameters)
        return super().sample(bqm, **parameters)


class Neal(_Validated, SimulatedAnnealingSampler):
    """dwave-samplers' ``SimulatedAnnealingSampler``, with ``num_reads`` and ``num_sweeps`` checked."""

    config_name = "neal"

    def validate_parameters(self, params: Mapping[str, Any]) -> None:
        super().validate_parameters(params)
        _require(params, "num_sweeps", self.config_name, "an integer >= 1", _positive_int)


class Tabu(_Validated, TabuSampler):
    """dwave-samplers' ``TabuSampler``, with its time limit checked (a negative one never ends)."""

    config_name = "tabu"

    def validate_parameters(self, params: Mapping[str, Any]) -> None:
        super().validate_parameters(params)
        _require(params, "timeout", self.config_name, "a number of milliseconds > 0 (per read)", lambda v: v > 0)
        _require(params, "num_restarts", self.config_name, "an integer >= 0", lambda v: isinstance(v, numbers.Integral) and v >= 0)


class Steepest(_Validated, SteepestDescentSolver):
    """dwave-samplers' ``SteepestDescentSolver``, with ``num_reads`` checked."""

    config_name = "steepest"


def neal() -> Neal:
    """Simulated annealing: dwave-samplers' ``SimulatedAnnealingSampler`` (the successor of dwave-neal)."""
    return Neal()


def tabu() -> Tabu:
    """Tabu search: dwave-samplers' ``TabuSampler``, with its time limit checked (a negative one never ends)."""
    return Tabu()


def steepest() -> Steepest:
    """Steepest-descent local search: dwave-samplers' ``SteepestDescentSolver``."""
    return Steepest()


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


def _check_embedding(name: str, embedding: str) -> None:
    if embedding not in EMBEDDINGS:
        raise ConfigError(f"sampler={name}: sampler.init.embedding must be one of {', '.join(EMBEDDINGS)}, got {embedding!r}")


def _embedded(child: dimod.Sampler, embedding: str) -> dimod.Sampler:
    if embedding == "clique":
        from ._clique import CliqueEmbeddingComposite

        return CliqueEmbeddingComposite(child)
    if embedding == "heuristic":
        from dwave.system import EmbeddingComposite

    return EmbeddingComposite(child)


def qpu(embedding: str = "clique", **client_config: Any) -> dimod.Sampler:
    """A D-Wave QPU behind an embedding of the dense QBoost QUBO.

    ``embedding="clique"`` (default) embeds it as a clique with minorminer's
    busclique, cached per solver and size, as Ocean's ``DWaveCliqueSampler``
    does; ``"heuristic"`` is ``EmbeddingComposite`` (minorminer's general
    heuristic: slower and unreliable for dense QUBOs). ``client_config`` is
    passed to ``DWaveSampler`` (``solver``, ``region``, ``profile``, ...). The
    token comes the usual Ocean way: ``DWAVE_API_TOKEN`` or dwave.conf.
    """
    _check_embedding("qpu", embedding)
    _require_token("qpu", client_config)
    from dwave.system import DWaveSampler

    return _embedded(_connect("qpu", lambda: DWaveSampler(**client_config)), embedding)


def hybrid(**client_config: Any) -> dimod.Sampler:
    """D-Wave's Leap hybrid solver: ``LeapHybridSampler(**client_config)``."""
    _require_token("hybrid", client_config)
    from dwave.system import LeapHybridSampler

    return _connect("hybrid", lambda: LeapHybridSampler(**client_config))


def mock_qpu(topology_type: str = "pegasus", topology_shape: Sequence[int] = (16,), embedding: str = "clique") -> dimod.Sampler:
    """The QPU path offline: the same embedding as ``qpu`` over dwave-system's ``MockDWaveSampler``.

    Clique embedding, chain strength, unembedding, chain-break fractions and
    timing info all run as on a QPU; the annealing itself is replaced by
    steepest descent. A ``seed`` sample parameter makes it reproducible.
    """
    from ._mock_qpu import SeededMockDWaveSampler

    _check_embedding("mock_qpu", embedding)
    child = SeededMockDWaveSampler(topology_type=topology_type, topology_shape=list(topology_shape))
    return _embedded(child, embedding)


def __getattr__(name: str) -> Any:
    if name == "BUILTIN_SAMPLERS":  # moved to the registry in 0.2, which lists built-ins without importing them
        import warnings

        from .plugins import SAMPLER_GROUP, _builtin_factories

        warnings.warn(
            "qboost_exp.domain.samplers.BUILTIN_SAMPLERS is deprecated and will be removed in the next release; "
            "use qboost_exp.domain.plugins.available_samplers()",
            DeprecationWarning,
            stacklevel=2,
        )
        return _builtin_factories(SAMPLER_GROUP)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
