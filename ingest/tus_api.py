"""The tus 1.0 endpoint at /api/v1/uploads: core protocol plus creation,
creation-with-upload, termination, checksum and expiration. Stations only.

Receipts ride on the final response (and on HEAD of a completed upload) as
`X-Clip-Id`, `X-Clip-Sha256`, `X-Clip-Sm3`, `X-Clip-Size` and `X-Clip-Stored-At`.
"""
from __future__ import annotations

from email.utils import format_datetime

import marshmallow as ma
from flask import jsonify, make_response, request
from flask.views import MethodView

from ingest import locks, uploads
from ingest.metadata import MetadataError, clip_metadata
from server.auth import current_principal, public, roles
from server.i18n import t
from server.resources.responses import CHECKSUM_MISMATCH, Blueprint
from server.runtime import runtime

TUS_VERSION = "1.0.0"
EXTENSIONS = "creation,creation-with-upload,termination,checksum,expiration"
OFFSET_STREAM = "application/offset+octet-stream"

blp = Blueprint("uploads", __name__, url_prefix="/uploads",
                description="Resumable uploads (tus 1.0) from collection stations and mobile clients")


def _header(name: str, description: str, schema: dict | None = None, required: bool = False) -> dict:
    return {"in": "header", "name": name, "required": required, "description": description,
            "schema": schema or {"type": "string"}}


def _answer(description: str) -> dict:
    return {"description": description, "schema": {"type": "string"}}


TUS_RESUMABLE = _header("Tus-Resumable", "The tus version the client speaks", {"type": "string", "enum": [TUS_VERSION]},
                        required=True)
CREATE_PARAMETERS = [
    TUS_RESUMABLE,
    _header("Upload-Length", "Size of the whole file in bytes", {"type": "integer", "minimum": 0}, required=True),
    _header("Upload-Metadata", "Comma-separated `key base64(value)`: filename, device_id, recorded_at (ISO 8601), "
                               "sha256 (hex, whole file), officer_id (optional)"),
    _header("Upload-Checksum", "`algorithm base64(digest)` of this request's body (sha1, sha256, crc32c)"),
]
PATCH_PARAMETERS = [
    TUS_RESUMABLE,
    _header("Upload-Offset", "Where this body starts: the offset the server last acknowledged",
            {"type": "integer", "minimum": 0}, required=True),
    _header("Upload-Checksum", "`algorithm base64(digest)` of this request's body (sha1, sha256, crc32c)"),
]
BYTES_BODY = {"content": {OFFSET_STREAM: {"schema": {"type": "string", "format": "binary"}}}}
PROGRESS_HEADERS = {"Upload-Offset": _answer("Bytes stored durably so far"),
                    "Upload-Length": _answer("Size of the whole file"),
                    "Upload-Expires": _answer("When an unfinished upload is removed (RFC 7231 date)")}
RECEIPT_HEADERS = {"X-Clip-Id": _answer("Receipt, once the file is whole and its SHA-256 verified: the clip"),
                   "X-Clip-Sha256": _answer("Receipt: SHA-256 computed by the server"),
                   "X-Clip-Sm3": _answer("Receipt: SM3 computed by the server"),
                   "X-Clip-Size": _answer("Receipt: bytes stored"),
                   "X-Clip-Stored-At": _answer("Receipt: when the original was stored")}


class UploadStatusSchema(ma.Schema):
    id = ma.fields.String()
    status = ma.fields.String(metadata={"description": "receiving, completed, rejected, expired or terminated"})
    offset = ma.fields.Integer()
    length = ma.fields.Integer()
    progress = ma.fields.Float(metadata={"description": "0..1"})
    filename = ma.fields.String()
    expires_at = ma.fields.String(metadata={"description": "ISO 8601"})
    clip_id = ma.fields.String(allow_none=True, metadata={"description": "Once complete"})
    error = ma.fields.String(allow_none=True)


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


