"""The compiled model file that sits beside an MLflow model: ``MODEL_DIR/qboost-compiled.npz``.

``python -m serving package`` and the container's ``train`` write it next to
``MLmodel`` when the model compiles (:func:`qboost_exp.domain.compiled.compile_model`:
a QBoost model whose selected learners are decision trees), so it travels in
``model.tar.gz`` and SageMaker mounts it under ``/opt/ml/model`` with the
rest. ``serve`` predicts from it when it is there: it is read with
``numpy.load(allow_pickle=False)``, so nothing is unpickled and neither
scikit-learn nor MLflow is imported. That is what lets the lean ``serve``
image (no scikit-learn, scipy, pandas, MLflow or dwave) exist, and what makes
``/ping`` answer well under a second after the container starts.

The file format (keys, dtypes, version) is :meth:`qboost_exp.domain.compiled.CompiledModel.save`'s,
documented in :mod:`qboost_exp.domain.compiled`. A model that does not compile keeps
only its pickle; ``package`` says so and builds the full image.
"""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path
from typing import Any

#: The compiled model's file name inside an MLflow model directory.
COMPILED_FILE = "qboost-compiled.npz"


def compiled_path(model_dir: str | os.PathLike[str]) -> Path:
    """``model_dir/qboost-compiled.npz``."""
    return Path(model_dir) / COMPILED_FILE


def write_compiled(model: Any, model_dir: str | os.PathLike[str]) -> str | None:
    """Compile the fitted ``model`` into ``model_dir/qboost-compiled.npz``.

    Returns
    -------
    str or None
        None when written; else why the model does not compile (the
        :class:`qboost_exp.domain.compiled.NotCompilable` message), and no file is
        written (a stale one is removed: it would describe another model).
    """
    from qboost_exp.domain.compiled import NotCompilable, compile_model

    path = compiled_path(model_dir)
    try:
        compiled = compile_model(model)
    except NotCompilable as exc:
        path.unlink(missing_ok=True)
        return str(exc)
    # Written under a temporary name in the same directory, then renamed: a reader
    # never sees half a file. np.savez keeps a name that already ends in .npz.
    tmp = path.with_name(f".{COMPILED_FILE}.{uuid.uuid4().hex[:8]}.npz")
    try:
        compiled.save(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return None


def compile_model_dir(model_dir: str | os.PathLike[str]) -> str | None:
    """Unpickle the MLflow model at ``model_dir`` and write its compiled file (see :func:`write_compiled`).

    For ``package``, which has scikit-learn. ``sys.path`` is restored
    afterwards (loading puts the model's ``code`` directory first on it).
    A model that cannot be unpickled here does not compile: the reason says why.
    """
    from .loader import ModelLoadError, load_sklearn_model

    saved = list(sys.path)
    try:
        model = load_sklearn_model(model_dir)
    except ModelLoadError as exc:
        return str(exc)
    finally:
        sys.path[:] = saved
    return write_compiled(model, model_dir)


def load_compiled(model_dir: str | os.PathLike[str]) -> Any | None:
    """The :class:`qboost_exp.domain.compiled.CompiledModel` of ``model_dir``, or None if it has no compiled file.

    Raises
    ------
    qboost_exp.errors.DataError
        If the file is there but is not a compiled model of the version this code reads.
    """
    path = compiled_path(model_dir)
    if not path.is_file():
        return None
    from qboost_exp.domain.compiled import CompiledModel

    return CompiledModel.load(path)
