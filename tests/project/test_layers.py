"""The layer rules, read from the source: no import circles, no private imports across packages, each layer importing only the ones below it.

The layers, bottom to top (README: "How the code flows"):

0. base: errors, argument helpers, seeds, the one module that reaches into scikit-learn's private validation;
1. domain: the QUBO, sampling, strategies, search, the estimator, samplers, weak learners, registries, the compiled view;
2. data: datasets, CSV files and their cell grammar;
3. tracking: the runs API (tags, queries, ranking), writing runs and models;
4. run: the configured experiment (config, experiment, report), handing its result to tracking;
5. apps: compare, the CLI, the sweep callback, serving, the Optuna sweeper.

A lazy import (inside a function) counts like any other.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from import_graph import Edge, cycles, edges, module_files, private_imports

BASE, DOMAIN, DATA, TRACKING, RUN, APPS = range(6)

# Module -> layer; the most specific prefix wins.
LAYERS = {
    "qboost_exp.errors": BASE,
    "qboost_exp.cli_args": BASE,
    "qboost_exp._seeds": BASE,
    "qboost_exp.cosmetic": BASE,
    "qboost_exp._sklearn_private": BASE,
    "qboost_exp._lazy": BASE,
    "qboost_exp": DOMAIN,  # the package facade re-exports domain names only
    "qboost_exp.domain": DOMAIN,
    "qboost_exp._moved": BASE,
    "qboost_exp._plain_config": BASE,
    "qboost_exp.data": DATA,
    "qboost_exp.tracking": TRACKING,
    "qboost_exp.config": RUN,
    "qboost_exp.experiment": RUN,
    "qboost_exp._match": RUN,
    "qboost_exp.report": RUN,
    "qboost_exp.compare": APPS,
    "qboost_exp.cli": APPS,
    "qboost_exp.__main__": APPS,
    "qboost_exp.sweep": APPS,
    "qboost_exp.ui": APPS,
    "serving": APPS,
    "hydra_plugins": APPS,
}
NAMES = ["base", "domain", "data", "tracking", "run", "apps"]


def layer_of(module: str) -> int:
    parts = module.split(".")
    while parts:
        name = ".".join(parts)
        if name in LAYERS:
            return LAYERS[name]
        parts.pop()
    raise KeyError(module)


@pytest.fixture(scope="module")
def graph() -> tuple[dict, list[Edge]]:
    files = module_files()
    return files, edges(files)


def test_every_module_has_a_layer(graph):
    files, _ = graph
    missing = []
    for module in files:
        try:
            layer_of(module)
        except KeyError:
            missing.append(module)
    assert not missing, f"modules without a layer (add them to LAYERS): {missing}"


def test_the_reader_sees_lazy_and_relative_imports(graph):
    # A check that cannot fail is no check: the reader must find the edges it is meant to judge.
    _, all_edges = graph
    found = {(e.importer, e.imported) for e in all_edges}
    assert ("qboost_exp.experiment", "qboost_exp.tracking") in found  # `from . import tracking`, inside run_tracked
    assert ("qboost_exp.cli", "qboost_exp.experiment") in found  # lazy, inside a function
    assert ("qboost_exp.sweep._summary", "qboost_exp.compare") in found  # lazy


def test_no_import_circles(graph):
    _, all_edges = graph
    assert cycles(all_edges) == []


def test_the_circle_finder_finds_a_circle():
    made_up = [Edge("a", "b", (), 1), Edge("b", "c", (), 1), Edge("c", "a", (), 1), Edge("c", "d", (), 1)]
    assert cycles(made_up) == [["a", "b", "c"]]


def test_no_private_imports_across_packages(graph):
    files, all_edges = graph
    assert private_imports(all_edges, files) == []


def test_the_private_import_rule_flags_what_it_should(graph):
    files, _ = graph
    made_up = [
        Edge("serving.package", "qboost_exp.tracking._runs", (), 1),  # another package's private module
        Edge("serving.package", "qboost_exp.tracking", ("_plots",), 2),  # ... or name
        Edge("qboost_exp.tracking._log", "qboost_exp.tracking._runs", (), 3),  # its own package: fine
        Edge("qboost_exp.tracking._log", "qboost_exp._seeds", (), 4),  # inside qboost_exp: fine
    ]
    assert private_imports(made_up, files) == [
        "serving.package:1 imports the private module qboost_exp.tracking._runs",
        "serving.package:2 imports the private name qboost_exp.tracking._plots",
    ]


def test_each_layer_imports_only_the_ones_below_it(graph):
    _, all_edges = graph
    upward = [
        f"{e.importer}:{e.line} ({NAMES[layer_of(e.importer)]}) imports {e.imported} ({NAMES[layer_of(e.imported)]})"
        for e in all_edges
        if layer_of(e.imported) > layer_of(e.importer)
    ]
    assert upward == []


def test_no_mlflow_client_without_an_explicit_uri(graph):
    files, _ = graph
    bare = [
        f"{module}:{number}"
        for module, path in files.items()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "MlflowClient()" in line
    ]
    assert bare == []


@pytest.mark.parametrize(
    "statement,absent",
    [
        # Reading runs, the comparison's and the serving CLI's --help load none of the heavy libraries.
        ("import qboost_exp.tracking", ("sklearn", "dimod", "hydra", "mlflow", "pandas")),
        ("import qboost_exp.tracking as t; t.best_run, t.DEFAULT_OBJECTIVE", ("sklearn", "dimod", "hydra", "mlflow", "pandas")),
        ("import qboost_exp", ("sklearn", "dimod", "hydra", "mlflow", "pandas")),
        ("import qboost_exp.compare as c; c.build_parser().format_help()", ("sklearn", "dimod", "hydra", "mlflow", "pandas", "matplotlib")),
        ("import qboost_exp.domain.compiled", ("sklearn", "scipy", "pandas", "dimod", "mlflow", "hydra")),
        ("import qboost_exp.data.cells", ("sklearn", "scipy", "pandas", "dimod", "mlflow", "hydra")),
        ("import qboost_exp.domain.plugins as p; p.available_samplers(); p.available_weak_learner_sets()", ("sklearn", "dimod", "mlflow")),
    ],
)
def test_light_imports_stay_light(statement, absent):
    code = f"import sys\n{statement}\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split())
    assert "qboost_exp" in loaded
    assert loaded.isdisjoint(absent), sorted(loaded & set(absent))


def test_moved_names_still_load_with_a_deprecation_warning():
    import qboost_exp.sweep
    import qboost_exp.tracking as tracking

    for name in ("MLflowSweepCallback", "JobFailure", "job_failed"):
        with pytest.warns(DeprecationWarning, match=f"qboost_exp.tracking.{name} moved to qboost_exp.sweep.{name}"):
            assert getattr(tracking, name) is getattr(qboost_exp.sweep, name)
