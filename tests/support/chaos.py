"""``python -m qboost_exp`` with one cosmetic step made to fail: the chaos tests' driver.

    python tests/support/chaos.py STEP SEEN_FILE [--store-gone DIR] -- OVERRIDES...

Runs the CLI in this process after wrapping :func:`qboost_exp.cosmetic.run_step`,
the one place every cosmetic step passes: the step named ``STEP`` raises
``RuntimeError("chaos: STEP made to fail")`` (``-`` fails none), and every
step that runs is appended to ``SEEN_FILE``, a line each. With
``--store-gone DIR``, the moment training ends (``note_trained``) the store's
directory DIR is made immutable (``chattr +i``): SQLite can no longer create
its journal there, so every write to the store fails for real and the run's
record goes to local disk. The test makes DIR mutable again.
"""

from __future__ import annotations

import subprocess
import sys


def fail_step(step: str, seen_file: str) -> None:
    from qboost_exp import cosmetic

    original = cosmetic.run_step

    def run_step(name, action, *args, **kwargs):  # noqa: ANN001, ANN202
        with open(seen_file, "a", encoding="utf-8") as seen:
            seen.write(name + "\n")
        if name == step:
            raise RuntimeError(f"chaos: {name} made to fail")
        return original(name, action, *args, **kwargs)

    cosmetic.run_step = run_step


def store_gone_after_training(directory: str) -> None:
    from qboost_exp.tracking import _open

    original = _open.note_trained

    def note_trained(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        original(*args, **kwargs)
        subprocess.run(["chattr", "+i", directory], check=True)

    _open.note_trained = note_trained


def main(argv: list[str]) -> None:
    split = argv.index("--")
    options, overrides = argv[:split], argv[split + 1 :]
    fail_step(options[0], options[1])
    if "--store-gone" in options:
        store_gone_after_training(options[options.index("--store-gone") + 1])
    sys.argv = ["qboost_exp", *overrides]
    from qboost_exp.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main(sys.argv[1:])
