"""SageMaker hyperparameters to the Hydra overrides the ``python -m qboost_exp`` CLI takes.

SageMaker writes a training job's hyperparameters to
``/opt/ml/input/config/hyperparameters.json`` as one JSON object whose values
are all strings. Each ``key: value`` becomes the override ``key=value``::

    {"sampler": "qpu", "lambda": "0.1", "sampler.params.num_reads": "50"}
    -> ["sampler=qpu", "lambda=0.1", "sampler.params.num_reads=50"]

so the value is read by Hydra's override grammar exactly as on the command
line (``"0.1"`` is a number, ``"auto"`` a string, ``"[1,7]"`` a list; a key
may start with ``+`` or ``~``). Besides:

* keys starting with ``sagemaker_`` or ``_`` are SageMaker's own (e.g.
  ``sagemaker_program``, ``_tuning_objective_metric``) and are ignored, with a note;
* the data set is fixed to the input channels (``dataset=csv``): ``dataset``
  and ``dataset.*`` cannot be set, except the CSV format keys
  ``dataset.label``, ``dataset.header`` and ``dataset.delimiter``; ``hydra.*``
  keys have no effect in this program and are refused;
* a D-Wave token given as ``dwave_api_token`` (or ``sampler.init.token``) is
  taken out: it becomes the environment variable ``DWAVE_API_TOKEN`` and is
  never part of the overrides (nor, therefore, of MLflow's params), with a
  warning -- hyperparameters are shown to anyone who may describe the
  training job (SageMaker console, ``DescribeTrainingJob``); name a Secrets
  Manager secret instead (``DWAVE_API_TOKEN_SECRET``, ``train-job --dwave-token-secret``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from qboost_exp.errors import ConfigError

RESERVED_PREFIXES = ("sagemaker_", "_")
# Hyperparameter name -> the environment variable its value moves to.
SECRETS = {"dwave_api_token": "DWAVE_API_TOKEN", "sampler.init.token": "DWAVE_API_TOKEN"}
CSV_FORMAT_KEYS = ("dataset.label", "dataset.header", "dataset.delimiter")


@dataclass
class Hyperparameters:
    """The hyperparameters sorted by what becomes of them.

    Attributes
    ----------
    overrides : list of str
        Hydra overrides, in the file's order.
    environment : dict of str to str
        Environment variables to set (secrets moved out of the overrides).
    notes : list of str
        Lines to print: ignored keys, warnings.
    """

    overrides: list[str] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def read_hyperparameters(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; an empty one if the file does not exist (a local run).

    Raises
    ------
    ConfigError
        If the file is not a JSON object.
    """
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read as JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must hold a JSON object {{name: value}}, not a {type(data).__name__}")
    return data


def _as_text(value: Any) -> str:
    """SageMaker sends strings; other JSON values (from local files) are written as Hydra reads them."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(value)


def to_overrides(hyperparameters: Mapping[str, Any]) -> Hyperparameters:
    """Sort hyperparameters into Hydra overrides, environment variables and notes.

    Raises
    ------
    ConfigError
        For an empty or malformed key, a ``dataset``/``hydra`` key, or an empty secret.
    """
    out = Hyperparameters()
    for raw_key, raw_value in hyperparameters.items():
        key = str(raw_key).strip()
        name = key.lstrip("+~")
        if not name or any(ch in key for ch in "= \t\n"):
            raise ConfigError(f"hyperparameter name {raw_key!r} is not a config key (like lambda or sampler.params.num_reads)")
        if key.startswith(RESERVED_PREFIXES):
            out.notes.append(f"ignoring SageMaker's hyperparameter {key} (names starting with sagemaker_ or _ are SageMaker's own)")
            continue
        if name.lower() in SECRETS:
            variable = SECRETS[name.lower()]
            secret = _as_text(raw_value).strip()
            if not secret:
                raise ConfigError(f"hyperparameter {key} is empty; give the D-Wave token or leave it out")
            out.environment[variable] = secret
            out.notes.append(
                f"warning: hyperparameter {key} holds a D-Wave token; hyperparameters are visible to anyone who can describe "
                f"this training job (SageMaker console, DescribeTrainingJob). It was moved to the environment variable {variable} "
                f"and is not printed or logged; keep it in Secrets Manager instead (train-job --dwave-token-secret NAME)."
            )
            continue
        if name == "dataset" or (name.startswith("dataset.") and name not in CSV_FORMAT_KEYS):
            raise ConfigError(
                f"hyperparameter {key}: the data comes from the input channels (training, optional validation and test), "
                f"so the dataset cannot be chosen; only {', '.join(CSV_FORMAT_KEYS)} can be set"
            )
        if name == "hydra" or name.startswith("hydra."):
            raise ConfigError(f"hyperparameter {key}: Hydra's own settings have no effect in the SageMaker train program")
        out.overrides.append(f"{key}={_as_text(raw_value)}")
    return out