def _tus_response(status: int, **headers):
    response = make_response("", status)
    del response.headers["Content-Type"]  # no body, so no type
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
    """Receive a body and, when the file is whole, complete it. Holds the upload's lease."""
    rt = runtime()
    _limit_stalls(rt.settings.uploads.idle_timeout_seconds)
    lease = locks.acquire(rt.session, upload.id, rt.settings.uploads.lock_lease_seconds)
    if lease is None:
        raise uploads.UploadError(423, "upload.locked")
    try:
        upload = uploads.find(rt, upload.id, upload.station_id)
        if upload.status == "completed":
            if offset != upload.upload_offset:
                raise uploads.UploadError(409, "upload.offset_mismatch", given=offset, expected=upload.upload_offset)
            return upload, uploads.receipt_for(rt, upload)
        state = None
        if offset == upload.length and request.content_length:  # nothing may follow the last byte
            raise uploads.UploadError(413, "upload.body_too_long", length=upload.length)
        if offset < upload.length or upload.upload_offset != upload.length:
            _new_offset, state = uploads.receive(rt, upload, offset, request.stream, checksum,
                                                 rt.settings.object_store.chunk_size, lease)
        receipt = None
        if upload.upload_offset == upload.length:
            receipt = uploads.complete(rt, upload, lease, state, request.remote_addr)
        return upload, receipt
    finally:
        lease.release()


@blp.route("")
class Uploads(MethodView):
    @public
    @blp.response(204, description="What this server supports", headers={
        "Tus-Version": _answer(TUS_VERSION), "Tus-Extension": _answer(EXTENSIONS),
        "Tus-Max-Size": _answer("Largest file accepted, in bytes"),
        "Tus-Checksum-Algorithm": _answer("Algorithms of Upload-Checksum")})
    def options(self):
        """tus discovery: version, extensions, limits."""
        return _tus_response(204, Tus_Version=TUS_VERSION, Tus_Extension=EXTENSIONS,
                             Tus_Max_Size=runtime().settings.uploads.max_size,
                             Tus_Checksum_Algorithm=",".join(uploads.CHECKSUM_ALGORITHMS))

    @roles("station")
    @blp.doc(parameters=CREATE_PARAMETERS, requestBody={"required": False, **BYTES_BODY})
    @blp.response(201, description="Created; with a body that completed the file, the receipt too",
                  headers={"Location": _answer("The upload's URL"), **PROGRESS_HEADERS, **RECEIPT_HEADERS})
    @blp.errors(400, 412, 413, CHECKSUM_MISMATCH, 503, 507)
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
    @blp.doc(parameters=[TUS_RESUMABLE])
    @blp.response(200, description="Where it stands; the receipt once complete",
                  headers={**PROGRESS_HEADERS, **RECEIPT_HEADERS})
    @blp.errors(410, 412, CHECKSUM_MISMATCH, 503)
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
    @blp.doc(parameters=[TUS_RESUMABLE])
    @blp.response(200, UploadStatusSchema)
    @blp.errors(410, 412)
    def get(self, upload_id):
        """The upload as JSON: progress, status and, once complete, the clip."""
        rt = runtime()
        upload = uploads.find(rt, str(upload_id), current_principal().id)
        receipt = uploads.receipt_for(rt, upload)
        return {"id": upload.id, "status": upload.status, "offset": upload.upload_offset, "length": upload.length,
                "progress": round(upload.upload_offset / upload.length, 4) if upload.length else 1.0,
                "filename": upload.filename, "expires_at": upload.expires_at.isoformat(),
                "clip_id": receipt.clip_id if receipt else None, "error": upload.error}

    @roles("station")
    @blp.doc(parameters=PATCH_PARAMETERS, requestBody={"required": True, **BYTES_BODY})
    @blp.response(204, description="Stored durably; when the file is whole, the receipt",
                  headers={**PROGRESS_HEADERS, **RECEIPT_HEADERS})
    @blp.errors(400, 409, 410, 412, 413, 415, 423, CHECKSUM_MISMATCH, 503, 507)
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
    @blp.doc(parameters=[TUS_RESUMABLE])
    @blp.response(204, description="Terminated; its partial data is gone")
    @blp.errors(409, 410, 412, 423)
    def delete(self, upload_id):
        """Terminate an unfinished upload and remove its partial data."""
        rt = runtime()
        upload = uploads.find(rt, str(upload_id), current_principal().id)
        lease = locks.acquire(rt.session, upload.id, rt.settings.uploads.lock_lease_seconds)
        if lease is None:
            raise uploads.UploadError(423, "upload.locked")
        try:
            uploads.terminate(rt, upload, lease)
        finally:
            lease.release()
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
    app.register_error_handler(uploads.UploadError, _upload_error)
