"""The training job's input channels, read into a split :class:`qboost_exp.data.Dataset`.

Channels (File input mode; each a directory under ``/opt/ml/input/data``):

* ``training`` (required; also accepted as ``train``, and a job's only
  channel is its training channel whatever its name, unless that name is
  ``validation`` or ``test``) -- every file in it, recursively, in name order
  (hidden files skipped), one table;
* ``validation`` (optional) -- the validation split; without it one is cut
  from ``training`` (``split.validation_size``);
* ``test`` (optional) -- the test split; without it one is cut from
  ``training`` (``split.test_size``).

Files are CSV in SageMaker's layout by default (label in the first column, no
header: :class:`qboost_exp.data.CsvOptions`); ``dataset.label``,
``dataset.header`` and ``dataset.delimiter`` say otherwise. Each file is
parsed by qboost_exp's one CSV loader, with the cell grammar the endpoint
uses (:mod:`qboost_exp.data.cells`), so a bad file stops with its message
naming the file, line and column. Labels of all channels are decoded
together, so ``1`` is the same class in every file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from qboost_exp.data import CsvGroup, CsvOptions, Dataset, load_csv_splits
from qboost_exp.errors import DataError

from .paths import OptMl

CHANNELS = ("training", "validation", "test")
#: Channel name -> the split it is.
SPLITS = {"training": "train", "validation": "validation", "test": "test"}
#: Names of the training channel, in order of preference (SageMaker's examples use both).
TRAINING_NAMES = ("training", "train")


def channels_found(layout: OptMl) -> list[str]:
    """The channel directories the job was given, by name."""
    if not layout.data.is_dir():
        return []
    return sorted(p.name for p in layout.data.iterdir() if p.is_dir() and not p.name.startswith("."))


def training_directory(layout: OptMl) -> Path | None:
    """The training channel's directory: ``training``, else ``train``, else the only channel (not validation/test); None if none fits."""
    for name in TRAINING_NAMES:
        if layout.channel(name).is_dir():
            return layout.channel(name)
    found = channels_found(layout)
    if len(found) == 1 and found[0] not in ("validation", "test"):
        return layout.channel(found[0])
    return None


@dataclass
class Channel:
    """One channel: its directory, files and rows."""

    name: str
    directory: Path
    files: list[Path]
    rows: int = 0

    def describe(self) -> str:
        return f"{self.name}: {len(self.files)} file{'s' if len(self.files) != 1 else ''}, {self.rows} rows ({self.directory})"


def channel_files(directory: Path) -> list[Path]:
    """The regular, non-hidden files under ``directory``, in path order."""
    files = []
    for path in sorted(directory.rglob("*")):
        parts = path.relative_to(directory).parts
        if path.is_file() and not any(p.startswith(".") for p in parts):
            files.append(path)
    return files


def _description(channel: Channel) -> str:
    return f"the {channel.name} channel ({channel.directory})"


def load_channels(layout: OptMl, dataset_cfg: Mapping[str, Any], split_cfg: Mapping[str, Any], seed: int) -> tuple[Dataset, list[Channel]]:
    """Read the channels and split them into train, validation and test (:func:`qboost_exp.data.load_csv_splits`).

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
        For a missing training channel, an empty channel, unusable files,
        mismatched columns between files, fewer or more than two classes in
        training, or validation/test labels that training does not have.
    """
    options = CsvOptions.from_config(dataset_cfg)
    for key, channel in (("validation_path", "validation"), ("test_path", "test")):
        if dataset_cfg.get(key):
            raise DataError(f"dataset.{key} cannot be set in a training job; give the job a '{channel}' channel instead")
    training_dir = training_directory(layout)
    if training_dir is None:
        found = channels_found(layout)
        pipes = sorted(p.name for p in layout.data.glob("training_*")) if layout.data.is_dir() else []
        hint = " (this program reads File mode channels; Pipe mode is not supported)" if pipes else ""
        given = f"the job has the channels {', '.join(repr(n) for n in found)}" if found else f"the job has no channels ({layout.data} is empty or missing)"
        raise DataError(
            f"no training channel: {given}{hint}; give the training job an input channel named 'training' (or 'train')"
        )
    channels = [Channel("training", training_dir, channel_files(training_dir))]
    channels += [Channel(name, layout.channel(name), channel_files(layout.channel(name))) for name in CHANNELS[1:] if layout.channel(name).is_dir()]
    for channel in channels:
        if not channel.files:
            raise DataError(f"the {channel.name} channel {channel.directory} holds no files; upload CSV files to its S3 prefix")
    groups = {SPLITS[c.name]: CsvGroup(c.files, _description(c)) for c in channels}
    dataset, rows = load_csv_splits(groups.pop("train"), **groups, split=split_cfg, seed=seed, options=options)
    for channel in channels:
        channel.rows = rows[SPLITS[channel.name]]
    return dataset, channels
