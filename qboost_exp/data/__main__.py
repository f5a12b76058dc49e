"""``python -m qboost_exp.data NAME --out DIR``: write a data set's splits as CSV; ``--list``: the data sets.

The files (train.csv, validation.csv when validation_size > 0, test.csv) are
in SageMaker's layout: the label in the first column, no header, numbers
with full precision. Defaults come from conf/dataset/NAME.yaml and
conf/split/default.yaml; ``--set key=value`` overrides a dataset key.

``python -m qboost_exp.data --list`` prints each data set's name and its
one-line description (the first line of conf/dataset/NAME.yaml).

Examples
--------
python -m qboost_exp.data --list
python -m qboost_exp.data wisc --out data/wisc
python -m qboost_exp.data digits --out data/d17 --set classes=[1,7] --seed 3
python -m qboost_exp.data csv --out data/mine --set path=raw.csv --set label=-1
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Sequence

import yaml

from ..cli_args import OneLineErrorParser
from ..errors import DataError
from ._conf import dataset_names, descriptions, read_group
from ._load import load_dataset
from ._write import write_files


def _parse_set(item: str) -> tuple[str, Any]:
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise DataError(f"--set expects key=value, got {item!r}")
    try:
        return key.strip(), yaml.safe_load(value)
    except yaml.YAMLError as exc:
        raise DataError(f"--set {item}: the value is not valid YAML: {exc}") from None


def _parser() -> argparse.ArgumentParser:
    p = OneLineErrorParser(
        prog="python -m qboost_exp.data",
        description="Write the train/validation/test splits of a data set as label-first CSV files without header.",
    )
    p.add_argument("name", nargs="?", help=f"the data set: one of {', '.join(dataset_names())} (conf/dataset/NAME.yaml)")
    p.add_argument("--list", action="store_true", help="print each data set with its one-line description, and exit")
    p.add_argument("--out", type=Path, help="output directory (created if needed; required with NAME)")
    p.add_argument("--seed", type=int, default=0, help="seed of the stratified split (default 0)")
    p.add_argument("--test-size", type=float, help="fraction of the data for test.csv (default from conf/split/default.yaml)")
    p.add_argument(
        "--validation-size", type=float, help="fraction of the data for validation.csv; 0 = none (default from conf/split/default.yaml)"
    )
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a dataset key; VALUE is YAML, e.g. classes=[1,7] (repeatable)"
    )
    return p


def run(argv: Sequence[str] | None = None) -> list[tuple[Path, int, int]]:
    """Parse ``argv``, load the data set and write its splits.

    Returns
    -------
    list of (path, rows, columns)
        One entry per file written; columns count the label column.

    Raises
    ------
    DataError
        For a bad option, value or data file; nothing is written then.
    SystemExit
        For arguments argparse rejects (status 2).
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if args.name is None:
        parser.error("the following arguments are required: name (or --list)")
    if args.out is None:
        parser.error("the following arguments are required: --out")
    if args.name not in dataset_names():
        raise DataError(f"unknown dataset {args.name!r}; choose one of: {', '.join(dataset_names())}")
    dataset = read_group("dataset", args.name)
    for item in args.set:
        key, value = _parse_set(item)
        if key not in dataset or key == "name":
            keys = ", ".join(k for k in dataset if k != "name") or "(none)"
            raise DataError(f"--set {key}: dataset {args.name} has no such key; its keys are: {keys}")
        dataset[key] = value
    split = read_group("split", "default")
    if args.test_size is not None:
        split["test_size"] = args.test_size
    if args.validation_size is not None:
        split["validation_size"] = args.validation_size

    data = load_dataset(dataset, split, args.seed)

    files = [("train.csv", data.X_train, data.y_train)]
    if len(data.y_val):
        files.append(("validation.csv", data.X_val, data.y_val))
    if len(data.y_test):
        files.append(("test.csv", data.X_test, data.y_test))

    out: Path = args.out
    if out.exists() and not out.is_dir():
        raise DataError(f"--out {out}: exists and is not a directory")
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        write_files([(out / fname, X, y) for fname, X, y in files])
    except BaseException:
        if created and not any(out.iterdir()):
            out.rmdir()  # leave nothing behind, not even the empty directory
        raise
    return [(out / fname, len(y), X.shape[1] + 1) for fname, X, y in files]


def listing() -> list[str]:
    """One line per data set: its name and its one-line description."""
    found = descriptions()
    width = max(map(len, found))
    return [f"{name:<{width}}  {text}" for name, text in found.items()]


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (0, or 2 on error)."""
    if _parser().parse_args(argv).list:
        try:
            print("\n".join(listing()))
        except DataError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return 0
    try:
        written = run(argv)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path, rows, cols in written:
        print(f"{path}: {rows} rows, {cols} columns (label first, no header)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
