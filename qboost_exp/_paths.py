"""Where the Hydra configs live.

conf/ at the repository root is the one source of configs. A wheel carries a
copy at qboost_exp/conf (see pyproject.toml); a source checkout or an editable
install reads the repository's conf/ directly.
"""

from __future__ import annotations

from pathlib import Path


def config_dir() -> Path:
    """The directory holding config.yaml and the config groups."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "conf", here.parent / "conf"):
        if (candidate / "config.yaml").is_file():
            return candidate
    raise FileNotFoundError(f"qboost_exp: no conf/config.yaml next to {here} or its parent; the installation is incomplete")
