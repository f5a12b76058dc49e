"""The ``/invocations`` contract: which bodies come in, which answers go out.

Request
-------
``Content-Type`` (parameters other than ``charset`` are ignored; only UTF-8):

* ``text/csv`` -- one row per line, the model's features in training order,
  no label column. Without a header (what SageMaker Batch Transform sends)
  or with one: the first line is a header if any of its cells holds text
  that is not a number, and a header must name exactly the model's
  features, in any order (columns are reordered by name).
* ``application/json`` -- MLflow's scoring formats or a bare list:
  ``{"dataframe_split": {"columns": [...], "data": [[...], ...]}}`` (columns
  optional), ``{"dataframe_records": [{name: value, ...}, ...]}``,
  ``{"instances": [[...], ...]}`` or ``[{...}, ...]``,
  ``{"inputs": [[...], ...]}`` or ``{"inputs": {name: [values...], ...}}``,
  ``[[...], ...]``. A flat list of numbers is one row.

Bodies up to 6 MB (SageMaker's real-time limit; 6 MiB) are accepted.

Response
--------
What is returned (one value per input row, in order):

* ``labels`` (default) -- the predicted class, ``predict``;
* ``probabilities`` -- P(``classes_[1]``), i.e. ``predict_proba(X)[:, 1]``
  (the probability of the second class in sorted order; for 0/1 labels, of 1);
* ``margin`` -- the ensemble margin ``decision_function``, Σ w_i h_i(x);
  positive means ``classes_[1]``.

Ask for probabilities or margins with an ``output`` parameter on ``Accept``
(``Accept: application/json; output=probabilities``) or with SageMaker's
custom attributes header (``X-Amzn-SageMaker-Custom-Attributes: output=margin``,
the ``CustomAttributes`` argument of ``invoke_endpoint``; pairs may be
separated by ``,`` or ``;``). If both are given they must agree. Also
understood: ``label``/``predictions``, ``probability``/``proba``/``predict_proba``,
``margins``/``decision_function``/``score``.

``Accept``: ``application/json`` gives ``{"predictions": [...]}``;
``text/csv`` gives one value per line (no newline after the last); absent or ``*/*`` gives the request's
own type (``text/*`` gives CSV, ``application/*`` JSON; ``q`` weights are honoured).

Errors
------
Every error has a JSON body ``{"error": "..."}`` saying what is wrong (with
1-based row and column where it applies): 400 for a body that cannot be used
(empty, malformed JSON, wrong number of features, a value that is not a
finite number, ragged CSV rows, a header that does not name the model's
features), 406 for an ``Accept`` or ``output`` that cannot be produced, 413
for a body over 6 MB, 415 for an unsupported ``Content-Type`` or charset.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .errors import RequestError
from .parsing import Schema, check_charset, parse_csv, parse_json

CSV = "text/csv"
JSON = "application/json"
CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"

OUTPUTS = ("labels", "probabilities", "margin")
_ALIASES = {
    "labels": "labels", "label": "labels", "predictions": "labels", "prediction": "labels", "class": "labels", "classes": "labels",
    "probabilities": "probabilities", "probability": "probabilities", "proba": "probabilities", "predict_proba": "probabilities",
    "margin": "margin", "margins": "margin", "decision_function": "margin", "score": "margin", "scores": "margin",
}
#: The Accept range that means "any type": the answer takes the request's own.
ANY = "*/*"


@dataclass(frozen=True)
class MediaType:
    """One body format of ``/invocations``, both ways: how a request body is read and an answer written.

    Parameters
    ----------
    name : str
        The type, as negotiated and as the table's key (``text/csv``).
    content_type : str
        The ``Content-Type`` header of an answer in this type.
    parse : callable
        ``parse(body, schema)`` -> the float64 feature matrix; raises
        :class:`RequestError` (400) for a body it cannot use.
    encode : callable
        ``encode(values)`` -> the answer body, one value per input row.
    ranges : tuple of str
        ``Accept`` ranges that choose this type (``text/*``).
    aliases : tuple of str
        Other names of the type, understood in ``Content-Type`` and ``Accept``.
    """

    name: str
    content_type: str
    parse: Callable[[bytes, Schema], np.ndarray]
    encode: Callable[[np.ndarray], bytes]
    ranges: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()


def media_type(header: str | None) -> tuple[str, dict[str, str]]:
    """``"text/csv; charset=utf-8"`` -> ``("text/csv", {"charset": "utf-8"})`` (type lower-cased)."""
    if not header:
        return "", {}
    kind, *params = header.split(";")
    parsed = {}
    for param in params:
        key, _, value = param.partition("=")
        if key.strip():
            parsed[key.strip().lower()] = value.strip().strip('"')
    return kind.strip().lower(), parsed


def request_type(content_type: str | None) -> str:
    """The name of the request's media type (``text/csv``, ``application/json``) from a Content-Type header.

    Raises
    ------
    RequestError
        (415) For any other type or a charset other than UTF-8.
    """
    kind, params = media_type(content_type)
    if kind not in MEDIA_TYPES:
        got = f"Content-Type {kind!r}" if kind else "no Content-Type"
        hint = " (curl -d sends that; add -H 'Content-Type: text/csv')" if kind == "application/x-www-form-urlencoded" else ""
        raise RequestError(415, f"{got} is not supported{hint}; send {_LISTED}")
    check_charset(params.get("charset"))
    return MEDIA_TYPES[kind].name


def _output(value: str, source: str, status: int) -> str:
    chosen = _ALIASES.get(value.strip().strip('"').lower())
    if chosen is None:
        raise RequestError(status, f"{source}: output={value!r} cannot be produced; choose one of {', '.join(OUTPUTS)}")
    return chosen


def _accept_choice(accept: str | None, requested: str) -> tuple[str, str | None]:
    """The response media type and the ``output`` parameter that came with it."""
    if not accept or not accept.strip():
        return requested, None
    ranges = []
    for i, item in enumerate(accept.split(",")):
        kind, params = media_type(item)
        try:
            q = float(params.get("q", "1"))
        except ValueError:
            q = 1.0
        if kind and q > 0:
            ranges.append((-q, i, kind, params.get("output")))
    for _, _, kind, output in sorted(ranges):
        chosen = MEDIA_TYPES.get(kind) or _BY_RANGE.get(kind)
        if chosen is not None:
            return chosen.name, output
        if kind == ANY:
            return requested, output
    raise RequestError(406, f"Accept {accept.strip()!r} cannot be produced; accept {_LISTED}")


def _attribute_output(attributes: str | None) -> str | None:
    if not attributes:
        return None
    for pair in attributes.replace(";", ",").split(","):
        key, sep, value = pair.partition("=")
        if sep and key.strip().lower() == "output":
            return value
    return None


@dataclass(frozen=True)
class Answer:
    """How to answer one request: the response media type and what to return."""

    media_type: str
    output: str


def negotiate(content_type: str | None, accept: str | None, custom_attributes: str | None) -> tuple[str, Answer]:
    """The request's type and the answer's form, from the three request headers.

    Returns
    -------
    request_type : str
        The name of its media type, a key of :data:`MEDIA_TYPES`.
    answer : Answer

    Raises
    ------
    RequestError
        415 (content type), 406 (Accept, or its ``output``), 400 (``output``
        in custom attributes unknown or contradicting Accept's).
    """
    kind = request_type(content_type)
    response, from_accept = _accept_choice(accept, kind)
    from_attributes = _attribute_output(custom_attributes)
    output = "labels"
    if from_accept is not None:
        output = _output(from_accept, "Accept", 406)
    if from_attributes is not None:
        chosen = _output(from_attributes, CUSTOM_ATTRIBUTES, 400)
        if from_accept is not None and chosen != output:
            raise RequestError(400, f"Accept asks for output={output} but {CUSTOM_ATTRIBUTES} for output={chosen}; give one")
        output = chosen
    return kind, Answer(response, output)


def parse(body: bytes, kind: str, schema: Schema) -> np.ndarray:
    """The feature matrix of a body of type ``kind`` (a name :func:`negotiate` returned)."""
    return MEDIA_TYPES[kind].parse(body, schema)


def predict(predictor: Any, X: np.ndarray, output: str) -> np.ndarray:
    """One value per row of ``X``: labels, P(classes_[1]) or margins."""
    method: Callable[[np.ndarray], np.ndarray] = getattr(predictor, output)
    return method(X)


def _csv_cell(value: Any) -> str:
    text = str(value)
    if any(ch in text for ch in ',"\r\n'):
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="").writerow([text])
        return buffer.getvalue()
    return text


def encode_csv(values: np.ndarray) -> bytes:
    """One value per line, with no newline after the last.

    Batch Transform with ``AssembleWith=Line`` adds one after each
    (mini-batch) response, and a client joining responses with newlines
    does the same, so a trailing newline here would put an empty line after
    every mini-batch. Numbers need no quoting; labels that are text may.
    """
    items = values.tolist()
    if values.dtype.kind in "iufb":
        return "\n".join(map(str, items)).encode()
    return "\n".join(map(_csv_cell, items)).encode()


def encode_json(values: np.ndarray) -> bytes:
    """``{"predictions": [...]}``, compact."""
    return json.dumps({"predictions": values.tolist()}, separators=(",", ":")).encode()


def encode(values: np.ndarray, media: str) -> bytes:
    """The response body in the media type ``media``: ``{"predictions": [...]}`` or one CSV value per line.

    Floats are written with ``repr`` precision (they read back exactly).
    """
    return MEDIA_TYPES[media].encode(values)


#: Every body format, in the order error messages list them. Adding a media
#: type is adding an entry here: negotiation, parsing and encoding read this table.
FORMATS = (
    MediaType(CSV, "text/csv; charset=utf-8", parse_csv, encode_csv, ranges=("text/*",)),
    MediaType(JSON, "application/json", parse_json, encode_json, ranges=("application/*",)),
)
#: Each format by its name and aliases.
MEDIA_TYPES = {name: media for media in FORMATS for name in (media.name, *media.aliases)}
#: Each format by the ``Accept`` ranges that choose it.
_BY_RANGE = {accept_range: media for media in FORMATS for accept_range in media.ranges}
_LISTED = " or ".join(media.name for media in FORMATS)
