"""Every access to evidence is a custody event: who (the token's station or user), when, what
(the clip, which file, which byte range) and from where. The event is written before the
answer is given, so an access that could not be recorded is not served."""
from __future__ import annotations

import time

from flask import request
from sqlalchemy.exc import DBAPIError

from server.auth import current_principal
from workers.transaction import ATTEMPTS
from server.runtime import runtime
from server.web.blueprint import WEB
from storage.custody import append_events, lost_append_race

USER_AGENT_MAX = 200


def record_access(action: str, clip_ids: list[str], **details) -> None:
    """Append one `action` event (viewed, streamed, downloaded, ...) per clip."""
    if not clip_ids:
        return
    principal = current_principal()
    facts = {**details, "via": "web" if request.blueprint == WEB else "api", "role": principal.role,
             "user_agent": request.headers.get("User-Agent", "")[:USER_AGENT_MAX]}
    events = [{"actor_type": principal.kind, "actor_id": principal.id, "action": action, "clip_id": clip_id,
               "details": facts, "source_address": request.remote_addr} for clip_id in clip_ids]
    for attempt in range(ATTEMPTS):
        try:
            with runtime().session() as session, session.begin():
                append_events(session, events)
            return
        except DBAPIError as error:  # another writer extended the chain first: append again
            if not lost_append_race(error) or attempt == ATTEMPTS - 1:
                raise
            time.sleep(0.02 * (attempt + 1))
