"""The worker sweep signs a custody checkpoint when one is due, and refuses to sign a log that
is not intact: it raises one critical alert instead and goes on with its other work."""
import pytest
from redis import Redis
from sqlalchemy import select, update

from storage.custody_models import CustodyCheckpoint
from storage.models import CustodyEvent
from storage.processing_models import Alert
from tests.test_custody_chain import fill, unguard
from workers.sweeper import sweep


@pytest.fixture
def settings(make_settings, database_url, redis_url):
    return make_settings(**{"database.url": database_url, "redis.url": redis_url,
                            "custody.checkpoint_every_events": 5})


def test_a_due_checkpoint_is_signed_by_the_sweep(rt, redis_url):
    fill(rt, 3)
    assert sweep(rt, Redis.from_url(redis_url))["checkpoint"] is None  # 3 new events: not due yet
    fill(rt, 4, start=3)
    assert sweep(rt, Redis.from_url(redis_url))["checkpoint"] == 7
    with rt.session() as session:
        [checkpoint] = session.scalars(select(CustodyCheckpoint)).all()
    assert checkpoint.count == 7 and rt.store.exists(checkpoint.object_key)


def test_a_tampered_log_is_not_signed_and_raises_one_alert(rt, redis_url):
    fill(rt, 6)
    unguard(rt.engine)
    with rt.engine.begin() as connection:
        connection.execute(update(CustodyEvent.__table__).where(CustodyEvent.seq == 2).values(action="deleted"))
    for _ in range(2):
        result = sweep(rt, Redis.from_url(redis_url))
        assert result["checkpoint"] is None and "expired_uploads" in result  # the rest of the sweep ran
    with rt.session() as session:
        assert session.scalars(select(CustodyCheckpoint)).all() == []
        [alert] = session.scalars(select(Alert).where(Alert.code == "custody_not_intact")).all()
    assert alert.severity == "critical" and "2" in alert.details["reason"]
