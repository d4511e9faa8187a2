"""A case's evidence chain: its steps on a timeline with each recorder's clips, each step's audit
result and reasons, and every clip's hashes, times, processing, derivatives and custody events.

Like the API's GET /cases/<id> and /cases/<id>/audit, reading this page is not a custody event;
opening a clip's page or its files is (see clips.py)."""
from __future__ import annotations

from flask_smorest import abort

from server.auth import roles
from server.i18n import request_language, t
from server.runtime import runtime
from server.web import legal
from server.web.blueprint import bp
from server.web.chain_words import Words, template_helpers
from server.web.chain_case import case_page
from server.web.pages import PAGE_ROLES, render


@bp.route("/cases/<uuid:case_id>")
@roles(*PAGE_ROLES)
def case(case_id):
    rt = runtime()
    words = Words(request_language(), rt.settings.zone)
    with rt.session() as db:
        page = case_page(db, rt.settings, str(case_id), words)
        if page is None:
            abort(404, message=t("casework.case_not_found", id=case_id))
        actions = legal.case_actions(db, str(case_id))
    return render("case.html.j2", **page, actions=actions, **template_helpers(words))
