"""``python -m qboost_exp.tracking sync DIR``: upload a run's local record, kept when its tracking store failed.

Exit statuses: 0 uploaded; 2 the record is missing, incomplete or already
uploaded, or the target store cannot be reached or used (one ``error:``
line); 130 Ctrl-C. MLflow is imported only once there is something to
upload, so ``--help`` is immediate.
"""

from __future__ import annotations

import argparse
import sys


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m qboost_exp.tracking",
        description="Tracking-store utilities of qboost-exp.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sync = commands.add_parser(
        "sync",
        help="upload a run's local record (<output_dir>/mlflow-record) to a tracking store",
        description=(
            "Upload a run's local record, written when the tracking store failed at the end of the run, as a new "
            "FINISHED run: same params, metrics, tags, inputs, artifacts, and its model logged again (loadable as "
            "runs:/<run_id>/model). The original run, if the target store holds it unfinished, is ended and points "
            "to the new one. A record is uploaded once (uploaded.json in it), unless --force."
        ),
    )
    sync.add_argument("directory", metavar="DIR", help="the record directory named in the run's error line")
    sync.add_argument("--tracking-uri", metavar="URI", help="the target store (default: the store the run was meant for)")
    sync.add_argument("--experiment", metavar="NAME", help="the target experiment (default: the run's own)")
    sync.add_argument("--force", action="store_true", help="upload a record that was uploaded before, as another run")
    sync.add_argument(
        "--retry-seconds", type=float, default=None, metavar="S",
        help="how long a failing tracking server is retried (default 60, like mlflow.retry_seconds)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns the exit status."""
    args = _parser().parse_args(argv)
    from ..errors import QBoostError

    try:
        from ._sync import sync_record

        synced = sync_record(args.directory, args.tracking_uri, args.experiment, force=args.force, retry_seconds=args.retry_seconds)
    except QBoostError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr, flush=True)
        return 130
    from ._store import ui_line

    print(f"uploaded {args.directory} as run {synced.run_id} (experiment {synced.experiment_id}) at {synced.tracking_uri}")
    for note in synced.notes:
        print(f"  {note}")
    print(f"  {ui_line(synced.tracking_uri, synced.experiment_id, synced.run_id)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
