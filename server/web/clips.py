"""A clip's page (facts, links, custody events, the player) and its files for the browser: the
review copy streamed with HTTP Range so the player can seek, and the images of its derivatives.

Every view is a custody event, as through the API: opening the page records `viewed` (what:
metadata); every request for the review copy records `streamed`, for another derivative `viewed`
(server.resources.media.send, with via: web)."""
from __future__ import annotations

from flask_smorest import abort
from sqlalchemy import select

from server.access import record_access
from server.auth import roles
from server.i18n import request_language, t
from server.resources.media import send
from server.runtime import runtime
from server.web import legal
from server.web.blueprint import bp
from server.web.chain_words import Words, template_helpers
from server.web.chain_clip import GONE, clip_page, review_copy
from server.web.pages import PAGE_ROLES, render
from storage.models import Clip, Derivative


def _clip(db, clip_id) -> Clip:
    clip = db.get(Clip, str(clip_id))
    if clip is None:
        abort(404, message=t("accounts.not_found", what="clip", id=clip_id))
    return clip


def _present(clip: Clip) -> None:
    if clip.status in GONE:
        abort(410, message=t("media.deleted", id=clip.id))


@bp.route("/clips/<uuid:clip_id>")
@roles(*PAGE_ROLES)
def clip(clip_id):
    rt = runtime()
    with rt.session() as db:
        _clip(db, clip_id)
    record_access("viewed", [str(clip_id)], what="metadata")
    words = Words(request_language(), rt.settings.zone)
    with rt.session() as db:
        page = clip_page(db, rt.settings, str(clip_id), words)
        actions = legal.clip_actions(db, str(clip_id))
    return render("clip.html.j2", **page, actions=actions, **template_helpers(words))


@bp.route("/clips/<uuid:clip_id>/review")
@roles(*PAGE_ROLES)
def clip_review(clip_id):
    rt = runtime()
    with rt.session() as db:
        found = _clip(db, clip_id)
        _present(found)
        copy = review_copy(db.scalars(select(Derivative).where(Derivative.clip_id == found.id)).all(), rt.settings)
        if copy is None:
            abort(404, message=t("web.clip.no_review", id=found.id))
    return send(copy.object_key, copy.size, copy.content_type, copy.sha256, "streamed", found.id, "inline",
                what=copy.kind, derivative_id=copy.id, profile=copy.profile)


@bp.route("/clips/<uuid:clip_id>/derivatives/<uuid:derivative_id>")
@roles(*PAGE_ROLES)
def clip_derivative(clip_id, derivative_id):
    rt = runtime()
    with rt.session() as db:
        found = _clip(db, clip_id)
        _present(found)
        derivative = db.get(Derivative, str(derivative_id))
        if derivative is None or derivative.clip_id != found.id:
            abort(404, message=t("accounts.not_found", what="derivative", id=derivative_id))
    action = "streamed" if derivative.kind == "review" else "viewed"
    return send(derivative.object_key, derivative.size, derivative.content_type, derivative.sha256, action, found.id,
                "inline", what=derivative.kind, derivative_id=derivative.id, profile=derivative.profile)
