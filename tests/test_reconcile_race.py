"""The sweeper's reconcile never undoes a step that its worker finished while reconcile was
looking at it. (Found by the fault campaign, `make faults`: reconcile read a step as running,
the work horse then committed "done" and exited, and reconcile, finding the horse's pid gone,
marked the finished step queued again; the re-run collided with the derivative already recorded
and, retried to the end, left the step failed and the clip unprocessed.)"""
from sqlalchemy import select, update

from storage.db import utcnow
from storage.models import Clip
from storage.owners import host_name
from storage.processing_models import ProcessingStep
from workers import reconcile
from workers.queues import redis_connection


def _running_step(rt) -> str:
    with rt.session() as session, session.begin():
        clip = Clip(sha256="c" * 64, sm3="d" * 64, size=1, original_key="k", filename="f.mp4",
                    recorded_at=utcnow(), status="verified")
        session.add(clip)
        session.flush()
        step = ProcessingStep(clip_id=clip.id, step="obstruction", profile="", status="running", progress=0.5,
                              attempts=1, generation=1, queue="long", job_id="obstruction-x-g1",
                              worker=f"{host_name()}:999999999:horse", command=[], result={},
                              enqueued_at=utcnow(), started_at=utcnow(), heartbeat_at=utcnow())
        session.add(step)
    return step.id


def test_a_step_finished_while_reconcile_looks_at_it_stays_done(rt, monkeypatch):
    step_id = _running_step(rt)

    def finished_meanwhile(owner: str) -> bool:
        """The work horse writes its outcome and exits between reconcile's read of the row and its
        look at the horse's pid: a window real processes cannot be made to hit on demand, so the
        horse's commit is played here, at that moment, by a transaction of its own."""
        with rt.session() as session, session.begin():
            session.execute(update(ProcessingStep).where(ProcessingStep.id == step_id)
                            .values(status="done", progress=1.0, finished_at=utcnow()))
        return True  # and its process is gone
    monkeypatch.setattr(reconcile, "owner_dead_here", finished_meanwhile)

    assert reconcile.reconcile(rt, redis_connection(rt.settings)) == 0
    with rt.session() as session:
        row = session.scalar(select(ProcessingStep).where(ProcessingStep.id == step_id))
    assert (row.status, row.generation, row.job_id) == ("done", 1, "obstruction-x-g1")


def test_a_step_whose_worker_died_is_handed_out_again(rt, monkeypatch):
    step_id = _running_step(rt)
    monkeypatch.setattr(reconcile, "owner_dead_here", lambda owner: True)
    reconcile.reconcile(rt, redis_connection(rt.settings))
    with rt.session() as session:
        row = session.scalar(select(ProcessingStep).where(ProcessingStep.id == step_id))
    assert (row.status, row.generation) == ("queued", 2)
