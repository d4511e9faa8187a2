"""Evidence bundle exports for legal staff: start one for a case (a worker builds it), follow its
progress, download the finished zip. Starting and downloading are custody events.

Who: legal staff, and administrators (who may already download every original one by one).
"""
from __future__ import annotations

from urllib.parse import quote

import marshmallow as ma
from flask import Response, request
from flask.views import MethodView
from flask_smorest import abort
from sqlalchemy import select

from server.auth import current_principal, roles
from server.i18n import t
from server.resources.responses import Blueprint
from server.runtime import runtime
from server.web.blueprint import WEB
from storage.bundle.excerpt import in_custody_transaction
from storage.case_models import Case
from storage.custody import append_events
from storage.custody_models import Export
from storage.models import CustodyEvent
from workers import exports as jobs

blp = Blueprint("exports", __name__, description="Evidence bundles (证据包) of cases, for court")

EXPORTERS = ("legal", "admin")


class ExportRequest(ma.Schema):
    include_review = ma.fields.Boolean(load_default=False, metadata={
        "description": "Also copy the review copies (the originals are always in)"})


class ExportSchema(ma.Schema):
    id = ma.fields.String()
    case_id = ma.fields.String()
    requested_by = ma.fields.String()
    include_review = ma.fields.Boolean()
    status = ma.fields.String(metadata={"description": "queued, running, done or failed"})
    progress = ma.fields.Float(metadata={"description": "0..1, by bytes copied and stored"})
    total_bytes = ma.fields.Integer(allow_none=True, metadata={"description": "Bytes of recordings in the bundle"})
    size = ma.fields.Integer(allow_none=True, metadata={"description": "Size of the zip"})
    sha256 = ma.fields.String(allow_none=True, metadata={"description": "SHA-256 of the zip"})
    checkpoint_count = ma.fields.Integer(allow_none=True, metadata={
        "description": "Custody events covered by the signed checkpoint in the bundle"})
    error = ma.fields.String(allow_none=True, metadata={"description": "Why it failed"})
    attempts = ma.fields.Integer()
    created_at = ma.fields.AwareDateTime()
    finished_at = ma.fields.AwareDateTime(allow_none=True)
    download = ma.fields.Method("download_url", allow_none=True)

    def download_url(self, export: Export) -> str | None:
        if export.status == "done" and export.object_key:
            return f"/api/v1/exports/{export.id}/download"
        return None


def _export(session, export_id) -> Export:
    export = session.get(Export, str(export_id))
    if export is None:
        abort(404, message=t("export.not_found", id=export_id))
    return export


@blp.route("/cases/<uuid:case_id>/exports")
class CaseExports(MethodView):
    @roles(*EXPORTERS)
    @blp.arguments(ExportRequest, required=False)
    @blp.response(202, ExportSchema)
    def post(self, body, case_id):
        """Start an evidence bundle of the case: a worker copies the originals (re-checking their
        hashes), the case, its links and custody excerpt with a signed checkpoint, and the verifier."""
        export = start_export(runtime(), str(case_id), body["include_review"])
        return export, 202, {"Location": f"/api/v1/exports/{export.id}"}

    @roles(*EXPORTERS)
    @blp.response(200, ExportSchema(many=True))
    def get(self, case_id):
        """The case's exports, newest first."""
        with runtime().session() as session:
            if session.get(Case, str(case_id)) is None:
                abort(404, message=t("casework.case_not_found", id=case_id))
            return session.scalars(select(Export).where(Export.case_id == str(case_id))
                                   .order_by(Export.created_at.desc())).all()


@blp.route("/exports/<uuid:export_id>")
class ExportResource(MethodView):
    @roles(*EXPORTERS)
    @blp.response(200, ExportSchema)
    def get(self, export_id):
        """Status, progress, size, SHA-256 and, if it failed, why."""
        with runtime().session() as session:
            return _export(session, export_id)


@blp.route("/exports/<uuid:export_id>/download")
class ExportDownload(MethodView):
    @roles(*EXPORTERS)
    @blp.doc(responses={"200": {"description": "The zip", "content": {"application/zip": {}}}})
    @blp.errors(409)
    def get(self, export_id):
        """The bundle (application/zip); a `bundle_downloaded` custody event for the case and each clip.
        409 while it is not finished, when it failed, or when the command line made it (not stored)."""
        return download_response(runtime(), export_id)


def start_export(rt, case_id: str, include_review: bool) -> Export:
    """A queued Export row for the case (404 if there is none), handed to the workers after the commit."""
    principal = current_principal()
    with rt.session() as session, session.begin():
        if session.get(Case, case_id) is None:
            abort(404, message=t("casework.case_not_found", id=case_id))
        export = Export(case_id=case_id, requested_by=f"{principal.kind}:{principal.name}",
                        include_review=include_review, status="queued", progress=0.0, attempts=0)
        session.add(export)
    jobs.enqueue(rt.settings, rt.redis(), export.id)  # after the commit; the sweeper retries if Redis is away
    return export


def download_response(rt, export_id) -> Response:
    """The finished bundle as an attachment, its download recorded first (409 if there is none to give)."""
    with rt.session() as session:
        export = _export(session, export_id)
        case_number = session.scalar(select(Case.case_number).where(Case.id == export.case_id))
    if export.status == "failed":
        abort(409, message=t("export.failed", id=export.id, error=export.error))
    if export.status != "done":
        abort(409, message=t("export.not_ready", id=export.id, status=export.status,
                             percent=round(100 * export.progress)))
    if not export.object_key:
        abort(409, message=t("export.not_stored", id=export.id))
    if not rt.store.exists(export.object_key):
        abort(409, message=t("export.store_missing", id=export.id, key=export.object_key))
    _record_download(rt, export)
    response = Response(rt.store.get(export.object_key), content_type="application/zip",
                        direct_passthrough=True)
    name = quote(f"{case_number}-{export.id}.zip", safe="")
    response.headers.update({"Content-Length": str(export.size), "ETag": f'"{export.sha256}"',
                             "Cache-Control": "private, no-store",
                             "Content-Disposition": f"attachment; filename*=UTF-8''{name}"})
    return response


def _record_download(rt, export: Export) -> None:
    """Written before a byte is sent: a download that could not be recorded is not served."""
    principal = current_principal()
    via = "web" if request.blueprint == WEB else "api"
    details = {"export_id": export.id, "sha256": export.sha256, "size": export.size, "via": via,
               "role": principal.role, "user_agent": request.headers.get("User-Agent", "")[:200]}
    base = {"actor_type": principal.kind, "actor_id": principal.id, "source_address": request.remote_addr,
            "action": "bundle_downloaded", "case_id": export.case_id, "details": details}

    def work(session) -> None:
        exported = session.scalars(select(CustodyEvent).where(
            CustodyEvent.action == "exported", CustodyEvent.case_id == export.case_id,
            CustodyEvent.clip_id.is_not(None))).all()
        clips = sorted({event.clip_id for event in exported if (event.details or {}).get("export_id") == export.id})
        append_events(session, [{**base, "clip_id": None}, *({**base, "clip_id": clip_id} for clip_id in clips)])
    in_custody_transaction(rt, work)
