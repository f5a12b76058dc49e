"""Hydra's sweep syntax -> Optuna distributions, and sampled values -> Hydra overrides.

``choice(a, b)`` / ``a,b``   categorical
``range(lo, hi, step=s)``    integers lo, lo+s, ... below hi (floats: categorical over the values)
``interval(lo, hi)``         float uniform; ``int(interval(..))`` integer; ``tag(log, ...)`` log scale
anything else                a fixed value, the same in every trial
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

from qboost_exp.errors import ConfigError

_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_./-]*$")


def _distribution(key: str, value: Any) -> Any:
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    log = "log" in (getattr(value, "tags", None) or set())
    if isinstance(value, ChoiceSweep):
        return CategoricalDistribution(list(value.list))
    if isinstance(value, RangeSweep):
        start, stop, step = value.start, value.stop, value.step
        values = list(range(int(start), int(stop), int(step))) if all(isinstance(v, int) for v in (start, stop, step)) else None
        if values is None:  # a float range: its values, as choices
            count = max(0, int((stop - start) / step + 0.999999999))
            return CategoricalDistribution([start + i * step for i in range(count)])
        if not values:
            raise ConfigError(f"hydra.sweeper.params.{key}: range({start}, {stop}, step={step}) is empty")
        return IntDistribution(values[0], values[-1], step=1 if log else int(step), log=log)
    if isinstance(value, IntervalSweep):
        if value.start >= value.end:
            raise ConfigError(f"hydra.sweeper.params.{key}: interval({value.start}, {value.end}) is empty")
        if log and value.start <= 0:
            raise ConfigError(f"hydra.sweeper.params.{key}: a log-scale interval needs a start > 0, got {value.start}")
        if isinstance(value.start, int) and isinstance(value.end, int):
            return IntDistribution(value.start, value.end, log=log)
        return FloatDistribution(float(value.start), float(value.end), log=log)
    raise ConfigError(f"hydra.sweeper.params.{key}: unsupported sweep {value!r}")


def search_space(params: Mapping[str, Any], arguments: Sequence[str]) -> tuple[dict[str, Any], list[str]]:
    """The distributions to search and the overrides every trial shares.

    Parameters
    ----------
    params : mapping
        ``hydra.sweeper.params``: key -> sweep expression (or a fixed value).
    arguments : sequence of str
        The command line's overrides; sweeps there (``lambda=0.1,0.2``) are
        searched too, and win over ``params``.

    Returns
    -------
    (dict, list)
        ``{key: optuna distribution}``, fixed overrides.

    Raises
    ------
    ConfigError
        An expression does not parse or describes an empty space.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    parser = OverridesParser.create()
    space: dict[str, Any] = {}
    fixed: dict[str, str] = {}
    expressions = [(f"hydra.sweeper.params.{k}", f"{k}={v}") for k, v in params.items()]
    expressions += [("the command line", a) for a in arguments]
    for where, text in expressions:
        try:
            override = parser.parse_override(text)
        except OverrideParseException as exc:
            raise ConfigError(f"{where}: cannot parse {text!r}: {' '.join(str(exc).split())}") from None
        key = override.get_key_element()
        space.pop(key, None)
        fixed.pop(key, None)
        if override.is_sweep_override():
            space[key] = _distribution(key, override.value())
        else:
            fixed[key] = text
    return space, list(fixed.values())


def format_value(value: Any) -> str:
    """A sampled value as it must appear on the right of ``key=`` in a Hydra override."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    text = str(value)
    if _PLAIN.match(text):
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
