"""What ``python -m serving package`` wrote, and the summary it prints."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["PackageResult"]


@dataclass
class PackageResult:
    """What :func:`serving.package.package` wrote (paths inside the final ``out`` directory)."""

    out: Path
    model_uri: str
    run_id: str | None
    wheel: Path
    requirements: list[str]
    tarball: Path
    warnings: list[str] = field(default_factory=list)
    #: Wheels in ``out/wheelhouse`` (0 without ``--wheelhouse``).
    wheelhouse: int = 0
    #: The Dockerfile target the model needs: "serve" (it compiled) or "full".
    image_target: str = "full"
    #: Why the model does not compile (None when it does).
    not_compiled: str | None = None

    def summary(self) -> list[str]:
        """The lines ``python -m serving package`` prints."""
        size = self.tarball.stat().st_size
        run = f" (run {self.run_id})" if self.run_id else ""
        return [
            f"packaged {self.model_uri}{run} into {self.out}/",
            "  Dockerfile          docker/Dockerfile",
            f"  requirements.txt    {len(self.requirements)} pinned requirements (name==version, from this environment)",
            f"  wheels/{self.wheel.name}",
            "  wheelhouse/         " + (f"{self.wheelhouse} wheels: the image installs them offline (pip --no-index)" if self.wheelhouse else "empty: the image installs requirements.txt from the package index"),
            "  serving/            the serving package with the container programs (train, serve)",
            "  model/              the MLflow model (MLmodel at its root; /opt/ml/model in the image)"
            + (", and qboost-compiled.npz" if self.not_compiled is None else ""),
            f"  model.tar.gz        {size / 1024:.0f} KiB, the MLflow model files at its root (SageMaker's ModelDataUrl)",
            "  build-info.json     the model URI, run and versions this was built from",
            ("image: the lean `serve` target (the compiled model; no scikit-learn) for endpoints, and `full` for training jobs"
             if self.image_target == "serve" else
             f"image: the `full` target only (the model does not compile, so it is served from its pickle: {self.not_compiled})"),
            f"next: docker/build_and_push.sh IMAGE_NAME [REGION] {self.out}",
        ]
