"""The image's default command, `start`: train in a training job (its mounts), serve otherwise, and says which."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from serving_programs import REPO  # noqa: F401  (puts this checkout's `serving` first on sys.path)

from serving.container.paths import OptMl
from serving.container.start import choose


def test_no_mounts_means_serve(tmp_path):
    program, why = choose(OptMl.resolve(tmp_path))
    assert program == "serve" and "no training job's mounts" in why


@pytest.mark.parametrize("mount", ["input/config/hyperparameters.json", "input/data"])
def test_either_training_mount_means_train(tmp_path, mount):
    path = tmp_path / mount
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{}") if mount.endswith(".json") else path.mkdir()
    program, why = choose(OptMl.resolve(tmp_path))
    assert program == "train" and why == f"found {path}: a training job"


def _fake_programs(tmp_path: Path) -> Path:
    """`train` and `serve` on PATH that print their name and arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("train", "serve"):
        (bin_dir / name).write_text(f'#!/bin/sh\necho "{name} ran with: $*"\n')
        (bin_dir / name).chmod(0o755)
    return bin_dir


@pytest.mark.parametrize(
    "args,mounted,ran,first_line",
    [
        ([], False, "serve ran with: ", "start: running serve (no training job's mounts"),
        ([], True, "train ran with: ", "start: running train (found "),
        (["serve", "--port", "9000"], True, "serve ran with: --port 9000", "start: running serve (asked for)"),
        (["train"], False, "train ran with: ", "start: running train (asked for)"),
    ],
)
def test_start_says_what_it_runs_first_then_becomes_it(tmp_path, args, mounted, ran, first_line):
    opt_ml = tmp_path / "opt_ml"
    if mounted:
        (opt_ml / "input" / "data" / "training").mkdir(parents=True)
    env = {**os.environ, "PATH": f"{_fake_programs(tmp_path)}:{os.environ['PATH']}", "SM_OPT_ML_ROOT": str(opt_ml),
           "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, str(REPO / "serving" / "container" / "bin" / "start"), *args],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[0].startswith(first_line)
    assert done.stdout.strip() == ran.strip()
