"""The tus 1.0 endpoint at /api/v1/uploads: core protocol plus creation,
creation-with-upload, termination, checksum and expiration. Stations only.

Receipts ride on the final response (and on HEAD of a completed upload) as
`X-Clip-Id`, `X-Clip-Sha256`, `X-Clip-Sm3`, `X-Clip-Size` and `X-Clip-Stored-At`.
"""
from __future__ import annotations

from email.utils import format_datetime

import marshmallow as ma
from flask import current_app, jsonify, make_response, request
from flask.views import MethodView
from flask_smorest import Blueprint

from ingest import locks, uploads
from ingest.hash_cache import HashCache
from ingest.metadata import MetadataError, clip_metadata
from server.auth import current_principal, public, roles
from server.i18n import t
from server.runtime import runtime

TUS_VERSION = "1.0.0"
EXTENSIONS = "creation,creation-with-upload,termination,checksum,expiration"
OFFSET_STREAM = "application/offset+octet-stream"

blp = Blueprint("uploads", __name__, url_prefix="/uploads",
                description="Resumable uploads (tus 1.0) from collection stations and mobile clients")


class CreateHeaders(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    upload_length = ma.fields.Integer(required=True, data_key="Upload-Length", validate=ma.validate.Range(min=0))
    upload_metadata = ma.fields.String(load_default=None, data_key="Upload-Metadata")


class PatchHeaders(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    upload_offset = ma.fields.Integer(required=True, data_key="Upload-Offset", validate=ma.validate.Range(min=0))
    upload_checksum = ma.fields.String(load_default=None, data_key="Upload-Checksum")


def _headers(schema: ma.Schema) -> dict:
    try:
        return schema.load(dict(request.headers))
    except ma.ValidationError as exc:
        detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.normalized_messages().items())
        raise uploads.UploadError(400, "upload.metadata", detail=detail) from None


def _cache() -> HashCache:
    return current_app.extensions["fullrecord_hash_cache"]


def _tus_response(status: int, **headers):
    response = make_response("", status)
    response.headers.update({k.replace("_", "-"): str(v) for k, v in headers.items()})
    return response


def _progress_headers(upload) -> dict:
    return {"Upload-Offset": upload.upload_offset, "Upload-Length": upload.length,
            "Upload-Expires": format_datetime(upload.expires_at, usegmt=True)}


def _receipt_headers(receipt) -> dict:
    if receipt is None:
        return {}
    return {"X-Clip-Id": receipt.clip_id, "X-Clip-Sha256": receipt.sha256, "X-Clip-Sm3": receipt.sm3,
            "X-Clip-Size": receipt.size, "X-Clip-Stored-At": receipt.stored_at.isoformat()}


def _limit_stalls(idle_seconds: float) -> None:
    """A client that stops sending mid-body must not hold a server thread forever."""
    sock = request.environ.get("gunicorn.socket")
    if sock is not None:
        sock.settimeout(idle_seconds)


def _write(upload, offset: int, checksum):
    """Receive a body and, when the file is whole, complete it. Holds the upload's lock."""
    rt, cache = runtime(), _cache()
    _limit_stalls(rt.settings.uploads.idle_timeout_seconds)
    owner = locks.new_owner()
    if not locks.acquire(rt.session, upload.id, owner, rt.settings.uploads.lock_lease_seconds):
        raise uploads.UploadError(423, "upload.locked")
    try:
        upload = uploads.find(rt, upload.id, upload.station_id)
        if upload.status == "completed":
            if offset != upload.upload_offset:
                raise uploads.UploadError(409, "upload.offset_mismatch", given=offset, expected=upload.upload_offset)
            return upload, uploads.receipt_for(rt, upload)
        new_offset = uploads.receive(rt, cache, upload, offset, request.stream, checksum,
                                     rt.settings.object_store.chunk_size, owner)
        upload.upload_offset = new_offset
        receipt = None
        if new_offset == upload.length:
            receipt = uploads.complete(rt, cache, upload, request.remote_addr)
        return upload, receipt
    finally:
        locks.release(rt.session, upload.id, owner)


@blp.route("")
class Uploads(MethodView):
    @public
    def options(self):
        """tus discovery: version, extensions, limits."""
        return _tus_response(204, Tus_Version=TUS_VERSION, Tus_Extension=EXTENSIONS,
                             Tus_Max_Size=runtime().settings.uploads.max_size,
                             Tus_Checksum_Algorithm=",".join(uploads.CHECKSUM_ALGORITHMS))

    @roles("station")
    def post(self):
        """Create an upload (Upload-Length, Upload-Metadata); a body is its first bytes."""
        rt = runtime()
        headers = _headers(CreateHeaders())
        try:
            metadata = clip_metadata(headers["upload_metadata"], rt.settings.zone)
        except MetadataError as exc:
            raise uploads.UploadError(400, "upload.metadata", detail=str(exc)) from None
        upload = uploads.create(rt, current_principal().id, headers["upload_length"], metadata,
                                request.remote_addr)
        receipt = None
        has_body = request.content_length or request.headers.get("Transfer-Encoding")
        if request.content_type == OFFSET_STREAM and has_body or upload.length == 0:
            upload, receipt = _write(upload, 0, uploads.parse_checksum(request.headers.get("Upload-Checksum")))
        response = _tus_response(201, Location=f"{request.base_url.rstrip('/')}/{upload.id}",
                                 **_progress_headers(upload), **_receipt_headers(receipt))
        return response


@blp.route("/<uuid:upload_id>")
class UploadResource(MethodView):
    @roles("station")
    def head(self, upload_id):
        """Where the upload stands; completes it first if every byte is already here."""
        rt = runtime()
        upload = uploads.find(rt, str(upload_id), current_principal().id)
        receipt = uploads.receipt_for(rt, upload)
        if upload.status == "receiving" and upload.upload_offset == upload.length:
            try:  # every byte is here but no receipt yet (a crash or an unavailable store): finish it
                upload, receipt = _write(upload, upload.length, None)
            except uploads.UploadError as exc:
                if exc.status != 423:  # being completed by another request right now: just report
                    raise
        return _tus_response(200, Cache_Control="no-store", **_progress_headers(upload),
                             **_receipt_headers(receipt))

    @roles("station")
    def get(self, upload_id):
        """The upload as JSON: progress, status and, once complete, the clip."""
        rt = runtime()
        upload = uploads.find(rt, str(upload_id), current_principal().id)
        receipt = uploads.receipt_for(rt, upload)
        return jsonify(id=upload.id, status=upload.status, offset=upload.upload_offset, length=upload.length,
                       progress=round(upload.upload_offset / upload.length, 4) if upload.length else 1.0,
                       filename=upload.filename, expires_at=upload.expires_at.isoformat(),
                       clip_id=receipt.clip_id if receipt else None, error=upload.error)

    @roles("station")
    def patch(self, upload_id):
        """Append bytes at Upload-Offset (Content-Type application/offset+octet-stream)."""
        if request.content_type != OFFSET_STREAM:
            raise uploads.UploadError(415, "upload.content_type")
        headers = _headers(PatchHeaders())
        checksum = uploads.parse_checksum(headers["upload_checksum"])
        upload = uploads.find(runtime(), str(upload_id), current_principal().id)
        upload, receipt = _write(upload, headers["upload_offset"], checksum)
        return _tus_response(204, **_progress_headers(upload), **_receipt_headers(receipt))

    @roles("station")
    def delete(self, upload_id):
        """Terminate an unfinished upload and remove its partial data."""
        rt = runtime()
        upload = uploads.find(rt, str(upload_id), current_principal().id)
        owner = locks.new_owner()
        if not locks.acquire(rt.session, upload.id, owner, rt.settings.uploads.lock_lease_seconds):
            raise uploads.UploadError(423, "upload.locked")
        try:
            uploads.terminate(rt, _cache(), upload)
        finally:
            locks.release(rt.session, upload.id, owner)
        return _tus_response(204)


def _upload_error(error: uploads.UploadError):
    response = jsonify(code=error.status, status="Upload Error", message=t(error.key, **error.values))
    response.status_code = error.status
    if error.status == 412:
        response.headers["Tus-Version"] = TUS_VERSION
    return response


@blp.before_request
def _require_version():
    if request.method != "OPTIONS" and request.headers.get("Tus-Resumable") != TUS_VERSION:
        raise uploads.UploadError(412, "upload.version")


@blp.after_request
def _tus_resumable(response):
    response.headers["Tus-Resumable"] = TUS_VERSION
    return response


def init_app(app) -> None:
    app.extensions["fullrecord_hash_cache"] = HashCache()
    app.register_error_handler(uploads.UploadError, _upload_error)
