"""The sweep callback's reading of Hydra's job returns (qboost_exp.sweep)."""

from __future__ import annotations

from hydra.core.utils import JobReturn, JobStatus

from qboost_exp.sweep import JobFailure, job_failed


def _job(status: JobStatus, value: object) -> JobReturn:
    job = JobReturn()
    job.status = status
    job._return_value = value  # what Hydra's run_job stores, exception or value
    return job


def test_a_job_that_raised_fails_with_its_exception(capsys):
    assert job_failed(_job(JobStatus.FAILED, ValueError("boom"))) == "ValueError: boom"
    assert capsys.readouterr().err == ""  # Hydra's return_value would have written a line


def test_a_job_that_returned_a_failure_fails_with_its_message():
    assert job_failed(_job(JobStatus.COMPLETED, JobFailure("qubo.refit must be ..."))) == "qubo.refit must be ..."


def test_a_job_that_returned_its_objective_did_not_fail():
    assert job_failed(_job(JobStatus.COMPLETED, 0.97)) is None


def test_hydra_still_keeps_a_failed_jobs_exception_where_we_read_it():
    # job_failed reads the private JobReturn._return_value for a FAILED job; this fails when Hydra renames it.
    import dataclasses

    assert "_return_value" in {f.name for f in dataclasses.fields(JobReturn)}
