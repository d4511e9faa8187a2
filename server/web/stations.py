"""The stations page: every collection station with its last contact, backlog, upload rate, the
clock offsets of the recorders docked there and what went wrong in the last day."""
from __future__ import annotations

import marshmallow as ma
from sqlalchemy import func, select

from server.auth import roles
from server.runtime import runtime
from server.web import station_data
from server.web.blueprint import bp
from server.web.pages import PAGE_ROLES, Query, parse_query, render
from storage.db import utcnow
from storage.models import Station


class StationsQuery(Query):
    offset = ma.fields.Integer(load_default=0, validate=ma.validate.Range(0, 10**9))


def size(value: int | None) -> str:
    """Bytes as a short figure: 1.5 GB, 320 MB, 12 KB."""
    value = int(value or 0)
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if value >= scale:
            return f"{value / scale:.1f} {unit}".replace(".0 ", " ")
    return f"{value} B"


@bp.route("/stations")
@roles(*PAGE_ROLES)
def stations():
    query = parse_query(StationsQuery())
    rt = runtime()
    settings = rt.settings
    limit = settings.web.page_size
    now = utcnow()
    with rt.session() as db:
        total = db.scalar(select(func.count()).select_from(Station))
        page = db.scalars(select(Station).order_by(Station.name, Station.id).limit(limit).offset(query["offset"])).all()
        rows = station_data.station_rows(db, list(page), now, settings.web)
        return render("stations.html.j2", rows=rows, size=size, page={"offset": query["offset"], "limit": limit,
                                                                       "total": total},
                      stale_minutes=settings.web.station_stale_minutes,
                      large_offset=settings.web.clock_offset_flag_seconds)
