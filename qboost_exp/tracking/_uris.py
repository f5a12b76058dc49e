"""What a tracking URI is: a server, SageMaker's managed MLflow, or a local store (no imports: both the store and the fault handling ask)."""

from __future__ import annotations

import re

#: SageMaker's managed MLflow: a tracking server's or an MLflow app's ARN, used as the tracking URI
#: through AWS's sagemaker-mlflow plugin (which signs every request with AWS credentials).
_SAGEMAKER_ARN = re.compile(r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:(mlflow-tracking-server|mlflow-app)/[A-Za-z0-9-]+$")


def is_server(uri: str) -> bool:
    """Whether ``uri`` is a tracking server (http/https), which serves its own UI."""
    return uri.startswith(("http://", "https://"))


def is_sagemaker_arn(uri: str) -> bool:
    """Whether ``uri`` names a SageMaker managed MLflow tracking server or app (``arn:aws:sagemaker:...``)."""
    return bool(_SAGEMAKER_ARN.match(uri))


def is_remote_store(uri: str) -> bool:
    """Whether ``uri`` is reached over the network (a server or SageMaker's managed MLflow): retries are bounded for it."""
    return is_server(uri) or is_sagemaker_arn(uri)
