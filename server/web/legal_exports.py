"""Evidence bundles from the pages: start one for a case, follow its progress (a page whose bar
export.js moves by polling a small JSON answer), download it. Starting and downloading are the
API's own functions, so the export row, the job and the custody events are the same."""
from __future__ import annotations

import marshmallow as ma
from flask import jsonify, redirect, url_for
from flask_smorest import abort
from sqlalchemy import select

from server.auth import roles
from server.i18n import t
from server.resources.exports import EXPORTERS, download_response, start_export
from server.runtime import runtime
from server.web.blueprint import bp
from server.web.legal_queries import export_view
from server.web.legal_support import Form, load_form
from server.web.pages import back, done, local, render
from storage.case_models import Case
from storage.custody_models import Export


class ExportForm(Form):
    include_review = ma.fields.Boolean(load_default=False)


def _export(db, export_id) -> Export:
    export = db.get(Export, str(export_id))
    if export is None:
        abort(404, message=t("export.not_found", id=str(export_id)))
    return export


@bp.route("/cases/<uuid:case_id>/exports", methods=["POST"])
@roles(*EXPORTERS)
def export_start(case_id):
    body = load_form(ExportForm())
    if body is None:
        return back("web.case", case_id=case_id)
    export = start_export(runtime(), str(case_id), body["include_review"])
    done("web.export.started")
    return redirect(url_for("web.export", export_id=export.id), 303)


@bp.route("/exports/<uuid:export_id>")
@roles(*EXPORTERS)
def export(export_id):
    with runtime().session() as db:
        row = _export(db, export_id)
        case = db.scalar(select(Case).where(Case.id == row.case_id))
        return render("export.html.j2", export=export_view(row), case=case)


@bp.route("/exports/<uuid:export_id>/progress")
@roles(*EXPORTERS)
def export_progress(export_id):
    with runtime().session() as db:
        view = export_view(_export(db, export_id))
    keys = ("status", "status_text", "progress", "percent", "final", "size", "size_text", "total_text", "sha256",
            "error", "download_url")
    return jsonify({key: view[key] for key in keys} | {"finished_at": local(view["finished_at"])})


@bp.route("/exports/<uuid:export_id>/download")
@roles(*EXPORTERS)
def export_download(export_id):
    return download_response(runtime(), export_id)
