"""One transaction per operation, with the linking lock, retried when another writer extended
the custody chain first (the chain's unique prev_hash makes the loser's commit fail). Before it
commits, the retention policy is applied to the clips whose links or cases changed in it."""
from __future__ import annotations

import time
from typing import Callable, TypeVar

from sqlalchemy.exc import DBAPIError

from storage.custody import lost_append_race

from workers.linking import take_lock
from workers.store_retention import apply_noted

ATTEMPTS = 5
T = TypeVar("T")


def run(rt, work: Callable[..., T]) -> T:
    """Run `work(session)` in its own transaction after taking the linking lock; commit on
    success, roll back on any exception (which propagates)."""
    for attempt in range(ATTEMPTS):
        try:
            with rt.session() as session, session.begin():
                take_lock(session)
                result = work(session)
                apply_noted(session, rt)
                return result
        except DBAPIError as error:
            if not lost_append_race(error) or attempt == ATTEMPTS - 1:
                raise
            time.sleep(0.02 * (attempt + 1))
    raise AssertionError("unreachable")
