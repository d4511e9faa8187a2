"""The bytes of a clip: its original (download) and its derivatives (the review copy streamed
with HTTP Range so a player can seek, thumbnails). Every request is a custody event."""
from __future__ import annotations

from urllib.parse import quote

from flask import Response, request
from flask.views import MethodView
from flask_smorest import abort

from server.access import record_access
from server.auth import roles
from server.i18n import t
from server.resources.responses import Blueprint
from server.runtime import runtime
from storage.models import Clip, Derivative

blp = Blueprint("clip_files", __name__, url_prefix="/clips", description="Original and derivative files of clips")

DOWNLOADERS = ("admin", "legal")
VIEWERS = ("admin", "legal", "inspector")
DERIVATIVE_TYPES = ("video/mp4", "audio/mp4", "image/jpeg", "application/json")
"""What the workers make: review copies, posters and contact sheets, obstruction maps."""
RANGE = {"in": "header", "name": "Range", "required": False, "schema": {"type": "string"},
         "description": "One byte range, e.g. bytes=0-1048575; anything else gets the whole file"}


def file_answers(*content_types: str) -> dict:
    """The 200 and 206 answers of a file sent by `send` (410: deleted; 416: range outside the file)."""
    content = {content_type: {} for content_type in content_types}
    etag = {"ETag": {"description": "The file's SHA-256", "schema": {"type": "string"}}}
    return {"parameters": [RANGE], "responses": {
        "200": {"description": "The whole file", "content": content, "headers": etag},
        "206": {"description": "The requested byte range", "content": content, "headers": {
            **etag, "Content-Range": {"description": "bytes START-END/SIZE", "schema": {"type": "string"}}}}}}


def _clip(session, clip_id) -> Clip:
    clip = session.get(Clip, str(clip_id))
    if clip is None:
        abort(404, message=t("accounts.not_found", what="clip", id=clip_id))
    if clip.status in ("deleting", "deleted"):
        abort(410, message=t("media.deleted", id=clip.id))
    return clip


def _byte_range(size: int) -> tuple[int, int] | None:
    """(start, stop) of a single satisfiable Range, None for the whole file; 416 otherwise."""
    wanted = request.range
    if wanted is None or wanted.units != "bytes" or len(wanted.ranges) != 1:
        return None
    span = wanted.range_for_length(size)
    if span is None:
        abort(416, message=t("media.bad_range", range=request.headers.get("Range", ""), size=size),
              headers={"Content-Range": f"bytes */{size}"})
    return span


def send(key: str, size: int, content_type: str, sha256: str, action: str, clip_id: str, disposition: str,
         **details) -> Response:
    span = _byte_range(size)
    start, stop = span or (0, size)
    record_access(action, [clip_id], range=[start, stop - 1] if span else None, bytes=stop - start, sha256=sha256,
                  **details)
    chunks = runtime().store.get(key, start, stop - start) if stop > start else iter(())
    response = Response(chunks, status=206 if span else 200, content_type=content_type, direct_passthrough=True)
    response.headers.update({"Accept-Ranges": "bytes", "Content-Length": str(stop - start), "ETag": f'"{sha256}"',
                             "Cache-Control": "private, no-store", "Content-Disposition": disposition})
    if span:
        response.headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
    return response


@blp.route("/<uuid:clip_id>/original")
class Original(MethodView):
    @roles(*DOWNLOADERS)
    @blp.doc(**file_answers("application/octet-stream"))
    @blp.errors(410, 416)
    def get(self, clip_id):
        """Download the original exactly as received (Range supported); a `downloaded` custody event."""
        with runtime().session() as session:
            clip = _clip(session, clip_id)
        return send(clip.original_key, clip.size, "application/octet-stream", clip.sha256, "downloaded", clip.id,
                    f"attachment; filename*=UTF-8''{_quoted(clip.filename)}", what="original")


@blp.route("/<uuid:clip_id>/derivatives/<uuid:derivative_id>")
class DerivativeFile(MethodView):
    @roles(*VIEWERS)
    @blp.doc(**file_answers(*DERIVATIVE_TYPES))
    @blp.errors(410, 416)
    def get(self, clip_id, derivative_id):
        """A derivative (review copy, poster, contact sheet, obstruction map) inline, with Range;
        a `streamed` (review copy) or `viewed` custody event."""
        with runtime().session() as session:
            clip = _clip(session, clip_id)
            derivative = session.get(Derivative, str(derivative_id))
            if derivative is None or derivative.clip_id != clip.id:
                abort(404, message=t("accounts.not_found", what="derivative", id=derivative_id))
        action = "streamed" if derivative.kind == "review" else "viewed"
        return send(derivative.object_key, derivative.size, derivative.content_type, derivative.sha256, action,
                    clip.id, "inline", what=derivative.kind, derivative_id=derivative.id,
                    profile=derivative.profile)


def _quoted(name: str) -> str:
    return quote(name, safe="")
