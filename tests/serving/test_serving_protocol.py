"""The ``/invocations`` contract in-process: request bodies to a feature matrix, answers to bytes."""

from __future__ import annotations

import json

import numpy as np

# First: it puts this checkout's `serving` first on sys.path.
from serving_programs import csv_body
from serving.container.parsing import Schema, parse_csv, parse_json


# ------------------------------------------------------------------------- parsing


def test_parsers_give_the_same_matrix_for_every_form():
    names = ["a", "b", "c"]
    schema = Schema(3, names)
    X = np.array([[1.5, -2.0, 3e-7], [0.1, 0.2, 0.30000000000000004]])
    forms = {
        "csv": csv_body(X).encode(),
        "csv crlf bom blank lines": b"\xef\xbb\xbf" + csv_body(X).replace("\n", "\r\n\r\n").encode(),
        "csv reordered header": ("c,a,b\n" + "\n".join(",".join(map(repr, r[[2, 0, 1]].tolist())) for r in X) + "\n").encode(),
        "csv quoted header": b'"a","b","c"\n' + csv_body(X).encode(),
    }
    for name, body in forms.items():
        np.testing.assert_array_equal(parse_csv(body, schema), X, err_msg=name)
    rows = X.tolist()
    records = [dict(zip(names, r)) for r in rows]
    for body in (
        {"dataframe_split": {"columns": names, "data": rows}},
        {"dataframe_split": {"columns": ["b", "c", "a"], "data": [[r[1], r[2], r[0]] for r in rows]}},
        {"dataframe_split": {"data": rows}},
        {"dataframe_records": records},
        {"instances": rows},
        {"instances": records},
        {"inputs": rows},
        {"inputs": {n: [r[i] for r in rows] for i, n in enumerate(names)}},
        rows,
        records,
    ):
        np.testing.assert_array_equal(parse_json(json.dumps(body).encode(), schema), X, err_msg=str(body)[:80])
    np.testing.assert_array_equal(parse_json(b"[1, 2, 3]", schema), [[1.0, 2.0, 3.0]])



def test_csv_answers_end_without_a_newline_so_joined_mini_batches_have_one_line_per_record():
    from serving.container.protocol import encode

    # Batch Transform with AssembleWith=Line appends a newline after each mini-batch's answer.
    batches = [encode(np.array([1, 0, 1]), "text/csv"), encode(np.array([0]), "text/csv"), encode(np.array([0.25, 1.5]), "text/csv")]
    assert batches == [b"1\n0\n1", b"0", b"0.25\n1.5"]
    joined = b"".join(batch + b"\n" for batch in batches)
    assert joined.decode().split("\n")[:-1] == ["1", "0", "1", "0", "0.25", "1.5"]
    assert encode(np.array(["a,b", "c"]), "text/csv") == b'"a,b"\nc'


