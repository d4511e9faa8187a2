"""Every access to evidence is a custody event: who (the token's station or user), when, what
(the clip, which file, which byte range) and from where. The event is written before the
answer is given, so an access that could not be recorded is not served.

The event holds the caller's role, user agent and address, never its credentials: no
Authorization header, cookie or query string goes into it."""
from __future__ import annotations

from flask import request

from server.auth import current_principal
from server.runtime import runtime
from server.web.blueprint import WEB
from storage.custody import append_events, in_custody_transaction

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
    in_custody_transaction(runtime().session, lambda session: append_events(session, events))
