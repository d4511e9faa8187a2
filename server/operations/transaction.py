"""One transaction per operation, with the linking lock, retried when another writer extended
the custody chain first (the chain's unique prev_hash makes the loser's commit fail)."""
from __future__ import annotations

import time
from typing import Callable, TypeVar

from sqlalchemy.exc import IntegrityError

from workers.linking import take_lock

ATTEMPTS = 5
T = TypeVar("T")


def custody_race(error: IntegrityError) -> bool:
    return "custody_events" in str(error.orig) or "uq_custody_events_prev_hash" in str(error.orig)


def run(rt, work: Callable[..., T]) -> T:
    """Run `work(session)` in its own transaction after taking the linking lock; commit on
    success, roll back on any exception (which propagates)."""
    for attempt in range(ATTEMPTS):
        try:
            with rt.session() as session, session.begin():
                take_lock(session)
                return work(session)
        except IntegrityError as error:
            if not custody_race(error) or attempt == ATTEMPTS - 1:
                raise
            time.sleep(0.02 * (attempt + 1))
    raise AssertionError("unreachable")
