"""Legal staff's actions on the case and clip pages: link and unlink clips with a reason, legal
holds, evidence bundle exports. The pages include the partials _case_actions, _clip_actions and
_link_controls with what these two functions return; the forms post to the views of
legal_links (links, holds) and legal_exports (bundles), which run the API's own operations."""
from __future__ import annotations

from server.web import legal_exports, legal_links
from server.web.legal_queries import (NEAR, case_exports, case_holds, clip_holds, manual_decisions, steps_near_clip,
                                      unlinked_near_steps)
from storage.models import Clip

VIEWS = (legal_links, legal_exports)
"""The modules whose views the forms post to (imported here, so init_app registers them)."""


def case_actions(db, case_id: str) -> dict:
    """For _case_actions.html.j2: the case's exports and holds, and unlinked clips near each step."""
    return {"case_id": case_id, "exports": case_exports(db, case_id), "holds": case_holds(db, case_id),
            "candidates": unlinked_near_steps(db, case_id), "near_hours": round(NEAR.total_seconds() / 3600)}


def clip_actions(db, clip_id: str) -> dict:
    """For _clip_actions.html.j2: the clip's holds, its manual decisions and steps near its time."""
    clip = db.get(Clip, clip_id)
    if clip is None:
        return {"clip_id": clip_id, "holds": [], "decisions": [], "nearby": [], "gone": True}
    return {"clip_id": clip_id, "holds": clip_holds(db, clip_id), "decisions": manual_decisions(db, clip_id),
            "nearby": steps_near_clip(db, clip), "gone": clip.status in ("deleting", "deleted"),
            "near_hours": round(NEAR.total_seconds() / 3600)}
