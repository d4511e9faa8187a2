"""Completeness audits (全过程记录稽核): start one over a period, unit, officer or case (a worker
runs it), follow its progress, read its summary and findings with their reasons in the reader's
language, download it as JSON, CSV or a standalone HTML report; and the live audit of one case.

Who: inspectors and administrators start audits; legal staff may read them too."""
from __future__ import annotations

import tempfile
from zoneinfo import ZoneInfo

import marshmallow as ma
from flask import send_file
from flask.views import MethodView
from flask_smorest import abort
from sqlalchemy import select

from server.auth import current_principal, roles
from server.i18n import request_language, t
from server.operations.audits import start_run
from server.resources.fields import Text
from server.resources.queues import PageQuery, page_of, page_schema
from server.resources.responses import Blueprint
from server.runtime import runtime
from storage.audit_models import CHANGES, RUN_KINDS, RUN_STATUSES, STEP_STATUSES, AuditFinding, AuditRun
from storage.case_models import Case
from workers.audit import schedule
from workers.audit.explain import explained
from workers.audit.reports import CONTENT_TYPES, FORMATS, file_name, write_report
from workers.audit.run import audit_case

blp = Blueprint("audits", __name__, description="Full-process-record completeness audits (全过程记录稽核)")

READERS = ("admin", "legal", "inspector")
RUNNERS = ("admin", "inspector")
SPOOL_BYTES = 16 << 20
"""Reports larger than this are written to a temporary file before they are sent."""
LANG = ma.fields.String(load_default=None, validate=ma.validate.OneOf(("zh-CN", "en")),
                        metadata={"description": "Language of the texts (default: Accept-Language, then zh-CN)"})


class AuditRequest(ma.Schema):
    period_from = ma.fields.Date(required=True, data_key="from",
                                 metadata={"description": "First day (local date, YYYY-MM-DD) of steps' start"})
    period_to = ma.fields.Date(required=True, data_key="to", metadata={"description": "Last day, inclusive"})
    unit = Text(load_default=None, metadata={"description": "Unit code: its cases and those of its sub-units"})
    officer = Text(load_default=None, metadata={"description": "Badge number: the steps this officer was on"})
    case = Text(load_default=None, metadata={"description": "Case id, or case number if only one agency uses it"})


class RunQuery(PageQuery):
    kind = ma.fields.String(load_default=None, validate=ma.validate.OneOf(RUN_KINDS))
    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf(RUN_STATUSES))


class FindingsQuery(PageQuery):
    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf(STEP_STATUSES))
    change = ma.fields.String(load_default=None, validate=ma.validate.OneOf(CHANGES))
    unit = Text(load_default=None, metadata={"description": "The case's own unit code"})
    step_type = Text(load_default=None)
    case = Text(load_default=None, metadata={"description": "Case number"})
    lang = LANG


class LangQuery(ma.Schema):
    lang = LANG


class ReportQuery(ma.Schema):
    format = ma.fields.String(load_default="html", validate=ma.validate.OneOf(FORMATS))
    lang = LANG


class RunSchema(ma.Schema):
    id = ma.fields.String()
    kind = ma.fields.String(metadata={"description": "nightly, api or cli"})
    status = ma.fields.String(metadata={"description": "queued, running, done or failed"})
    progress = ma.fields.Float(metadata={"description": "0..1, by steps judged"})
    steps_total = ma.fields.Integer(allow_none=True)
    steps_done = ma.fields.Integer()
    period_from = ma.fields.Date(data_key="from")
    period_to = ma.fields.Date(data_key="to")
    timezone = ma.fields.String()
    unit_code = ma.fields.String(allow_none=True)
    officer_code = ma.fields.String(allow_none=True)
    case_id = ma.fields.String(allow_none=True)
    requested_by = ma.fields.String()
    previous_run_id = ma.fields.String(allow_none=True)
    error = ma.fields.String(allow_none=True)
    created_at = ma.fields.AwareDateTime()
    started_at = ma.fields.AwareDateTime(allow_none=True)
    finished_at = ma.fields.AwareDateTime(allow_none=True)


class RunDetailSchema(RunSchema):
    rules = ma.fields.Dict(metadata={"description": "The rules applied, per step type"})
    custody = ma.fields.Dict(metadata={"description": "What the run knew of the custody log"})
    summary = ma.fields.Dict(metadata={"description": "Totals; by_unit, by_officer, by_step_type, weekly"})
    diff = ma.fields.Dict(metadata={"description": "Compared with the previous run of the same scope"})
    reports = ma.fields.Method("report_links")

    def report_links(self, run: AuditRun) -> dict:
        return {fmt: f"/api/v1/audits/{run.id}/report?format={fmt}" for fmt in FORMATS}


class StepResultSchema(ma.Schema):
    """A step's result with every reason and clip explained (`text`)."""

    class Meta:
        unknown = ma.INCLUDE

    step = ma.fields.Dict()
    rule = ma.fields.Dict()
    status = ma.fields.String(metadata={"description": "pass, warning, fail or not_required"})
    status_text = ma.fields.String()
    requirement_text = ma.fields.String()
    covered_share = ma.fields.Float()
    covered_seconds = ma.fields.Float()
    longest_gap = ma.fields.Dict(allow_none=True)
    devices = ma.fields.List(ma.fields.Dict())
    devices_counted = ma.fields.Integer()
    late_uploads = ma.fields.Integer()
    reasons = ma.fields.List(ma.fields.Dict(), metadata={"description": "code, severity, params, text"})
    clips = ma.fields.List(ma.fields.Dict(), metadata={"description": "Each clip considered: counted, why, text"})


