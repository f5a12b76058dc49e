"""The data layer: built-in and CSV data sets, split train/validation/test.

:func:`load_dataset` turns the ``dataset`` and ``split`` config nodes into a
:class:`Dataset`; :func:`load_csv` reads one labelled CSV file;
:func:`load_csv_splits` turns groups of labelled CSV files (:class:`CsvGroup`:
train, and optionally validation and test) into a :class:`Dataset`, cutting
the splits no group provides (the SageMaker ``train`` program's channels);
:func:`write_sagemaker_csv` writes a split in SageMaker's layout (label
first, no header). ``python -m qboost_exp.data NAME --out DIR`` writes the
splits of a configured data set to files.
"""

from ._assemble import CsvGroup, load_csv_splits
from ._csv import load_csv
from ._dataset import Dataset
from ._load import load_dataset
from ._write import write_sagemaker_csv

__all__ = ["Dataset", "load_dataset", "load_csv", "load_csv_splits", "CsvGroup", "write_sagemaker_csv"]
