"""Fetch the chosen MLflow model from its store into the build context, and read its MLmodel file."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from .._errors import ServingError
from ..container.messages import one_line

__all__ = ["use_store", "download_model", "read_mlmodel"]


def use_store(store: str | None) -> None:
    """Point MLflow at ``store`` (None: a local model directory, no store) for the download."""
    # Quiet MLflow's per-file download progress bar; the summary says what was fetched.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow

    if store is not None:
        mlflow.set_tracking_uri(store)


def download_model(uri: str, dest: Path) -> Path:
    """Download the MLflow model at ``uri`` into the new directory ``dest``; check MLmodel is at its root."""
    import mlflow

    scratch = dest.parent / f".download-{uuid.uuid4().hex[:8]}"
    scratch.mkdir()
    try:
        try:
            path = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(scratch)))
        except Exception as exc:  # noqa: BLE001 - MLflow raises several types for a bad URI
            # The first line only: a store's further lines are a server's response body or a traceback.
            raise ServingError(f"cannot download the model {uri}: {one_line(exc, first_line=True)}") from None
        if not (path / "MLmodel").is_file():
            raise ServingError(f"{uri} is not an MLflow model: no MLmodel file at its root")
        shutil.move(str(path), str(dest))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return dest


def read_mlmodel(model_dir: Path) -> dict[str, Any]:
    """The model's MLmodel file as a dict (empty if unreadable: it only feeds build-info.json)."""
    import yaml

    try:
        return yaml.safe_load((model_dir / "MLmodel").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return {}
