"""podman for the image tests: the engine, a locally built Debian base, the SageMaker image.

Session-scoped pytest fixtures (imported into conftest.py), each built once per
test session and shared by every test that needs it:

* ``podman``           -> :class:`Podman`: podman, runc and mmdebstrap (installed with
  apt-get when missing and root), configured by a containers.conf of the test's
  own (runc, ulimits root can grant here, chroot build isolation);
* ``base_image``       -> the tag of a Debian base with python3 and pip, made with
  mmdebstrap from the mirror apt already uses (no registry can be reached), with
  this machine's CA certificates. It is kept in podman's image store under a tag
  derived from its recipe, so later sessions on the same machine reuse it;
* ``sagemaker_context`` -> :class:`Context`: ``python -m serving package --wheelhouse``
  of a model directory trained for it (packaging from a tracking store is
  tests/serving/test_serving_package.py's subject);
* ``sagemaker_image``  -> :class:`Image`: the context built with
  ``podman build --build-arg BASE_IMAGE=... --target full``, installing offline from the wheelhouse
  (the full image: trains and serves any model);
* ``lean_image``       -> :class:`Image`: the same context, ``--target serve`` (the lean
  serving image: numpy, Flask, gunicorn, nginx and the compiled model), built after the
  full one so that it reuses the shared ``runtime`` stage's layers;
* ``serving_image``    -> either of the two (parametrized ``full`` / ``serve``): the tests
  of the serving protocol run against both.

Progress goes straight to the terminal (pytest's capturing suspended for each
line), so a first build is never minutes of silence. Without root or
apt-get the fixtures skip with the reason; with QBOOST_REQUIRE_SERVICES=1 that
is a failure.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import system_packages
from clirun import QUICK, REPO, run_module
from services import STARTUP_TIMES, apt_install, skip_or_fail

ENGINE_PACKAGES = system_packages.PACKAGES["podman"]
#: What the base holds: what python:3.11-slim gives a Dockerfile (python, pip, CA roots).
BASE_PACKAGES = ("python3", "python3-pip", "python3-venv", "python-is-python3", "ca-certificates")
#: Root here cannot raise its hard limits: ask for no more than it may grant.
ULIMITS = ("nofile=20000:20000", "nproc=32768:32768")
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
IMAGE_TAG = "localhost/qboost-sagemaker-test:session"
LEAN_TAG = "localhost/qboost-sagemaker-test:session-serve"
FAST = ("sampler.params.num_reads=10", *QUICK)

#: Seconds each step took in this session (reported in the terminal summary).
DURATIONS: dict[str, float] = {}


#: The session's config: :func:`progress` needs its capture manager.
_CONFIG: list[pytest.Config] = []


def progress(message: str) -> None:
    """One line to the terminal, with pytest's capturing suspended while it is written."""
    capture = _CONFIG[0].pluginmanager.getplugin("capturemanager") if _CONFIG else None
    if capture is None:
        print(f"[podman] {message}", file=sys.stderr, flush=True)
        return
    with capture.global_and_fixture_disabled():
        sys.stderr.write(f"\n[podman] {message}")
        sys.stderr.flush()


def _timed(name: str, start: float) -> float:
    seconds = time.monotonic() - start
    DURATIONS[name] = STARTUP_TIMES[f"podman {name}"] = seconds
    progress(f"{name}: {seconds:.1f} s")
    return seconds


def _streamed(cmd: list[str], *, env: dict[str, str], timeout: float, label: str, cwd: Path | None = None) -> str:
    """Run ``cmd``, echoing the lines that say where it is (``STEP``, ``I:``) to the terminal; its whole output."""
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if re.match(r"^(STEP \d+/\d+|I: |Successfully|COMMIT)", line):
            progress(f"{label}: {line.rstrip()[:160]}")
        if time.monotonic() > deadline:
            proc.kill()
            break
    code = proc.wait()
    output = "".join(lines)
    if code != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited with {code}:\n{output[-4000:]}")
    return output


