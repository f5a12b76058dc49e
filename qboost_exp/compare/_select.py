"""What a comparison may choose on, and within: the objective (never a test metric) and one dataset.

Light (no pandas, no MLflow): ``python -m serving package --best`` uses the
same rules on ``mlflow.entities.Run`` objects as ``compare`` does on its
DataFrame.

- The **objective** ranks runs, draws the Pareto front and picks "best": a
  validation metric by default (:data:`qboost_exp.tracking.DEFAULT_OBJECTIVE`).
  A test metric (``test_*``) is refused (:func:`check_objective`): choosing on
  the test split overfits it, and then its score no longer estimates how the
  model does on new data. Test metrics are shown, never used to order or choose.
- A run's **dataset** is its name (tag ``dataset``) and the digest of its
  training split (the MLflow dataset input in context ``training``, logged as
  ``<digest>-train``): :class:`DatasetId`, :func:`dataset_of`. Runs of
  different datasets (other data, or another split of the same data) are never
  ranked against each other nor drawn in one figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from ..errors import QBoostError
from ..tracking import DEFAULT_OBJECTIVE, is_test_metric

#: The tag that names a run's dataset (``dataset.name`` of its config).
DATASET_TAG = "dataset"
#: MLflow's input tag for a dataset's role, and the role of the training split.
CONTEXT_TAG = "mlflow.data.context"
TRAINING_CONTEXT = "training"
#: How the run layer suffixes the training split's name and digest.
TRAIN_SUFFIX = "-train"
#: Digest characters shown in labels (``wisc@1a2b3c4d``); ``--dataset`` takes any prefix.
SHORT_DIGEST = 8


class CompareError(QBoostError):
    """A user mistake or an unusable store: printed as one ``error:`` line, exit 2."""


def check_objective(metric: str, option: str = "--sort") -> str:
    """``metric`` without a ``metrics.`` prefix; a test metric raises :class:`CompareError`.

    Parameters
    ----------
    metric : str
        The metric asked to rank or choose by.
    option : str
        How the caller's user named it, for the message (``--sort``, ``--metric``).
    """
    name = metric.removeprefix("metrics.")
    if is_test_metric(name):
        raise CompareError(
            f"{option} {name}: runs are never ranked or chosen on the test split (choosing on it overfits it, and its "
            f"score then no longer estimates new data); use a validation metric such as {DEFAULT_OBJECTIVE} (the default). "
            "Test metrics are shown in the table, not used to choose"
        )
    return name


@dataclass(frozen=True)
class DatasetId:
    """A dataset as runs identify it: its config name and the digest of its training split.

    ``digest`` is None for runs that logged no dataset input (then the name
    alone identifies it); ``name`` is None for runs that say nothing at all.
    """

    name: str | None
    digest: str | None = None

    @property
    def label(self) -> str:
        """``name@digest`` (8 digest characters), ``name`` without a digest, ``?`` without either."""
        name = self.name or "?"
        return f"{name}@{self.digest[:SHORT_DIGEST]}" if self.digest else name

    def matches(self, spec: str) -> bool:
        """Whether ``--dataset spec`` (``NAME`` or ``NAME@DIGEST``, any digest prefix) names this dataset."""
        name, _, digest = spec.partition("@")
        if name != (self.name or "?"):
            return False
        return not digest or (self.digest is not None and self.digest.lower().startswith(digest.lower()))

    def __str__(self) -> str:
        return self.label


def training_digest(run: Any) -> str | None:
    """The digest of ``run``'s training split (an ``mlflow.entities.Run``), from its dataset inputs; None if it logged none."""
    inputs = getattr(getattr(run, "inputs", None), "dataset_inputs", None) or []
    for item in inputs:
        tags = {tag.key: tag.value for tag in (getattr(item, "tags", None) or [])}
        if tags.get(CONTEXT_TAG) == TRAINING_CONTEXT and item.dataset.digest:
            return str(item.dataset.digest).removesuffix(TRAIN_SUFFIX)
    return None


def _training_input_name(run: Any) -> str | None:
    for item in getattr(getattr(run, "inputs", None), "dataset_inputs", None) or []:
        tags = {tag.key: tag.value for tag in (getattr(item, "tags", None) or [])}
        if tags.get(CONTEXT_TAG) == TRAINING_CONTEXT and item.dataset.name:
            return str(item.dataset.name).removesuffix(TRAIN_SUFFIX)
    return None


def dataset_of(run: Any) -> DatasetId:
    """The dataset ``run`` (an ``mlflow.entities.Run``) was trained on.

    The name is the ``dataset`` tag (else the ``dataset.name`` param, else the
    training input's name); the digest is the training input's.
    """
    name = run.data.tags.get(DATASET_TAG) or run.data.params.get("dataset.name") or _training_input_name(run)
    return DatasetId(name, training_digest(run))


def describe(counts: Mapping[DatasetId, int]) -> str:
    """``csv@1a2b3c4d (3 runs), wisc@5e6f7a8b (1 run)``, sorted by label."""
    return ", ".join(f"{d.label} ({n} run{'s' if n != 1 else ''})" for d, n in sorted(counts.items(), key=lambda item: item[0].label))


def matching(datasets: Iterable[DatasetId], spec: str) -> list[DatasetId]:
    """The datasets ``--dataset spec`` names, sorted by label (a bare name can name several digests)."""
    return sorted({d for d in datasets if d.matches(spec)}, key=lambda d: d.label)


def choose_dataset(counts: Mapping[DatasetId, int], spec: str | None, *, what: str) -> DatasetId | None:
    """The one dataset to choose within: the only one there is, or the one ``spec`` names.

    Parameters
    ----------
    counts : mapping of DatasetId to int
        The datasets found, with their numbers of runs.
    spec : str or None
        ``--dataset NAME[@DIGEST]``.
    what : str
        What holds the runs, for the messages (``experiment 'qboost'``).

    Returns
    -------
    DatasetId or None
        None only when there are no runs at all.

    Raises
    ------
    CompareError
        Several datasets and no ``spec``, or ``spec`` names none or several of
        them; the message lists the datasets found.
    """
    if spec is None:
        if len(counts) > 1:
            raise CompareError(
                f"{what} has runs of {len(counts)} datasets: {describe(counts)}; runs of different datasets are never "
                "ranked against each other: choose one with --dataset NAME[@DIGEST]"
            )
        return next(iter(counts), None)
    found = matching(counts, spec)
    if not found:
        raise CompareError(f"--dataset {spec}: no such dataset in {what}; datasets found: {describe(counts) or '(none)'}")
    if len(found) > 1:
        raise CompareError(
            f"--dataset {spec} names {len(found)} datasets (other data or another split): "
            f"{describe({d: counts[d] for d in found})}; give NAME@DIGEST"
        )
    return found[0]
