"""``package``: the build context for one MLflow model, composed from the steps of the modules beside this one."""

from __future__ import annotations

from pathlib import Path

from ..container.compiled_file import compile_model_dir
from .choose import ChosenModel, ModelRequest, choose_model, redacted
from .context import check_out, copy_sources, staging_directory, write_build_info, write_model_tarball, write_requirements
from .download import download_model, read_mlmodel, use_store
from .requirements import pinned_requirements
from .result import PackageResult
from .sources import checked_dockerfile, python_version_warnings
from .wheels import build_wheel, fill_wheelhouse, write_wheel_digests

__all__ = ["package"]


def package(out: Path, request: ModelRequest, *, force: bool = False, wheelhouse: bool = False) -> PackageResult:
    """Write the SageMaker build context and model.tar.gz for one MLflow model at ``out``.

    Parameters
    ----------
    out : Path
        The build context directory to create (replaced only with ``force``).
    request : ModelRequest
        Which model: a URI, or the best training run of an experiment.
    force : bool
        Replace a non-empty ``out``.
    wheelhouse : bool
        Also put a wheel of every pinned requirement into ``out/wheelhouse``
        (downloaded or built by pip here), so the image builds offline.

    Returns
    -------
    PackageResult
    """
    request.check_one_source()
    out = Path(out)
    check_out(out, force)
    request.check()
    store = request.store()
    dockerfile = checked_dockerfile()
    warnings = python_version_warnings(dockerfile)
    use_store(store)
    chosen = choose_model(request, store)
    with staging_directory(out) as context:
        return _build(context, out, chosen, store, dockerfile, wheelhouse, warnings)


def _build(context: Path, out: Path, chosen: ChosenModel, store: str | None, dockerfile: Path, wheelhouse: bool,
           warnings: list[str]) -> PackageResult:
    """Fill the build ``context``, which becomes ``out``; ``warnings`` so far are extended."""
    model_dir = download_model(chosen.uri, context / "model")
    mlmodel = read_mlmodel(model_dir)
    run_id = chosen.run_id or mlmodel.get("run_id")
    requirements, more = pinned_requirements(model_dir / "requirements.txt")
    warnings += more
    pins = write_requirements(context, requirements)
    wheel = build_wheel(context / "wheels")
    write_wheel_digests(context)
    fill_wheelhouse(pins, context / "wheelhouse", len(requirements), wanted=wheelhouse)
    copy_sources(context, dockerfile)
    not_compiled = compile_model_dir(model_dir)  # before the tarball: it carries the compiled file too
    if not_compiled is not None:
        warnings.append(f"the model does not compile ({not_compiled}): only the full image can serve it (from its pickle)")
    image_target = "serve" if not_compiled is None else "full"
    write_model_tarball(model_dir, context / "model.tar.gz")
    write_build_info(
        context,
        source={"model_uri": chosen.uri, "run_id": run_id, "model_id": mlmodel.get("model_id") or mlmodel.get("model_uuid"),
                "tracking_uri": redacted(store) if store is not None else None},
        built={"wheel": wheel.name, "requirements": len(requirements), "wheelhouse": wheelhouse, "image_target": image_target,
               "compiled": not_compiled is None, "warnings": warnings},
    )
    return PackageResult(
        out=out, model_uri=chosen.uri, run_id=run_id, wheel=out / "wheels" / wheel.name, requirements=requirements,
        tarball=out / "model.tar.gz", warnings=warnings, wheelhouse=len(list((context / "wheelhouse").glob("*.whl"))),
        image_target=image_target, not_compiled=not_compiled,
    )
