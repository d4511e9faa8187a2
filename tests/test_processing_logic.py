"""Pure logic of evidence processing: which steps are ready, job ids, the duration check of a
derivative, and the processing summary the API shows."""
import pytest

from server.resources.clips import processing_summary
from storage.processing_models import ProcessingStep
from workers.pipeline import _ready, job_id
from workers.steps.review import duration_check


def step(name, status, profile="", progress=0.0):
    return ProcessingStep(id=f"{name}-{profile}", clip_id="c1", step=name, profile=profile, status=status,
                          progress=progress, generation=3)


def test_verify_first_then_probe_then_every_derive_step():
    rows = [step("verify", "pending"), step("probe", "pending")]
    assert [r.step for r in _ready(rows)] == ["verify"]
    rows = [step("verify", "done"), step("probe", "pending")]
    assert [r.step for r in _ready(rows)] == ["probe"]
    rows = [step("verify", "done"), step("probe", "done"), step("review", "pending", "review"),
            step("thumbnails", "pending"), step("obstruction", "running")]
    assert [r.step for r in _ready(rows)] == ["review", "thumbnails"]


def test_a_failed_verify_holds_everything_back():
    rows = [step("verify", "failed"), step("probe", "pending")]
    assert _ready(rows) == []


def test_job_ids_are_deterministic_and_rq_safe():
    row = step("review", "queued", "review")
    assert job_id(row) == "review-review-c1-g3" == job_id(row)
    row.generation += 1
    assert job_id(row) == "review-review-c1-g4"


@pytest.mark.parametrize("source, derived, ok", [
    (60.0, 60.4, True), (60.0, 61.0, True), (60.0, 61.2, False),     # 1 s floor
    (600.0, 605.9, True), (600.0, 606.5, False),                      # 1 % of longer clips
    (3.0, 0.0, False),
])
def test_duration_check_within_one_second_or_one_percent(source, derived, ok):
    assert duration_check(source, derived)["ok"] is ok


def test_duration_check_without_a_source_duration_says_why():
    check = duration_check(None, 5.0)
    assert check["ok"] is True and "no duration" in check["note"]
    assert duration_check(5.0, None)["ok"] is False


def test_processing_summary_states():
    assert processing_summary([])["state"] == "pending"
    assert processing_summary([step("verify", "queued"), step("probe", "pending")])["state"] == "pending"
    running = processing_summary([step("verify", "done"), step("probe", "running", progress=0.5)])
    assert running["state"] == "running" and running["progress"] == 0.75
    assert processing_summary([step("verify", "done"), step("probe", "skipped")])["state"] == "done"
    assert processing_summary([step("verify", "done"), step("review", "failed")])["state"] == "failed"
