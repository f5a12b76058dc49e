"""The data layer: built-in and CSV data sets, split train/validation/test.

:func:`load_dataset` turns the ``dataset`` and ``split`` config nodes into a
:class:`Dataset`; :func:`load_csv` reads one labelled CSV file;
:func:`load_csv_splits` turns groups of labelled CSV files (:class:`CsvGroup`:
train, and optionally validation and test) into a :class:`Dataset`, cutting
the splits no group provides (the SageMaker ``train`` program's channels);
:class:`CsvOptions` is the layout of those files (label column, header,
delimiter) and holds its defaults; :func:`write_sagemaker_csv` writes a split
in SageMaker's layout (label first, no header). ``python -m qboost_exp.data
NAME --out DIR`` writes the splits of a configured data set to files.

:mod:`qboost_exp.data.cells` is the grammar of a numeric CSV cell, shared
with the serving container. The names below are loaded on first use (module
``__getattr__``), so that ``import qboost_exp.data.cells`` needs numpy only,
not scikit-learn (the built-in data sets) or PyYAML.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

# public name -> the module that defines it
_EXPORTS = {
    "Dataset": "._dataset",
    "load_dataset": "._load",
    "load_csv": "._csv",
    "load_csv_splits": "._assemble",
    "CsvGroup": "._assemble",
    "CsvOptions": "._options",
    "write_sagemaker_csv": "._write",
}

__all__ = list(_EXPORTS)

if TYPE_CHECKING:  # for type checkers and IDEs; at run time __getattr__ loads them
    from ._assemble import CsvGroup, load_csv_splits
    from ._csv import load_csv
    from ._dataset import Dataset
    from ._load import load_dataset
    from ._options import CsvOptions
    from ._write import write_sagemaker_csv


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
