"""What the audit pages show of a stored run: its headline (scope, totals, change since the run
before), compliance per unit, officer and step type as tables and inline SVG charts (the charts
of the HTML report, drawn on the server: no script), and its findings explained."""
from __future__ import annotations

from zoneinfo import ZoneInfo

from markupsafe import Markup
from sqlalchemy import select

from server.i18n import t
from storage.audit_models import CHANGES, STEP_STATUSES, AuditRun
from storage.case_models import Case, Officer, Unit
from workers.audit.explain import explained
from workers.audit.reports import charts, local, percent
from workers.audit.reports.html_report import fill_weeks, lowest_rates, unit_tree

OFFICERS_LISTED = 50
"""Officers in the dashboard's table: the lowest rates first (the reports have them all)."""
OFFICERS_CHARTED = 15
CHANGES_SHOWN = ("newly_failing", "still_failing", "new", "fixed")
OFFICER_CHOICES = 1000
"""Officer codes offered as the officer filter's suggestions."""


def unit_names(session) -> dict[str, str]:
    return dict(session.execute(select(Unit.code, Unit.name)).all())


def named(code: str | None, names: dict[str, str]) -> str:
    if not code:
        return ""
    return f"{names[code]} ({code})" if names.get(code) else code


def case_numbers(session, case_ids) -> dict[str, str]:
    wanted = {case_id for case_id in case_ids if case_id}
    if not wanted:
        return {}
    return dict(session.execute(select(Case.id, Case.case_number).where(Case.id.in_(wanted))).all())


def scope(run: AuditRun, units: dict[str, str], cases: dict[str, str]) -> dict:
    """The run's filters as text ('all' where there is none)."""
    everything = t("web.audit.scope.all")
    return {"unit": named(run.unit_code, units) or everything, "officer": run.officer_code or everything,
            "case": cases.get(run.case_id, run.case_id) if run.case_id else everything,
            "case_id": run.case_id if run.case_id in cases else None,
            "all": not (run.unit_code or run.officer_code or run.case_id)}


def headline(session, run: AuditRun, units: dict[str, str], cases: dict[str, str], previous: bool = True) -> dict:
    """A run's scope, state and totals; with `previous`, the run it was compared with."""
    summary, diff = run.summary or {}, run.diff or {}
    before = diff.get("previous_run_id") if previous else None
    return {"run": run, "scope": scope(run, units, cases), "summary": summary,
            "rate": percent(summary.get("compliance_rate")), "percent": round((run.progress or 0) * 100),
            "diff": diff, "changes": [(key, diff.get(key, 0)) for key in CHANGES_SHOWN],
            "previous": session.get(AuditRun, before) if before else None}


def filter_choices(run: AuditRun, settings, units: dict[str, str], language: str) -> dict:
    """What the drill-down's filters offer: the units, step types and officers of the run."""
    summary = run.summary or {}
    return {"statuses": STEP_STATUSES, "changes": CHANGES,
            "units": [(row["unit_code"], named(row["unit_code"], units), depth)
                      for row, depth in unit_tree(summary.get("by_unit") or [])],
            "types": sorted(((code, settings.step_type_name(code, language))
                             for code in {row["step_type"] for row in summary.get("by_step_type") or []}
                             | set(run.rules or {})), key=lambda item: item[1]),
            "officers": [row["officer_code"] for row in summary.get("by_officer") or []][:OFFICER_CHOICES]}


def _bar(label: str, tally: dict | None, depth: int = 0) -> charts.Bar:
    tally = tally or {}
    return charts.Bar(label, tally.get("pass", 0), tally.get("warning", 0), tally.get("fail", 0), depth)


def compliance(session, settings, run: AuditRun, units: dict[str, str], language: str) -> dict:
    """Tables and charts of the run's summary."""
    summary = run.summary or {}
    legend = (t("audit.status.pass"), t("audit.status.warning"), t("audit.status.fail"))
    empty = t("audit.report.chart.empty")

    def bars(items, title_key: str) -> Markup:
        return Markup(charts.compliance_bars(items, title=t(title_key), legend=legend, empty=empty))

    by_unit = [{"code": row["unit_code"], "name": named(row["unit_code"], units), "depth": depth,
                "own": row.get("own"), "all": row.get("with_sub_units") or {}}
               for row, depth in unit_tree(summary.get("by_unit") or [])]
    by_type = [{"code": row["step_type"], "name": settings.step_type_name(row["step_type"], language), "tally": row}
               for row in summary.get("by_step_type") or []]
    everyone = summary.get("by_officer") or []
    lowest = lowest_rates(everyone, OFFICERS_LISTED)
    names = dict(session.execute(select(Officer.code, Officer.name)
                                 .where(Officer.code.in_([row["officer_code"] for row in lowest]))).all())
    by_officer = [{"code": row["officer_code"], "name": names.get(row["officer_code"], ""), "tally": row}
                  for row in lowest]
    weeks = fill_weeks(summary.get("weekly") or [])
    points = [charts.Point(w["week"], w["compliance_rate"], f"{w['pass']}/{w['required']}" if w["required"] else "")
              for w in weeks]
    return {
        "by_unit": by_unit, "by_type": by_type, "by_officer": by_officer,
        "officers_more": max(0, len(everyone) - len(lowest)), "weeks": [w for w in weeks if w["required"]],
        "charts": {
            "type": bars([_bar(row["name"], row["tally"]) for row in by_type], "web.audit.chart.by_type"),
            "unit": bars([_bar(row["name"], row["all"], row["depth"]) for row in by_unit], "web.audit.chart.by_unit"),
            "officer": bars([_bar(f"{row['code']} {row['name']}".strip(), row["tally"])
                             for row in by_officer[:OFFICERS_CHARTED]],
                            "web.audit.chart.by_officer"),
            "weekly": Markup(charts.trend_line(points, title=t("web.audit.chart.weekly"), empty=empty)),
        },
    }


def finding_view(row, settings, units: dict[str, str], language: str, zone: ZoneInfo) -> dict:
    """One stored finding, explained in the reader's language and the run's time zone."""
    item = explained(row.result, language, zone)
    step = item["step"]
    gap = item.get("longest_gap")
    return {"case_id": row.case_id, "case_number": row.case_number, "step_id": row.step_id,
            "type": settings.step_type_name(row.step_type, language), "unit": named(row.unit_code, units),
            "officers": step.get("officers") or [], "started": local(step.get("started_at"), zone),
            "ended": local(step.get("ended_at"), zone),
            "status": item["status"], "status_text": item["status_text"], "change": row.change,
            "requirement": item["requirement_text"], "covered": percent(item.get("covered_share")),
            "gap_seconds": gap["seconds"] if gap else None, "reasons": item["reasons"],
            "clips": [{**clip, "recorded": local(clip.get("start_at"), zone)} for clip in item["clips"]]}
