"""The unlinked clips queue: clips linked to no step, why (the API's queue explains each), with
filters; legal staff link a clip from its row. Those waiting longer than
linking.unlinked_after_hours (the API queue's cut-off) are marked overdue."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

import marshmallow as ma
from sqlalchemy import select

from server.auth import roles
from server.resources.fields import Text
from server.resources.queues import page_of, unlinked_clips, unlinked_view
from server.runtime import runtime
from server.web.blueprint import bp
from server.web.pages import PAGE_ROLES, Query, parse_query, render
from storage.case_models import Officer
from storage.db import utcnow
from storage.models import Clip, Station

FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2199, 12, 31)
WAITING = ("all", "overdue")


class UnlinkedQuery(Query):
    station = ma.fields.UUID(load_default=None)
    device = Text(load_default=None, validate=ma.validate.Length(max=64))
    officer = Text(load_default=None, validate=ma.validate.Length(max=64))
    received_from = ma.fields.Date(load_default=None, validate=ma.validate.Range(FIRST_DAY, LAST_DAY))
    received_to = ma.fields.Date(load_default=None, validate=ma.validate.Range(FIRST_DAY, LAST_DAY))
    waiting = ma.fields.String(load_default="all", validate=ma.validate.OneOf(WAITING))
    offset = ma.fields.Integer(load_default=0, validate=ma.validate.Range(0, 10**9))


def _day_start(day: date, zone) -> datetime:
    return datetime.combine(day, time.min, tzinfo=zone)


def unlinked_statement(settings, query: dict, now: datetime):
    """The API queue's clips (server/resources/queues.py) with the page's filters."""
    statement = unlinked_clips()
    if query["waiting"] == "overdue":
        statement = statement.where(Clip.received_at <= now - timedelta(hours=settings.linking.unlinked_after_hours))
    if query["station"] is not None:
        statement = statement.where(Clip.station_id == str(query["station"]))
    if query["device"]:
        statement = statement.where(Clip.device_serial == query["device"].strip())
    if query["officer"]:
        statement = statement.where(Clip.officer_id == query["officer"].strip())
    if query["received_from"] is not None:
        statement = statement.where(Clip.received_at >= _day_start(query["received_from"], settings.zone))
    if query["received_to"] is not None:
        statement = statement.where(
            Clip.received_at < _day_start(query["received_to"] + timedelta(days=1), settings.zone))
    return statement


@bp.route("/unlinked")
@roles(*PAGE_ROLES)
def unlinked():
    query = parse_query(UnlinkedQuery())
    settings = runtime().settings
    now = utcnow()
    limit = settings.web.page_size
    overdue_after = settings.linking.unlinked_after_hours

    def view(row) -> dict:
        item = unlinked_view(row, now)
        return {**item, "status": row.Clip.status, "overdue": item["waiting_hours"] >= overdue_after}
    with runtime().session() as db:
        page = page_of(db, unlinked_statement(settings, query, now), {"limit": limit, "offset": query["offset"]}, view)
        stations = db.execute(select(Station.id, Station.name).order_by(Station.name)).all()
        officer_codes = {item["officer_id"] for item in page["items"] if item["officer_id"]}
        officers = dict(db.execute(select(Officer.code, Officer.name).where(Officer.code.in_(officer_codes))).all())
    return render("unlinked.html.j2", page=page, query=query, stations=stations, station_names=dict(stations),
                  officers=officers, overdue_after=f"{overdue_after:g}")
