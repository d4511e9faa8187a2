"""The cases list: search by case number, unit (with its sub-units), officer, dates and audit
status; newest first, a page at a time."""
from __future__ import annotations

from datetime import date

import marshmallow as ma

from server.auth import roles
from server.resources.fields import Text
from server.runtime import runtime
from server.web.blueprint import bp
from server.web.chain_search import AUDIT_STATUSES, search, unit_choices
from server.web.pages import PAGE_ROLES, Query, parse_query, render
from storage.case_models import CASE_STATUSES

EARLIEST, LATEST = date(1970, 1, 1), date(9000, 12, 31)
MAX_OFFSET = 10**9


def _text(size: int = 64) -> Text:
    return Text(load_default=None, validate=ma.validate.Length(max=size))


class CasesQuery(Query):
    case_number = _text()
    unit = _text()
    officer = _text()
    status = Text(load_default=None, validate=ma.validate.OneOf(CASE_STATUSES))
    date_from = ma.fields.Date(load_default=None, validate=ma.validate.Range(EARLIEST, LATEST))
    date_to = ma.fields.Date(load_default=None, validate=ma.validate.Range(EARLIEST, LATEST))
    audit = Text(load_default=None, validate=ma.validate.OneOf(AUDIT_STATUSES))
    offset = ma.fields.Integer(load_default=0, validate=ma.validate.Range(0, MAX_OFFSET))

    @ma.pre_load
    def _trimmed(self, data, **_kwargs):
        # The search form sends every field; an empty (or blank) one means "any".
        return {key: value.strip() for key, value in data.items() if isinstance(value, str) and value.strip()}

    @ma.validates_schema
    def _ordered(self, data, **_kwargs):
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise ma.ValidationError("must not be after date_to", "date_from")


@bp.route("/cases")
@roles(*PAGE_ROLES)
def cases():
    query = parse_query(CasesQuery())
    rt = runtime()
    with rt.session() as db:
        found = search(db, query, rt.settings.zone, rt.settings.web.page_size)
        units = unit_choices(db)
    return render("cases.html.j2", query=query, found=found, units=units, audit_statuses=AUDIT_STATUSES,
                  case_statuses=CASE_STATUSES)