# ------------------------------------------------------------------------- engine


@dataclass
class Podman:
    """podman with a configuration of the test session's own (never the machine-wide one)."""

    conf: Path
    env: dict[str, str]

    def __call__(self, *args: str, timeout: float = 120, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
        result = subprocess.run(["podman", *args], env=self.env, capture_output=True, text=True, timeout=timeout,
                                stdin=subprocess.DEVNULL, **kwargs)
        if check and result.returncode != 0:
            raise RuntimeError(f"podman {' '.join(args)} exited with {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result

    def image_exists(self, tag: str) -> bool:
        return self("image", "exists", tag, check=False).returncode == 0


def _apt_install(packages: tuple[str, ...]) -> None:
    apt_install(packages, progress)


def containers_conf(path: Path) -> Path:
    """A containers.conf for this sandbox: runc (crun cannot run in hybrid cgroups), grantable ulimits."""
    ulimits = ", ".join(json.dumps(u) for u in ULIMITS)
    path.write_text(f'[containers]\ndefault_ulimits = [{ulimits}]\n\n[engine]\nruntime = "runc"\n')
    return path


@pytest.fixture(scope="session")
def podman(pytestconfig, tmp_path_factory) -> Podman:
    """podman, runc and mmdebstrap, installed if missing (as root), checked by running a container."""
    _CONFIG[:] = [pytestconfig]
    start = time.monotonic()
    missing = [p for p, tool in zip(ENGINE_PACKAGES, ("podman", "runc", "mmdebstrap")) if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists()]
    if missing:
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            skip_or_fail(f"{', '.join(missing)} not installed and not root with apt-get: apt-get install -y {' '.join(ENGINE_PACKAGES)}")
        _apt_install(ENGINE_PACKAGES)
    if os.geteuid() != 0:
        skip_or_fail("the image tests need root (rootful podman with runc and chroot build isolation)")
    conf = containers_conf(tmp_path_factory.mktemp("podman") / "containers.conf")
    # BUILDAH_ISOLATION: builds run RUN steps in a chroot (no runtime needed), also
    # when build_and_push.sh calls `podman build` without flags.
    env = {**os.environ, "CONTAINERS_CONF": str(conf), "BUILDAH_ISOLATION": "chroot"}
    engine = Podman(conf, env)
    info = engine("info", "--format", "{{.Host.OCIRuntime.Name}}", check=False)
    if info.returncode != 0:
        skip_or_fail(f"podman does not work here: {info.stderr.strip()[-500:]}")
    _timed("engine", start)
    return engine


# --------------------------------------------------------------------------- base


def apt_mirror(sources: Path = Path("/etc/apt")) -> str:
    """The Debian mirror apt uses here (sources.list or deb822 .sources), not its security archive."""
    uris: list[str] = []
    for path in sorted(sources.glob("sources.list.d/*.sources")):
        for stanza in path.read_text().split("\n\n"):
            fields = dict(re.findall(r"^(\w[\w-]*):\s*(.+)$", stanza, re.MULTILINE))
            if fields.get("Types", "").split()[:1] == ["deb"] and "Enabled: no" not in stanza:
                uris += [u for u in fields.get("URIs", "").split() if "security" not in u and "debian" in u]
    listing = sources / "sources.list"
    if listing.is_file():
        for line in listing.read_text().splitlines():
            match = re.match(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+\S+", line.strip())
            if match and "security" not in match.group(1) and "debian" in match.group(1):
                uris.append(match.group(1))
    if not uris:
        skip_or_fail(f"no Debian mirror in {sources}/sources.list(.d): mmdebstrap needs one to build the base image")
    return uris[0]


def _codename() -> str:
    text = Path("/etc/os-release").read_text() if Path("/etc/os-release").is_file() else ""
    match = re.search(r"^VERSION_CODENAME=(\w+)", text, re.MULTILINE)
    return match.group(1) if match else "bookworm"


def base_recipe() -> dict[str, object]:
    """Everything the base image is made from; its hash names the cached image."""
    ca = hashlib.sha256(HOST_CA_BUNDLE.read_bytes()).hexdigest() if HOST_CA_BUNDLE.is_file() else None
    return {
        "suite": _codename(),
        "mirror": apt_mirror(),
        "packages": BASE_PACKAGES,
        "ca_bundle": ca,
        "hooks": _base_hooks(),
        "dpkg_excludes": DPKG_EXCLUDES,
        "merged_usr_hooks": MERGED_USR_HOOKS.is_dir(),
    }


#: Like python:3.11-slim: no documentation, manual pages or translations in the image.
DPKG_EXCLUDES = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/info/*", "/usr/share/locale/*")
#: merged /usr by mmdebstrap's own hook, not the usrmerge package (which pulls in perl, ~70 MB).
MERGED_USR_HOOKS = Path("/usr/share/mmdebstrap/hooks/merged-usr")


def _base_hooks() -> list[str]:
    hooks = [
        # The downloaded .debs and package lists are of no use in an image (python:3.11-slim has none).
        "rm -rf \"$1\"/var/cache/apt/archives/*.deb \"$1\"/var/cache/apt/*.bin \"$1\"/var/lib/apt/lists/*",
        # apt inside `podman build` may meet a snapshot mirror whose Release file has expired.
        "printf 'Acquire::Check-Valid-Until \"false\";\\nAcquire::Check-Date \"false\";\\n' > \"$1/etc/apt/apt.conf.d/99qboost-no-date-checks\"",
        # pip installs into the image's system Python, as it does in python:3.11-slim.
        "rm -f \"$1\"/usr/lib/python3*/EXTERNALLY-MANAGED",
    ]
    if HOST_CA_BUNDLE.is_file():
        # pip and apt in the build trust what this machine trusts (e.g. a proxy's CA).
        hooks.insert(0, f"cp {HOST_CA_BUNDLE} \"$1{HOST_CA_BUNDLE}\"")
    return hooks


@pytest.fixture(scope="session")
def base_image(podman, tmp_path_factory) -> str:
    """A Debian base image with python3 and pip, made once per machine and recipe."""
    recipe = base_recipe()
    key = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]
    tag = f"localhost/qboost-test-base:{key}"
    start = time.monotonic()
    if podman.image_exists(tag):
        progress(f"base image {tag}: cached")
        _timed("base image (cached)", start)
        return tag
    tar = tmp_path_factory.mktemp("base") / "base.tar"
    cmd = ["mmdebstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}"]
    cmd += [f"--dpkgopt=path-exclude={pattern}" for pattern in DPKG_EXCLUDES]
    if recipe["merged_usr_hooks"]:
        cmd.append(f"--hook-dir={MERGED_USR_HOOKS}")
    cmd += [f"--customize-hook={hook}" for hook in recipe["hooks"]]
    cmd += [str(recipe["suite"]), str(tar), str(recipe["mirror"])]
    progress(f"building the base image {tag} with mmdebstrap from {recipe['mirror']} (about a minute)")
    try:
        _streamed(cmd, env=dict(os.environ), timeout=900, label="mmdebstrap")
    except RuntimeError as exc:
        skip_or_fail(f"mmdebstrap could not build the base image: {exc}")
    podman("import", str(tar), tag, timeout=600)
    tar.unlink()
    _timed("base image (mmdebstrap + import)", start)
    return tag


# ------------------------------------------------------------------ context, image


@dataclass
class Context:
    """A ``package --wheelhouse`` build context and the model directory it packaged."""

    path: Path
    model: Path
    run_id: str
    info: dict = field(default_factory=dict)


def _train_model(model_dir: Path) -> None:
    """A QBoost model trained in-process and saved as an MLflow model directory (as `train` writes it)."""
    from omegaconf import OmegaConf

    from qboost_exp.config import compose
    from qboost_exp.experiment import run_experiment
    from qboost_exp.tracking import save_model

    cfg = compose(list(FAST))
    save_model(run_experiment(cfg), OmegaConf.to_container(cfg, resolve=True), model_dir)


@pytest.fixture(scope="session")
def sagemaker_context(pytestconfig, tmp_path_factory) -> Context:
    """A trained model directory, packaged with its wheelhouse by ``python -m serving package``."""
    _CONFIG[:] = [pytestconfig]
    start = time.monotonic()
    root = tmp_path_factory.mktemp("image_context")
    progress("training the model to package")
    _train_model(root / "model")
    out = root / "build"
    progress("python -m serving package --wheelhouse (pip wheel of every pin; the first time downloads them)")
    packaged = run_module("serving", "package", "--model-uri", str(root / "model"), "--wheelhouse", "--out", str(out),
                          cwd=root, env={"MLFLOW_DISABLE_TELEMETRY": "true"}, timeout=1800)
    assert packaged.returncode == 0, packaged.stderr
    info = json.loads((out / "build-info.json").read_text())
    _timed("context (train + package --wheelhouse)", start)
    return Context(out, root / "model", info.get("run_id") or "", info)


@dataclass
class Image:
    tag: str
    context: Context
    base: str
    build_seconds: float
    #: The Dockerfile target: "full" or "serve".
    target: str = "full"


def build_image(podman: Podman, context: Path, base: str, tag: str, label: str = "podman build", target: str | None = None) -> float:
    """``podman build`` of a build context on ``base`` (``--target`` if given); the seconds it took."""
    start = time.monotonic()
    cmd = ["podman", "build", "--isolation=chroot", "--build-arg", f"BASE_IMAGE={base}"]
    if target:
        cmd += ["--target", target]
    _streamed([*cmd, "-t", tag, str(context)], env=podman.env, timeout=1800, label=label)
    return time.monotonic() - start


def image_size_mb(podman: Podman, tag: str) -> float:
    return int(podman("image", "inspect", "--format", "{{.Size}}", tag).stdout.strip()) / 1e6


@pytest.fixture(scope="session")
def sagemaker_image(podman, base_image, sagemaker_context) -> Image:
    """The SageMaker image of ``sagemaker_context``, built offline from its wheelhouse on the local base."""
    start = time.monotonic()
    progress(f"building {IMAGE_TAG} on {base_image} (a few minutes the first time; cached layers after)")
    seconds = build_image(podman, sagemaker_context.path, base_image, IMAGE_TAG, target="full")
    _timed("image build (full)", start)
    return Image(IMAGE_TAG, sagemaker_context, base_image, seconds, "full")


@pytest.fixture(scope="session")
def lean_image(podman, sagemaker_image) -> Image:
    """The lean ``serve`` target of the same context, after the full one (its shared layers come from the cache)."""
    start = time.monotonic()
    progress(f"building {LEAN_TAG} (--target serve) on {sagemaker_image.base}")
    seconds = build_image(podman, sagemaker_image.context.path, sagemaker_image.base, LEAN_TAG, label="podman build serve", target="serve")
    _timed("image build (serve)", start)
    return Image(LEAN_TAG, sagemaker_image.context, sagemaker_image.base, seconds, "serve")


@pytest.fixture(scope="session", params=["full", "serve"])
def serving_image(request) -> Image:
    """The full image, then the lean one: each serving test runs against both."""
    return request.getfixturevalue("sagemaker_image" if request.param == "full" else "lean_image")


def pytest_terminal_summary(terminalreporter) -> None:
    """The image fixtures' durations, at the end of the run (call from conftest's hook)."""
    if DURATIONS:
        terminalreporter.write_sep("-", "podman fixtures")
        for name, seconds in DURATIONS.items():
            terminalreporter.write_line(f"{name}: {seconds:.1f} s")


__all__ = ["podman", "base_image", "sagemaker_context", "sagemaker_image", "lean_image", "serving_image", "Podman", "Context", "Image",
           "build_image", "image_size_mb", "progress", "REPO"]
