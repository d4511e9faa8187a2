"""The audit dashboard for inspectors: the latest finished run (or a chosen one) with compliance by
unit, officer and step type, the runs and their progress, a form to run an audit now; a run's
findings with filters and their reasons; the run as a CSV or standalone HTML file.

Who: like the API (server/resources/audits.py): administrators, legal staff and inspectors read,
administrators and inspectors start runs."""
from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import marshmallow as ma
from flask import flash, redirect, request, session, url_for
from flask_smorest import abort
from sqlalchemy import func, select

from server.auth import current_principal, roles
from server.i18n import request_language, t
from server.operations import Refused
from server.operations.audits import start_run
from server.operations.units import subtree
from server.resources.audits import READERS, RUNNERS, report_response
from server.resources.fields import Text
from server.runtime import runtime
from server.web import audit_views as views
from server.web.blueprint import bp
from server.web.pages import Query, done, local, parse_query, refused, render
from storage.audit_models import CHANGES, STEP_STATUSES, AuditFinding, AuditRun
from storage.case_models import StepOfficer, Unit
from storage.db import utcnow
from workers.audit import schedule
from workers.audit.reports.html_report import unit_tree

PAGE_FORMATS = ("csv", "html")
BUSY = ("queued", "running")
REFRESH_SECONDS = 3
"""How often a page showing a run in progress reloads itself."""
FORM_KEY = "audit_form"
"""Session key of a refused form's values, shown again in the form."""
FORM_FIELDS = ("from", "to", "unit", "officer", "case")
DEFAULT_DAYS = 7
FILTERS = ("status", "change", "unit", "own", "step_type", "officer", "case")


def _code(**kwargs):
    return Text(load_default=None, validate=ma.validate.Length(1, 64), **kwargs)


class DashboardQuery(Query):
    run = ma.fields.UUID(load_default=None)
    offset = ma.fields.Integer(load_default=0, validate=ma.validate.Range(0, 10**9))


class FindingsQuery(Query):
    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf(STEP_STATUSES))
    change = ma.fields.String(load_default=None, validate=ma.validate.OneOf(CHANGES))
    unit = _code()
    own = ma.fields.Boolean(load_default=False)
    """Only the unit's own cases, not those of its sub-units."""
    step_type = _code()
    officer = _code()
    case = _code()
    offset = ma.fields.Integer(load_default=0, validate=ma.validate.Range(0, 10**9))


class ReportQuery(Query):
    format = ma.fields.String(load_default="html", validate=ma.validate.OneOf(PAGE_FORMATS))


class StartForm(Query):
    period_from = ma.fields.Date(required=True, data_key="from")
    period_to = ma.fields.Date(required=True, data_key="to")
    unit = _code()
    officer = _code()
    case = _code()


def _run(db, run_id) -> AuditRun:
    run = db.get(AuditRun, str(run_id))
    if run is None:
        abort(404, message=t("audit.not_found", id=run_id))
    return run


def _latest_done(db) -> AuditRun | None:
    return db.scalars(select(AuditRun).where(AuditRun.status == "done")
                      .order_by(AuditRun.finished_at.desc(), AuditRun.id).limit(1)).first()


def _may_run() -> bool:
    principal = current_principal()
    return principal is not None and principal.role in RUNNERS


def _form_values() -> dict:
    """The run-now form's values: a refused form's again, else the last DEFAULT_DAYS days."""
    values = session.pop(FORM_KEY, None)
    if values:
        return values
    today = date.fromisoformat(local(utcnow(), "%Y-%m-%d"))
    return {"from": (today - timedelta(days=DEFAULT_DAYS - 1)).isoformat(), "to": today.isoformat()}


def _unit_options(db) -> list[tuple[str, str, int]]:
    rows = [{"unit_code": code, "parent_code": parent, "name": name}
            for code, name, parent in db.execute(select(Unit.code, Unit.name, Unit.parent_code).order_by(Unit.code))]
    return [(row["unit_code"], row["name"], depth) for row, depth in unit_tree(rows)]


