"""``train``: the SageMaker training program -- hyperparameters and channels in, an MLflow model out.

SageMaker runs the image as ``train``; with the ``/opt/ml`` layout of
:mod:`.paths` this program

1. reads ``input/config/hyperparameters.json`` and turns it into Hydra
   overrides (:mod:`.hyperparameters`; a D-Wave token given there moves to
   the environment and is never printed or logged), and reads the D-Wave
   token from the Secrets Manager secret ``DWAVE_API_TOKEN_SECRET`` names
   (:mod:`.token_secret`), hidden from every line as well;
2. composes the experiment config from qboost-exp's ``conf/`` with Hydra's
   compose API, exactly as ``python -m qboost_exp OVERRIDES`` would, with
   ``dataset=csv`` pointing at the training channel;
3. builds the sampler first (a missing or wrong D-Wave token stops the job
   before any data is read), reads the channels (:mod:`.channels`), trains
   and scores the model as the CLI does, and prints the CLI's report;
4. writes the model to ``model/`` with ``qboost_exp.tracking.save_model``
   (sklearn flavour, loadable with ``mlflow.pyfunc.load_model``), and, when
   ``MLFLOW_TRACKING_URI`` is set (and ``mlflow.enabled`` is true), also logs
   the run, its metrics and the model to that tracking server.

On failure it writes the reason to ``output/failure`` (SageMaker shows it as
the job's ``FailureReason``; at most 1024 characters): the one-line message
for a user error (bad hyperparameter, bad data, no D-Wave access), the
exception type and message for a bug (whose traceback goes to stderr), and
exits non-zero: 1 for a user error or a stop (SIGTERM), 255 for a bug.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any, Sequence

from . import redaction, token_secret
from .messages import one_line
from .paths import OptMl

FAILURE_LIMIT = 1024


class Stopped(Exception):
    """SageMaker stopped the job (SIGTERM)."""


def _say(message: str) -> None:
    print(f"train: {message}", flush=True)


def _hydra_message(message: str) -> str:
    """A Hydra error as one line (SageMaker shows the failure reason on one).

    Hydra lists choices as tab-indented lines under a heading ("Available
    options in 'sampler':", then one option a line): those become a
    comma-separated list after the heading, the other lines are joined with
    "; ", and the search path Hydra appends is dropped (it names this
    image's directories, which the user cannot change).
    """
    message = message.split("\nConfig search path")[0]
    message = re.sub(r":\s*\n\t", ": ", message)
    message = re.sub(r"\n\t", ", ", message)
    return one_line(message, joiner="; ")


def _hydra_quote(value: str) -> str:
    """A string as a quoted Hydra override value (paths may hold spaces, '=' or brackets)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def compose_config(overrides: list[str]) -> Any:
    """The experiment config, composed from qboost-exp's conf/ as the CLI composes it.

    Raises
    ------
    ConfigError
        With Hydra's message on one line, for an unknown option or key or bad override syntax.
    """
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from qboost_exp.config import compose
    from qboost_exp.errors import ConfigError

    try:
        return compose(overrides)
    except (HydraException, OmegaConfBaseException) as exc:
        unknown = re.search(r"Could not override '([^']+)'", str(exc))
        if unknown:
            # Hydra's hint (`+key=...` appends a key) is wrong for a SageMaker user, who
            # mistyped or shortened a setting: name the settings that exist.
            raise ConfigError(f"hyperparameters: {unknown_key_message(unknown.group(1), compose())}") from None
        raise ConfigError(f"hyperparameters: {_hydra_message(str(exc))}") from None


def unknown_key_message(key: str, cfg: Any) -> str:
    """Which settings exist, for a hyperparameter ``key`` the config does not have."""
    from omegaconf import OmegaConf

    leaves: list[str] = []

    def walk(node: Any, prefix: str) -> None:
        for name, value in node.items():
            path = f"{prefix}{name}"
            if isinstance(value, dict) and value:
                walk(value, f"{path}.")
            else:
                leaves.append(path)

    walk(OmegaConf.to_container(cfg, resolve=False), "")
    last = key.rsplit(".", 1)[-1]
    close = [path for path in leaves if path.rsplit(".", 1)[-1] == last and path != key]
    hint = f"did you mean {' or '.join(close[:3])}? " if close else ""
    top = sorted({path.split(".")[0] for path in leaves})
    return f"there is no setting {key!r}; {hint}settings are config paths such as {', '.join(top)} (and their dotted sub-keys, e.g. sampler.params.num_reads)"


def save_into(result: Any, cfg: dict[str, Any], model_dir: Path) -> str | None:
    """Write the MLflow model, and its compiled file when it compiles, into ``model_dir``.

    SageMaker creates ``model_dir`` (empty) beforehand and may mount it as a
    file system of its own, so nothing may be renamed into it from outside
    (``os.replace`` across mounts fails with EXDEV). ``save_model`` refuses an
    existing non-empty directory, so the model is written to a hidden
    staging directory *inside* ``model_dir`` and its files are renamed up one
    level, within the one file system. Anything already in ``model_dir`` (a
    previous local run) is replaced.

    Returns
    -------
    str or None
        None when the compiled file (:mod:`.compiled_file`) was written beside
        the model; else why the model does not compile (it is then served
        from its pickle, by the full image only).
    """
    from qboost_exp.tracking import save_model

    from .compiled_file import write_compiled

    model_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=model_dir))
    try:
        save_model(result, cfg, staging / "model")
        for old in list(model_dir.iterdir()):
            if old == staging:
                continue
            shutil.rmtree(old) if old.is_dir() and not old.is_symlink() else old.unlink()
        for item in (staging / "model").iterdir():
            os.replace(item, model_dir / item.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return write_compiled(result.model, model_dir)


def _channel_data(cfg: Any, layout: OptMl) -> Any:
    """The data source of the job: a function reading the channels into train/validation/test splits."""
    from qboost_exp.experiment import to_plain

    from .channels import load_channels

    def load() -> Any:
        data, channels = load_channels(layout, to_plain(cfg["dataset"], "dataset"), to_plain(cfg["split"], "split"), int(cfg.get("seed", 0)))
        for channel in channels:
            _say(f"channel {channel.describe()}")
        _say(f"fitting: {len(data.y_train)} train / {len(data.y_val)} validation / {len(data.y_test)} test rows, {data.X_train.shape[1]} features")
        return data

    return load


class LeanImage(Exception):
    """``train`` ran in the lean serving image, which cannot train."""


def check_can_train() -> None:
    """Raise :class:`LeanImage` where scikit-learn or Hydra is missing (the lean ``serve`` image)."""
    import importlib.util

    missing = [name for name in ("sklearn", "hydra", "dimod", "mlflow") if importlib.util.find_spec(name) is None]
    if missing:
        raise LeanImage(
            f"this image cannot train (it has no {', '.join(missing)}): it is the lean serving image; "
            "run training jobs on the full image (tag `full`: python -m serving train-job --image-uri REPO:full)"
        )


def _load_dwave_token(redactor: redaction.Redactor) -> None:
    """The D-Wave token: read from the Secrets Manager secret the job names, and hidden wherever it came from."""
    given = os.environ.get(token_secret.TOKEN_VARIABLE, "")
    redactor.add(given)  # the environment's (or a hyperparameter's) token, also when the secret's replaces it
    secret = os.environ.get(token_secret.SECRET_VARIABLE)
    if not secret:
        return
    if token_secret.looks_like_a_token(secret):
        redactor.add(secret.strip())  # a token given where the name belongs: hidden before anything prints it
    token = token_secret.read(secret)
    redactor.add(token)
    os.environ[token_secret.TOKEN_VARIABLE] = token
    _say(f"D-Wave token read from the Secrets Manager secret {secret}")
    if given and given != token:
        print(f"train: warning: {token_secret.TOKEN_VARIABLE} was set too; the secret's token replaces it", file=sys.stderr, flush=True)


def run(layout: OptMl, redactor: redaction.Redactor) -> None:
    """The training job; raises on failure."""
    check_can_train()
    from qboost_exp.config import read
    from qboost_exp.experiment import build_sampler, run_tracked, to_plain
    from qboost_exp.report import format_report

    from .hyperparameters import read_hyperparameters, to_overrides

    hyperparameters = read_hyperparameters(layout.hyperparameters)
    parsed = to_overrides(hyperparameters)
    for variable, secret in parsed.environment.items():
        redactor.add(secret)
        os.environ[variable] = secret
    _load_dwave_token(redactor)
    for note in parsed.notes:
        print(f"train: {note}", file=sys.stderr if note.startswith("warning") else sys.stdout, flush=True)
    _say(f"hyperparameters: {' '.join(parsed.overrides) or '(none: the defaults)'}")
    from .channels import training_directory

    training = training_directory(layout) or layout.channel("training")  # none: load_channels says which channels there are
    forced = ["dataset=csv", f"dataset.path={_hydra_quote(str(training))}"]
    if not os.environ.get("MLFLOW_TRACKING_URI"):
        forced.append("mlflow.enabled=false")  # a training job logs to MLflow only when given a server
    cfg = compose_config(parsed.overrides + forced)

    # Before any data is read and outside any MLflow run: a missing or wrong
    # token fails here, and the cloud client's errors never reach MLflow.
    spec = read(cfg)  # every usage error, before any work
    sampler = None  # a baseline has none
    if spec.sampler is not None:
        _say(f"sampler {spec.sampler.name}")
        sampler = build_sampler(spec.sampler)

    # The CLI's own run function: tracked in MLflow when enabled, the channels as the data.
    result, lines = run_tracked(cfg, _channel_data(cfg, layout), sampler=sampler, base_dir=os.getcwd(), overrides=parsed.overrides)
    not_compiled = save_into(result, to_plain(cfg, "the config"), layout.model)
    print(format_report(cfg, result), flush=True)
    for line in lines:
        print(f"  {line}", flush=True)
    _say(f"model saved to {layout.model}")
    if not_compiled:
        _say(f"the model does not compile ({not_compiled}): no compiled file; serve it with the full image")
    else:
        _say("compiled file written beside it: the lean serve image can serve it")


def write_failure(layout: OptMl, reason: str, redactor: redaction.Redactor) -> None:
    """``output/failure``: the first 1024 characters of the (scrubbed) reason."""
    try:
        layout.failure.parent.mkdir(parents=True, exist_ok=True)
        layout.failure.write_text(redactor.scrub(reason)[:FAILURE_LIMIT], encoding="utf-8")
    except OSError as exc:
        print(f"train: could not write {layout.failure}: {exc}", file=sys.stderr, flush=True)


def _on_sigterm(signum: int, _frame: Any) -> None:
    raise Stopped("the training job was stopped (SIGTERM) before it finished")


def _user_error(exc: BaseException) -> bool:
    try:
        from qboost_exp.errors import QBoostError
    except Exception:  # pragma: no cover - a broken installation is a bug
        return False
    return isinstance(exc, QBoostError)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the training job. Returns the exit code (0, 1 for a user error or a stop, 255 for a bug)."""
    parser = argparse.ArgumentParser(prog="train", description="The SageMaker training program of qboost-exp.")
    parser.add_argument("--opt-ml", help="the directory standing for /opt/ml (default: $SM_OPT_ML_ROOT, else /opt/ml)")
    args = parser.parse_args(argv)
    layout = OptMl.resolve(args.opt_ml)
    streams = sys.stdout, sys.stderr
    # First of all, so that every later write (libraries' log handlers included) is scrubbed.
    redactor = redaction.install()
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        layout.failure.unlink(missing_ok=True)  # a stale reason from an earlier local run
        _say(f"SageMaker layout at {layout.root}")
        try:
            run(layout, redactor)
            return 0
        except (Stopped, KeyboardInterrupt, LeanImage, token_secret.TokenSecretError) as exc:
            reason, code = str(exc) or "interrupted", 1
        except Exception as exc:
            if _user_error(exc):
                reason, code = one_line(exc), 1
            else:
                traceback.print_exc()
                reason, code = one_line(exc, with_type=True), 255
        print(f"error: {reason}", file=sys.stderr, flush=True)
        write_failure(layout, reason, redactor)
        return code
    finally:
        signal.signal(signal.SIGTERM, previous)
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdout, sys.stderr = streams


if __name__ == "__main__":
    sys.exit(main())
