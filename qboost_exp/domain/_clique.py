"""Dense QUBOs on a QPU: clique embeddings, as Ocean's ``DWaveCliqueSampler`` makes them.

The QBoost QUBO is a complete graph. A heuristic minor-embedder
(``EmbeddingComposite``, minorminer) finds complete-graph embeddings slowly and
fails beyond roughly 150 variables on Pegasus; minorminer's ``busclique``
builds them directly, up to the largest clique the working graph holds, and
caches them. :class:`CliqueEmbeddingComposite` wraps any structured sampler
(a ``DWaveSampler``, or the ``MockDWaveSampler``) so that it samples dense
BQMs through such an embedding. Unlike ``DWaveCliqueSampler`` it takes its
child as an argument, so the very same code runs offline on the mock.
"""

from __future__ import annotations

import threading
from typing import Any

import dimod

from ..errors import SamplerError

# (solver identity, number of variables) -> embedding; busclique also keeps a
# disk cache per graph, this one saves recomputing even that within a process.
_EMBEDDINGS: dict[tuple[Any, int], dict[int, tuple[int, ...]]] = {}
_LARGEST: dict[Any, int] = {}
_LOCK = threading.Lock()


class CliqueEmbeddingComposite(dimod.ComposedSampler):
    """Sample a BQM on a structured sampler through a cached clique embedding.

    Parameters
    ----------
    child : dimod.Structured sampler
        A QPU sampler (``DWaveSampler``) or a stand-in with its graph.

    Sampling parameters are the child's plus ``chain_strength``,
    ``chain_break_method``, ``chain_break_fraction`` and ``return_embedding``
    (as in Ocean's ``FixedEmbeddingComposite``, which does the embedding,
    chain strength and unembedding).
    """

    def __init__(self, child: dimod.Sampler) -> None:
        self._children = [child]

    @property
    def children(self) -> list[dimod.Sampler]:
        return self._children

    @property
    def child(self) -> dimod.Sampler:
        return self._children[0]

    @property
    def parameters(self) -> dict[str, list]:
        params = dict(self.child.parameters)
        params.update(chain_strength=[], chain_break_method=[], chain_break_fraction=[], return_embedding=[])
        return params

    @property
    def properties(self) -> dict[str, Any]:
        return {"child_properties": self.child.properties, "largest_clique_size": self.largest_clique_size}

    def _key(self) -> Any:
        props = self.child.properties
        return (props.get("chip_id"), len(props.get("qubits", ())), len(props.get("couplers", ())))

    @property
    def largest_clique_size(self) -> int:
        """The most variables a dense BQM may have on this solver's working graph."""
        from minorminer import busclique

        key = self._key()
        with _LOCK:
            if key not in _LARGEST:
                _LARGEST[key] = len(busclique.busgraph_cache(self.child.to_networkx_graph()).largest_clique())
            return _LARGEST[key]

    def embedding(self, n: int) -> dict[int, tuple[int, ...]]:
        """A clique embedding of variables ``0..n-1`` (cached per solver and size)."""
        from minorminer import busclique

        largest = self.largest_clique_size
        if n > largest:
            raise SamplerError(
                f"a dense QUBO of {n} variables does not fit the solver's largest clique embedding ({largest} variables). "
                "Use qubo=iterative (windows sized to the clique), fewer candidates or fewer weight bits."
            )
        key = (self._key(), n)
        with _LOCK:
            if key not in _EMBEDDINGS:
                found = busclique.find_clique_embedding(n, self.child.to_networkx_graph(), use_cache=True)
                if len(found) != n:
                    raise SamplerError(f"busclique found no clique embedding for {n} variables on this solver")
                _EMBEDDINGS[key] = {int(v): tuple(chain) for v, chain in found.items()}
            return _EMBEDDINGS[key]

    def sample(self, bqm: dimod.BinaryQuadraticModel, **parameters: Any) -> dimod.SampleSet:
        from dwave.system import FixedEmbeddingComposite

        labels = list(bqm.variables)
        relabel = {v: i for i, v in enumerate(labels)}
        clique = self.embedding(len(labels))
        embedding = {v: clique[relabel[v]] for v in labels}
        return FixedEmbeddingComposite(self.child, embedding).sample(bqm, **parameters)
