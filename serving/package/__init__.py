"""``python -m serving package``: a Docker build context and model.tar.gz for SageMaker.

From an MLflow model URI (``runs:/ID/model``, ``models:/NAME/VERSION``,
``models:/NAME@ALIAS``) or the best finished training run of an experiment,
this writes, at ``--out``::

    Dockerfile          docker/Dockerfile, unchanged
    .dockerignore       docker/.dockerignore (keeps model.tar.gz out of the image)
    requirements.txt    NAME==VERSION for every dependency train and serve need, as installed here
    wheels/             qboost_exp-*.whl built from this source tree (pip wheel --no-deps)
    wheelhouse/         with ``--wheelhouse``: a wheel for every line of requirements.txt,
                        so the image installs offline (``pip install --no-index``); else empty
    serving/            this package, with the container programs (serving/container)
    model/              the MLflow model, MLmodel at its root (COPY'd to /opt/ml/model), and
                        qboost-compiled.npz beside it when the model compiles
                        (serving.container.compiled_file: the lean `serve` image predicts from it)
    model.tar.gz        the same files at the archive root: SageMaker's ModelDataUrl
    build-info.json     where it all came from

The pins are the closure of qboost-exp's requirements (and Flask and gunicorn,
which the container's web server needs) over the distributions installed in
this environment -- the set this code was tested with -- so the image
installs exactly that at build time and nothing at container start. The
optional extras (launchers, sweepers, the SageMaker SDK) are not part of it, and full
MLflow is replaced by ``mlflow-skinny``: the container loads and saves models
but runs no tracking server or UI, so MLflow's server stack stays out. The
directory appears whole or not at all: it is built next to ``--out`` and
renamed into place.

The steps, one module each: :mod:`.sources` (where the files come from),
:mod:`.choose` (which model), :mod:`.download`, :mod:`.requirements` (the
pins), :mod:`.wheels`, :mod:`.context` (writing ``--out``); :mod:`.compose`
runs them in order and :mod:`.result` reports what was written.
"""

from .choose import ModelRequest
from .compose import package
from .context import write_model_tarball
from .download import download_model
from .requirements import pinned_requirements
from .result import PackageResult

__all__ = [
    "ModelRequest",
    "PackageResult",
    "package",
    "download_model",
    "pinned_requirements",
    "write_model_tarball",
]
