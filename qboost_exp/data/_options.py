""":class:`CsvOptions`: the layout of a labelled CSV file, and its defaults (written only here).

The ``dataset=csv`` config (conf/dataset/csv.yaml, which tests/test_data.py
checks against these defaults), :func:`~qboost_exp.data.load_csv`,
:func:`~qboost_exp.data.load_csv_splits` and the SageMaker training channels
all take their defaults from this class.
"""

from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping, Union

from ..errors import DataError

Label = Union[int, str]


@dataclass(frozen=True)
class CsvOptions:
    """Where the label is and how fields are separated in a labelled CSV file.

    The defaults are SageMaker's layout, which :func:`write_sagemaker_csv`
    writes: the label in the first column, no header (detected), commas.

    Parameters
    ----------
    label : int or str, default 0
        The label column: a 0-based index (negative counts from the end, so
        -1 is the last column) or a column name, which requires a header.
    header : bool or "auto", default "auto"
        Whether the first row holds column names. ``"auto"``: the first row
        is a header if and only if at least one of its cells outside the
        label column does not look like a number. A label given by name
        forces ``header=True``.
    delimiter : str, default ","
        One character separating the fields (not a quote or a line break).

    Raises
    ------
    DataError
        If a value is of the wrong type or out of its range; the message
        names the key and the accepted values.
    """

    label: Label = 0
    header: Union[bool, str] = "auto"
    delimiter: str = ","

    def __post_init__(self) -> None:
        label, header, delimiter = self.label, self.header, self.delimiter
        # bool is an int subclass; `label: true` is a typo, not column 1.
        if isinstance(label, bool) or not isinstance(label, (numbers.Integral, str)):
            raise DataError(f"label must be a column index (int) or a column name (str), got {label!r}")
        if isinstance(label, numbers.Integral):
            object.__setattr__(self, "label", int(label))  # numpy integers print and compare as plain ints
        # Identity checks: 1 == True, but `header: 1` is not a documented value.
        if not (header is True or header is False or header == "auto"):
            raise DataError(f"header must be true, false or auto, got {header!r}")
        if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in "\r\n\"":
            raise DataError(f"delimiter must be one character (not a quote or line break), got {delimiter!r}")

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The option names, which are also the ``dataset`` config keys they are read from."""
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "CsvOptions":
        """The options among the keys of a ``dataset`` config node; absent keys take the defaults.

        Parameters
        ----------
        config : mapping
            E.g. the composed ``dataset=csv`` node; keys other than
            :meth:`keys` are ignored.

        Returns
        -------
        CsvOptions

        Raises
        ------
        DataError
            For an invalid value.
        """
        return cls(**{key: config[key] for key in cls.keys() if key in config})

    def as_dict(self) -> dict[str, Any]:
        """``{"label": ..., "header": ..., "delimiter": ...}``."""
        return asdict(self)


#: The default options (SageMaker's layout).
DEFAULT_OPTIONS = CsvOptions()
