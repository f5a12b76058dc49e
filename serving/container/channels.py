"""The training job's input channels, read into a split :class:`qboost_exp.data.Dataset`.

Channels (File input mode; each a directory under ``/opt/ml/input/data``):

* ``training`` (required) -- every file in it, recursively, in name order
  (hidden files skipped), one table;
* ``validation`` (optional) -- the validation split; without it one is cut
  from ``training`` (``split.validation_size``);
* ``test`` (optional) -- the test split; without it one is cut from
  ``training`` (``split.test_size``).

Files are CSV in SageMaker's layout by default (label in the first column, no
header); ``dataset.label``, ``dataset.header`` and ``dataset.delimiter`` say
otherwise. Each file is parsed by qboost_exp's CSV reader, so a bad file
stops with its message naming the file, line and column. Labels of all
channels are decoded together, so ``1`` is the same class in every file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from qboost_exp.data import Dataset
from qboost_exp.data._csv import RawTable, decode_labels, read_table
from qboost_exp.data._split import split_fractions, stratified_split
from qboost_exp.errors import DataError

from .paths import OptMl

CHANNELS = ("training", "validation", "test")


@dataclass
class Channel:
    """One channel's files, parsed."""

    name: str
    directory: Path
    tables: list[tuple[Path, RawTable]]

    @property
    def rows(self) -> int:
        return sum(len(t.labels) for _, t in self.tables)

    def describe(self) -> str:
        return f"{self.name}: {len(self.tables)} file{'s' if len(self.tables) != 1 else ''}, {self.rows} rows ({self.directory})"


def channel_files(directory: Path) -> list[Path]:
    """The regular, non-hidden files under ``directory``, in path order."""
    files = []
    for path in sorted(directory.rglob("*")):
        parts = path.relative_to(directory).parts
        if path.is_file() and not any(p.startswith(".") for p in parts):
            files.append(path)
    return files


def read_channel(name: str, directory: Path, fmt: Mapping[str, Any]) -> Channel:
    """Parse every file of one channel.

    Raises
    ------
    DataError
        If the channel holds no file, a file is not usable CSV, or the files
        disagree on the number or the names of the feature columns.
    """
    files = channel_files(directory)
    if not files:
        raise DataError(f"the {name} channel {directory} holds no files; upload CSV files to its S3 prefix")
    tables = [(path, read_table(path, **fmt)) for path in files]
    first_path, first = tables[0]
    for path, table in tables[1:]:
        if table.X.shape[1] != first.X.shape[1]:
            raise DataError(f"{path}: has {table.X.shape[1]} feature columns but {first_path} has {first.X.shape[1]}")
        if table.has_header and first.has_header and table.feature_names != first.feature_names:
            raise DataError(f"{path}: its column names differ from those of {first_path}")
    return Channel(name, directory, tables)


def _stack(channel: Channel) -> tuple[np.ndarray, list[str], list[str]]:
    X = np.vstack([t.X for _, t in channel.tables])
    labels = [label for _, t in channel.tables for label in t.labels]
    where = [f"{path}: line {line}" for path, t in channel.tables for line in t.label_lines]
    return X, labels, where


def _feature_names(channels: list[Channel]) -> list[str]:
    for channel in channels:
        for _, table in channel.tables:
            if table.has_header:
                return list(table.feature_names)
    return list(channels[0].tables[0][1].feature_names)


def load_channels(layout: OptMl, dataset_cfg: Mapping[str, Any], split_cfg: Mapping[str, Any], seed: int) -> tuple[Dataset, list[Channel]]:
    """Read the channels and split them into train, validation and test.

    Parameters
    ----------
    layout : OptMl
    dataset_cfg : mapping
        The composed ``dataset`` node (``dataset=csv``): ``label``, ``header``, ``delimiter``.
    split_cfg : mapping
        ``test_size`` and ``validation_size``, used for the splits no channel provides.
    seed : int

    Returns
    -------
    Dataset, list of Channel

    Raises
    ------
    DataError
        For a missing training channel, unusable files, mismatched columns
        between channels, fewer or more than two classes in training, or
        validation/test labels that training does not have.
    """
    fmt = {k: dataset_cfg.get(k, d) for k, d in (("label", 0), ("header", "auto"), ("delimiter", ","))}
    if dataset_cfg.get("test_path"):
        raise DataError("dataset.test_path cannot be set in a training job; give the job a 'test' channel instead")
    training_dir = layout.channel("training")
    if not training_dir.is_dir():
        pipes = sorted(p.name for p in layout.data.glob("training_*")) if layout.data.is_dir() else []
        hint = " (this program reads File mode channels; Pipe mode is not supported)" if pipes else ""
        raise DataError(f"no training channel: {training_dir} does not exist{hint}; give the training job an input channel named 'training'")
    channels = [read_channel("training", training_dir, fmt)]
    for name in CHANNELS[1:]:
        if layout.channel(name).is_dir():
            channels.append(read_channel(name, layout.channel(name), fmt))
    by_name = {c.name: c for c in channels}
    width = channels[0].tables[0][1].X.shape[1]
    for channel in channels[1:]:
        path, table = channel.tables[0]
        if table.X.shape[1] != width:
            raise DataError(f"{path}: the {channel.name} channel has {table.X.shape[1]} feature columns but the training channel has {width}")

    stacked = {c.name: _stack(c) for c in channels}
    # Decode every channel's labels together so "1" is one class everywhere.
    all_labels = [label for X, labels, _ in stacked.values() for label in labels]
    decoded = decode_labels(all_labels)
    y_by, start = {}, 0
    for name, (_, labels, _) in stacked.items():
        y_by[name] = decoded[start : start + len(labels)]
        start += len(labels)

    y = y_by["training"]
    classes = np.unique(y)
    if len(classes) != 2:
        what = f"a single class, {classes[0].item()!r}" if len(classes) < 2 else f"{len(classes)} classes ({', '.join(repr(c.item()) for c in classes[:5])}{', ...' if len(classes) > 5 else ''})"
        raise DataError(
            f"the training channel ({training_dir}) holds {what} in its label column (column {channels[0].tables[0][1].label_column + 1}); "
            "QBoost is a binary classifier: it needs exactly two classes (is dataset.label the right column?)"
        )
    for name in ("validation", "test"):
        if name in y_by:
            unseen = ~np.isin(y_by[name], classes)
            if unseen.any():
                i = int(np.argmax(unseen))
                raise DataError(f"{stacked[name][2][i]}: label {y_by[name][i].item()!r} does not occur in the training channel")

    test_size, validation_size = split_fractions(split_cfg)
    train, val, test = stratified_split(
        y, 0.0 if "test" in by_name else test_size, 0.0 if "validation" in by_name else validation_size, seed, f"the training channel ({training_dir})"
    )
    X = stacked["training"][0]
    X_val, y_val = (stacked["validation"][0], y_by["validation"]) if "validation" in by_name else (X[val], y[val])
    X_test, y_test = (stacked["test"][0], y_by["test"]) if "test" in by_name else (X[test], y[test])
    source = "; ".join(c.describe() for c in channels)
    dataset = Dataset("csv", X[train], y[train], X_val, y_val, X_test, y_test, _feature_names(channels), source)
    return dataset, channels
