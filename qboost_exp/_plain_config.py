"""Plain Python from a config: the one conversion of a run, the one rule for missing values, frozen and thawed copies.

:func:`qboost_exp.config.read` uses these once per run; ``qboost_exp.config``
re-exports the public names.
"""

from __future__ import annotations

from collections.abc import Mapping as AbstractMapping
from typing import Any, Iterator, Mapping

from .errors import ConfigError

#: A missing value in a plain config: OmegaConf's mark for a mandatory value
#: that was not given (``path: ???``), kept as it is by :func:`as_plain`.
MISSING = "???"


def as_plain(cfg: Any, where: str = "") -> Any:
    """A plain-Python copy of a config (node), interpolations resolved; a missing value stays :data:`MISSING`.

    The one conversion of a run (:func:`qboost_exp.config.read` makes it). What is not an
    OmegaConf object (already plain) is returned as it is.

    Parameters
    ----------
    cfg : DictConfig, ListConfig or plain value
        The config, or one of its nodes.
    where : str
        The dotted key of ``cfg`` ("" for the whole config), for the message.

    Raises
    ------
    ConfigError
        An interpolation that cannot be resolved, in OmegaConf's words on
        one line (as the CLI and the grid sweeper say it: ``Interpolation
        key 'nope' not found``), after ``the config under 'WHERE' cannot be
        resolved:`` for a node.
    """
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    if not OmegaConf.is_config(cfg):
        return cfg
    try:
        return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    except OmegaConfBaseException as exc:
        # OmegaConf's context lines (full_key, object_type, ...) say nothing a user needs.
        lines = [line.strip().rstrip(".;") for line in str(exc).splitlines() if line.strip()]
        reason = "; ".join(line for line in lines if not line.startswith(("full_key:", "object_type=", "reference_type="))) or type(exc).__name__
        raise ConfigError(f"the config under '{where}' cannot be resolved: {reason}" if where else reason) from None


def first_missing(node: Any, where: str = "") -> str | None:
    """The dotted key (``dataset.path``, ``a.b[0].c``) of the first :data:`MISSING` value in a plain config (node); None if none is."""
    if isinstance(node, str):
        return (where or "?") if node == MISSING else None
    if isinstance(node, AbstractMapping):
        children = [(f"{where}.{key}" if where else str(key), value) for key, value in node.items()]
    elif isinstance(node, (list, tuple)):
        children = [(f"{where}[{index}]", value) for index, value in enumerate(node)]
    else:
        return None
    for key, value in children:
        found = first_missing(value, key)
        if found is not None:
            return found
    return None


def require_set(plain: Any, where: str = "") -> None:
    """The one rule for missing values: a plain config (node) read for a run has every value set.

    Raises
    ------
    ConfigError
        Naming the first missing value and how to set it.
    """
    key = first_missing(plain, where)
    if key is not None:
        raise ConfigError(f"the config value {key} is required but not set; add `{key}=...` to the command line")


def to_plain(cfg: Any, where: str = "") -> Any:
    """A resolved plain-Python copy of a config (node) with every value set: :func:`as_plain`, then :func:`require_set`."""
    plain = as_plain(cfg, where)
    require_set(plain, where)
    return plain


class FrozenDict(AbstractMapping):
    """A read-only mapping: a config node inside a spec. Equal to the dict it holds; :func:`thawed` gives that dict back."""

    def __init__(self, items: Mapping[str, Any] | None = None) -> None:
        self._items = dict(items or {})

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"FrozenDict({self._items!r})"

    def __hash__(self) -> int:
        return hash(tuple(self._items.items()))


def _frozen(value: Any) -> Any:
    """A plain value made read-only all the way down: mappings become :class:`FrozenDict`, lists tuples."""
    if isinstance(value, AbstractMapping):
        return FrozenDict({key: _frozen(item) for key, item in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(item) for item in value)
    return value


def thawed(value: Any) -> Any:
    """A plain, mutable copy of a spec's value, as the composed config had it: mappings become dicts, tuples lists."""
    if isinstance(value, AbstractMapping):
        return {key: thawed(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [thawed(item) for item in value]
    return value
