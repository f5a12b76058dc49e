"""What a fitted model keeps of a sampleset: plain numbers and arrays, never Ocean objects.

Ocean objects such as an embedding context refuse to be pickled or unpickled,
and a fitted model must load anywhere.
"""

from __future__ import annotations

from typing import Any

import dimod
import numpy as np

#: Distinct samples a summary keeps (the lowest energies).
SUMMARY_MAX_SAMPLES = 4096


def summarize(sampleset: dimod.SampleSet) -> dict[str, Any]:
    """What a fitted model keeps of a sampleset: plain numbers and arrays only.

    Keys: ``energies`` and ``num_occurrences`` (one entry per distinct sample,
    the ``SUMMARY_MAX_SAMPLES`` lowest),
    ``num_reads``, ``chain_break_fraction`` (the read-weighted mean, where the
    sampler embeds), ``max_chain_length``, ``qubits`` and ``chain_strength``
    (from the embedding context), ``timing`` (``sampleset.info["timing"]``,
    on QPU paths) and ``problem_id`` / ``problem_label`` where given.
    """
    record = sampleset.record
    # The lowest-energy distinct samples only: an exact solver returns all 2**n states.
    keep = np.argsort(record.energy, kind="stable")[:SUMMARY_MAX_SAMPLES]
    out: dict[str, Any] = {
        "energies": np.asarray(record.energy[keep], dtype=np.float64),
        "num_occurrences": np.asarray(record.num_occurrences[keep], dtype=np.int64),
        "num_reads": int(record.num_occurrences.sum()),
    }
    if "chain_break_fraction" in record.dtype.names:
        out["chain_break_fraction"] = float(np.average(record.chain_break_fraction, weights=record.num_occurrences))
    info = sampleset.info
    context = info.get("embedding_context") or {}
    if "embedding" in context:
        lengths = [len(chain) for chain in context["embedding"].values()]
        out["max_chain_length"] = max(lengths)
        out["qubits"] = sum(lengths)
        strength = context.get("chain_strength")
        out["chain_strength"] = float(strength) if isinstance(strength, (int, float, np.number)) else None
    if isinstance(info.get("timing"), dict):
        out["timing"] = {str(k): _plain(v) for k, v in info["timing"].items()}
    for key in ("problem_id", "problem_label"):
        if key in info:
            out[key] = str(info[key])
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return value if isinstance(value, (int, float, str, bool, type(None))) else str(value)


def sum_timings(timings: list[dict[str, Any]]) -> dict[str, Any]:
    """Timing dicts of several QPU calls as one: totals add up, ``*_per_sample`` entries are averaged."""
    out: dict[str, Any] = {}
    for key, value in timings[-1].items():
        values = [t[key] for t in timings if isinstance(t.get(key), (int, float))]
        if not isinstance(value, (int, float)) or not values:
            out[key] = value
        elif key.endswith("_per_sample"):
            out[key] = sum(values) / len(values)
        else:
            out[key] = sum(values)
    return out
