"""``start``: the image's default command -- ``train`` in a SageMaker training job, ``serve`` otherwise.

SageMaker runs ``docker run IMAGE train`` or ``docker run IMAGE serve``, and
both keep working (``start train``, ``start serve``, or the programs
themselves). Some clients start the image with no argument at all (the
SageMaker Python SDK v3's ``ModelTrainer`` without a command); SageMaker's
own training-toolkit images then tell a training job by its mounts, and so
does this: ``/opt/ml/input/config/hyperparameters.json`` or
``/opt/ml/input/data/`` (under ``SM_OPT_ML_ROOT`` if set) means a training
job. The first log line says which program runs and why; then the program
replaces this process (``exec``), so signals reach it directly.
"""

from __future__ import annotations

import os
import shutil
import sys
from typing import Sequence

from .paths import OptMl

PROGRAMS = ("train", "serve")


def choose(layout: OptMl) -> tuple[str, str]:
    """The program to run with no argument, and why: a training job's mounts mean ``train``."""
    for mount in (layout.hyperparameters, layout.data):
        if mount.exists():
            return "train", f"found {mount}: a training job"
    return "serve", f"no training job's mounts ({layout.hyperparameters}, {layout.data}/)"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in PROGRAMS:
        program, why, rest = args[0], "asked for", args[1:]
    else:
        (program, why), rest = choose(OptMl.resolve()), args
    print(f"start: running {program} ({why})", file=sys.stderr, flush=True)
    path = shutil.which(program)
    if path is None:
        print(f"start: error: no `{program}` program on PATH", file=sys.stderr, flush=True)
        return 2
    os.execv(path, [program, *rest])
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