class FindingSchema(StepResultSchema):
    change = ma.fields.String(allow_none=True, metadata={"description": "newly_failing, still_failing, new or fixed"})


class CaseAuditSchema(ma.Schema):
    case_id = ma.fields.String()
    case_number = ma.fields.String()
    steps = ma.fields.List(ma.fields.Nested(StepResultSchema))


def _run(session, run_id) -> AuditRun:
    run = session.get(AuditRun, str(run_id))
    if run is None:
        abort(404, message=t("audit.not_found", id=run_id))
    return run


def _language(query) -> str:
    return query.get("lang") or request_language()


@blp.route("/audits")
class Audits(MethodView):
    @roles(*RUNNERS)
    @blp.arguments(AuditRequest)
    @blp.response(202, RunSchema)
    def post(self, body):
        """Start an audit of the steps that started in the period (local dates, inclusive), optionally
        of one unit (with sub-units), officer or case. A worker runs it; follow GET /audits/{id}."""
        rt = runtime()
        principal = current_principal()
        with rt.session() as session, session.begin():
            run = start_run(session, rt.settings, kind="api", requested_by=f"{principal.kind}:{principal.name}",
                            period_from=body["period_from"], period_to=body["period_to"], unit=body["unit"],
                            officer=body["officer"], case=body["case"])
        schedule.enqueue(rt.settings, rt.redis(), run.id)  # after the commit; the sweeper retries if Redis is away
        return run, 202, {"Location": f"/api/v1/audits/{run.id}"}

    @roles(*READERS)
    @blp.arguments(RunQuery, location="query")
    @blp.response(200, page_schema("AuditRunsPage", RunSchema))
    def get(self, query):
        """Audit runs, newest first (the nightly ones among them)."""
        statement = select(AuditRun).order_by(AuditRun.created_at.desc(), AuditRun.id)
        if query["kind"]:
            statement = statement.where(AuditRun.kind == query["kind"])
        if query["status"]:
            statement = statement.where(AuditRun.status == query["status"])
        with runtime().session() as session:
            return page_of(session, statement, query, lambda row: row.AuditRun)


@blp.route("/audits/<uuid:run_id>")
class AuditResource(MethodView):
    @roles(*READERS)
    @blp.response(200, RunDetailSchema)
    def get(self, run_id):
        """A run: its progress, the rules it applied, its summary and how it differs from the run before."""
        with runtime().session() as session:
            return _run(session, run_id)


@blp.route("/audits/<uuid:run_id>/findings")
class AuditFindings(MethodView):
    @roles(*READERS)
    @blp.arguments(FindingsQuery, location="query")
    @blp.response(200, page_schema("AuditFindingsPage", FindingSchema))
    def get(self, query, run_id):
        """The steps that failed or drew a warning (and those fixed since the previous run), in start
        order, each with its reasons and every clip considered, in the reader's language."""
        language = _language(query)
        with runtime().session() as session:
            run = _run(session, run_id)
            zone = ZoneInfo(run.timezone)
            statement = (select(AuditFinding).where(AuditFinding.run_id == run.id)
                         .order_by(AuditFinding.started_at, AuditFinding.step_id))
            for key, column in (("status", AuditFinding.status), ("change", AuditFinding.change),
                                ("unit", AuditFinding.unit_code), ("step_type", AuditFinding.step_type),
                                ("case", AuditFinding.case_number)):
                if query[key] is not None:
                    statement = statement.where(column == query[key])
            return page_of(session, statement, query,
                         lambda row: {**explained(row.AuditFinding.result, language, zone),
                                      "change": row.AuditFinding.change})


@blp.route("/audits/<uuid:run_id>/report")
class AuditReport(MethodView):
    @roles(*READERS)
    @blp.arguments(ReportQuery, location="query")
    @blp.doc(responses={"200": {"description": "The report file", "content": {
        "application/json": {"schema": {"type": "object"}}, "text/csv": {}, "text/html": {}}}})
    @blp.errors(409)
    def get(self, query, run_id):
        """The run as a file: json, csv (UTF-8, opens in Excel) or html (a standalone report with charts);
        409 while the run is not done."""
        return report_response(run_id, query["format"], _language(query))


def report_response(run_id, fmt: str, language: str, status_text=str):
    """The finished run as a file attachment (409 while it is not done; `status_text` names its status)."""
    with runtime().session() as session:
        run = _run(session, run_id)
        if run.status != "done":
            abort(409, message=t("audit.not_done", id=run.id, status=status_text(run.status),
                                 percent=round((run.progress or 0) * 100)))
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
        write_report(session, run, fmt, spool, language)
        name = file_name(run, fmt)
    spool.seek(0)
    return send_file(spool, mimetype=CONTENT_TYPES[fmt], as_attachment=True, download_name=name)


@blp.route("/cases/<uuid:case_id>/audit")
class CaseAudit(MethodView):
    @roles(*READERS)
    @blp.arguments(LangQuery, location="query")
    @blp.response(200, CaseAuditSchema)
    def get(self, query, case_id):
        """Every step of the case judged now (not stored), passing and paper-only steps included."""
        rt = runtime()
        language = _language(query)
        zone = ZoneInfo(rt.settings.timezone)
        with rt.session() as session:
            case = session.get(Case, str(case_id))
            if case is None:
                abort(404, message=t("casework.case_not_found", id=case_id))
            results = audit_case(session, rt.settings, case.id)
            return {"case_id": case.id, "case_number": case.case_number,
                    "steps": [explained(result.as_dict(), language, zone) for result in results]}