@bp.route("/audits")
@roles(*READERS)
def audits():
    query = parse_query(DashboardQuery())
    rt = runtime()
    settings, language, limit = rt.settings, request_language(), rt.settings.web.page_size
    with rt.session() as db:
        units = views.unit_names(db)
        chosen = _run(db, query["run"]) if query["run"] else _latest_done(db)
        runs = db.scalars(select(AuditRun).order_by(AuditRun.created_at.desc(), AuditRun.id)
                          .limit(limit).offset(query["offset"])).all()
        total = db.scalar(select(func.count()).select_from(AuditRun))
        busy = db.scalar(select(func.count()).select_from(AuditRun).where(AuditRun.status.in_(BUSY)))
        cases = views.case_numbers(db, [run.case_id for run in [*runs, chosen] if run is not None])
        may_run = _may_run()
        finished = chosen is not None and chosen.status == "done"
        return render(
            "audits.html.j2", chosen=views.headline(db, chosen, units, cases) if chosen else None,
            figures=views.compliance(db, settings, chosen, units, language) if finished else None,
            runs=[views.headline(db, run, units, cases, previous=False) for run in runs],
            page={"offset": query["offset"], "limit": limit, "total": total},
            refresh=REFRESH_SECONDS if busy else None, may_run=may_run,
            form=_form_values() if may_run else None, unit_options=_unit_options(db) if may_run else [])


@bp.route("/audits/<uuid:run_id>")
@roles(*READERS)
def audit_run(run_id):
    query = parse_query(FindingsQuery())
    rt = runtime()
    settings, language, limit = rt.settings, request_language(), rt.settings.web.page_size
    with rt.session() as db:
        run = _run(db, run_id)
        units = views.unit_names(db)
        cases = views.case_numbers(db, [run.case_id])
        findings, page = [], None
        if run.status == "done":
            statement = _findings(db, run, query)
            total = db.scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
            zone = ZoneInfo(run.timezone)
            findings = [views.finding_view(row, settings, units, language, zone)
                        for row in db.scalars(statement.limit(limit).offset(query["offset"]))]
            page = {"offset": query["offset"], "limit": limit, "total": total}
        return render("audit_run.html.j2", view=views.headline(db, run, units, cases), query=query,
                      findings=findings, page=page, choices=views.filter_choices(run, settings, units, language),
                      filtered=any(query[key] not in (None, False) for key in FILTERS),
                      refresh=REFRESH_SECONDS if run.status in BUSY else None)


def _findings(db, run: AuditRun, query: dict):
    statement = (select(AuditFinding).where(AuditFinding.run_id == run.id)
                 .order_by(AuditFinding.started_at, AuditFinding.step_id))
    for key, column in (("status", AuditFinding.status), ("change", AuditFinding.change),
                        ("step_type", AuditFinding.step_type), ("case", AuditFinding.case_number)):
        if query[key] is not None:
            statement = statement.where(column == query[key])
    if query["unit"] is not None:
        codes = [query["unit"]] if query["own"] else subtree(db, query["unit"])
        statement = statement.where(AuditFinding.unit_code.in_(codes))
    if query["officer"] is not None:
        # the step's officers now; they are what the run judged unless the step was edited since
        statement = statement.where(AuditFinding.step_id.in_(
            select(StepOfficer.step_id).where(StepOfficer.officer_code == query["officer"])))
    return statement


@bp.route("/audits", methods=["POST"])
@roles(*RUNNERS)
def audit_start():
    fields = {key: request.form.get(key, "").strip()[:100] for key in FORM_FIELDS}
    try:
        form = StartForm().load(fields)
    except ma.ValidationError as error:
        flash(_form_problem(error.messages, fields), "error")
        return _again(fields)
    rt = runtime()
    principal = current_principal()
    try:
        with rt.session() as db, db.begin():
            run = start_run(db, rt.settings, kind="api", requested_by=f"{principal.kind}:{principal.name}",
                            period_from=form["period_from"], period_to=form["period_to"], unit=form["unit"],
                            officer=form["officer"], case=form["case"])
            run_id = run.id
    except Refused as error:
        refused(error)
        return _again(fields)
    schedule.enqueue(rt.settings, rt.redis(), run_id)  # after the commit; the sweeper retries if Redis is away
    done("web.audit.started", start=form["period_from"].isoformat(), end=form["period_to"].isoformat())
    return redirect(url_for("web.audit_run", run_id=run_id), 303)


def _form_problem(messages: dict, fields: dict) -> str:
    problems = []
    for name in FORM_FIELDS:
        if name in messages:
            label = t(f"web.audit.form.{name}")
            key = "web.audit.form.missing" if not fields.get(name) else "web.audit.form.invalid"
            problems.append(t(key, field=label, value=fields.get(name, "")))
    return t("web.audit.form.refused", detail="；".join(problems) if request_language() == "zh-CN"
             else "; ".join(problems))


def _again(fields: dict):
    session[FORM_KEY] = fields
    return redirect(url_for("web.audits"), 303)


@bp.route("/audits/<uuid:run_id>/report")
@roles(*READERS)
def audit_report(run_id):
    query = parse_query(ReportQuery())
    return report_response(run_id, query["format"], request_language(),
                           lambda status: t(f"audit.report.run_status.{status}"))

