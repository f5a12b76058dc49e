"""Smoke tests of the real-service fixtures in services.py: each service does real work."""

from __future__ import annotations

import time

from clirun import closed_port
from services import STARTUP_TIMES, free_port, wait_for_http


def test_free_port_is_bindable():
    import socket

    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def test_wait_for_http_times_out_on_a_closed_port():
    # A port held closed for the whole test (clirun.closed_port): a port that was merely free a
    # moment ago may meanwhile be a server's (another pytest-xdist worker's), which would answer.
    with closed_port() as port:
        start = time.monotonic()
        try:
            wait_for_http(f"http://127.0.0.1:{port}/health", timeout=1)
        except TimeoutError as e:
            assert "did not answer 200" in str(e)
        else:
            raise AssertionError("expected TimeoutError")
        assert time.monotonic() - start < 10  # about the 1 s asked: refused connections never block


def test_postgres_answers_sql(postgres_server):
    import psycopg2

    assert postgres_server.url == (
        f"postgresql://{postgres_server.user}:{postgres_server.password}@127.0.0.1:{postgres_server.port}/mlflow"
    )
    with psycopg2.connect(postgres_server.url) as conn, conn.cursor() as cur:
        cur.execute("SELECT 1")
        assert cur.fetchone() == (1,)
        cur.execute("SHOW listen_addresses")
        assert cur.fetchone() == ("127.0.0.1",)
        cur.execute("SELECT current_user, current_database()")
        assert cur.fetchone() == (postgres_server.user, "mlflow")
    conn.close()


def test_mlflow_server_tracks_and_serves_artifacts(mlflow_server, tmp_path):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_server.url)
    experiment_id = client.create_experiment(f"smoke-{time.time_ns()}")
    assert client.get_experiment(experiment_id).artifact_location.startswith("mlflow-artifacts:")

    run = client.create_run(experiment_id)
    run_id = run.info.run_id
    client.log_param(run_id, "alpha", "0.5")
    client.log_metric(run_id, "accuracy", 0.93, step=1)
    note = tmp_path / "note.txt"
    note.write_text("hello from the smoke test\n")
    client.log_artifact(run_id, str(note), artifact_path="notes")
    client.set_terminated(run_id)

    fetched = client.get_run(run_id)
    assert fetched.data.params == {"alpha": "0.5"}
    assert fetched.data.metrics == {"accuracy": 0.93}
    assert fetched.info.status == "FINISHED"
    assert [f.path for f in client.list_artifacts(run_id, "notes")] == ["notes/note.txt"]

    # Download through the server's artifact proxy, not from its filesystem.
    local = client.download_artifacts(run_id, "notes/note.txt", str(tmp_path / "down"))
    assert open(local).read() == "hello from the smoke test\n"
    # ... which stored it under --artifacts-destination.
    assert [p.read_text() for p in mlflow_server.artifacts_dir.rglob("note.txt")] == ["hello from the smoke test\n"]


def test_ray_head_runs_a_task(ray_head):
    import ray

    assert ray_head.address.startswith("127.0.0.1:")
    ray.init(address=ray_head.address, log_to_driver=False)
    try:
        @ray.remote
        def square(x):
            return x * x

        assert ray.get([square.remote(i) for i in range(4)], timeout=60) == [0, 1, 4, 9]
        assert ray.cluster_resources().get("CPU") == 2
        assert {node["NodeManagerAddress"] for node in ray.nodes()} == {"127.0.0.1"}
    finally:
        ray.shutdown()


def test_print_startup_times():
    # Runs last in this module: the session fixtures above are up by now.
    print("\n[services] startup times: " + ", ".join(f"{k} {v:.1f}s" for k, v in STARTUP_TIMES.items()))
