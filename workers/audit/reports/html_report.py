"""The HTML report: one standalone file (inline CSS, charts as inline SVG, no script, font or
image from anywhere) that opens in a browser without the server. Rendered by Jinja2 with
autoescape as a stream, the findings passed as a generator, so the page is written as the
findings are read."""
from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from sqlalchemy import select

from server.i18n import MESSAGES, t
from storage.case_models import Case, Officer
from storage.db import utcnow
from workers.audit.reports import (charts, clips_text, count_findings, devices_text, findings, local, named,
                                   percent, step_type_name, unit_names)

TEMPLATE = "report.html.j2"
OFFICERS_LISTED = 50
"""Officers in the table: those with the lowest rates (the JSON report has them all)."""


@lru_cache(maxsize=1)
def environment() -> Environment:
    return Environment(loader=FileSystemLoader(Path(__file__).parent), autoescape=True,
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def write(session, run, sink, language: str) -> None:
    zone = ZoneInfo(run.timezone)
    summary, rules, diff = run.summary or {}, run.rules or {}, run.diff or {}
    units = unit_names(session)

    def msg(key: str, **values) -> str:
        return t(key, language, **values)

    unit_rows = unit_tree(summary.get("by_unit") or [])
    types = summary.get("by_step_type") or []
    officers = lowest_rates(summary.get("by_officer") or [], OFFICERS_LISTED)
    names = dict(session.execute(select(Officer.code, Officer.name)
                                 .where(Officer.code.in_([o["officer_code"] for o in officers]))).all())
    context = {
        "lang": language, "zone": run.timezone, "t": msg, "num": _number, "percent": percent,
        "col": {key.rsplit(".", 1)[1]: msg(key, zone=run.timezone)
                for key in MESSAGES if key.startswith("audit.report.col.")},
        "generated": local(utcnow(), zone), "run": _run_view(session, run, units, zone, msg), "summary": summary,
        "charts": _charts(summary, rules, units, unit_rows, language),
        "unit_rows": [(row, depth, named(row["unit_code"], units)) for row, depth in unit_rows],
        "officer_rows": [(row, names.get(row["officer_code"], "")) for row in officers],
        "officers_more": max(0, len(summary.get("by_officer") or []) - len(officers)),
        "type_rows": [(row, step_type_name(rules, row["step_type"], language),
                       _requirement(rules.get(row["step_type"]), msg)) for row in types],
        "weeks": summary.get("weekly") or [],
        "diff": diff, "previous_finished": local(diff.get("previous_finished_at"), zone),
        "custody": custody_lines(run.custody or {}, zone, language),
        "rules": [(code, step_type_name(rules, code, language), _requirement(rule, msg), rule)
                  for code, rule in sorted(rules.items())],
        "finding_count": count_findings(session, run),
        "findings": (finding_view(item, rules, units, zone, language) for item in findings(session, run, language)),
    }
    for chunk in environment().get_template(TEMPLATE).generate(**context):
        sink.write(chunk)


def _charts(summary: dict, rules: dict, units: dict[str, str], unit_rows, language: str) -> list[Markup]:
    """Compliance by step type, by unit (with sub-units, as a tree) and per week, as inline SVG."""
    def msg(key: str) -> str:
        return t(key, language)

    legend = (msg("audit.status.pass"), msg("audit.status.warning"), msg("audit.status.fail"))
    empty = msg("audit.report.chart.empty")
    types = [_bar(step_type_name(rules, row["step_type"], language), row) for row in summary.get("by_step_type") or []]
    by_unit = [_bar(named(row["unit_code"], units), row["with_sub_units"], depth) for row, depth in unit_rows]
    weeks = [charts.Point(w["week"], w["compliance_rate"], f"{w['pass']}/{w['required']}" if w["required"] else "")
             for w in fill_weeks(summary.get("weekly") or [])]
    return [Markup(charts.compliance_bars(types, title=msg("audit.report.chart.by_step_type"), legend=legend,
                                          empty=empty)),
            Markup(charts.compliance_bars(by_unit, title=msg("audit.report.chart.by_unit"), legend=legend,
                                          empty=empty)),
            Markup(charts.trend_line(weeks, title=msg("audit.report.chart.weekly"), empty=empty))]


def _number(value) -> str:
    return "" if value is None else f"{value:g}" if isinstance(value, (int, float)) else str(value)


def _bar(label: str, tally: dict, depth: int = 0) -> charts.Bar:
    return charts.Bar(label, tally.get("pass", 0), tally.get("warning", 0), tally.get("fail", 0), depth)


def _requirement(rule: dict | None, msg) -> str:
    return msg(f"audit.requirement.{(rule or {}).get('requirement', 'unknown')}")


def _run_view(session, run, units, zone, msg) -> dict:
    case = session.get(Case, run.case_id) if run.case_id else None
    return {"id": run.id, "kind": msg(f"audit.report.kind.{run.kind}"),
            "status": msg(f"audit.report.run_status.{run.status}"),
            "period": f"{run.period_from.isoformat()} – {run.period_to.isoformat()}", "timezone": run.timezone,
            "unit": named(run.unit_code, units) or msg("audit.report.all"),
            "officer": run.officer_code or msg("audit.report.all"),
            "case": (case.case_number if case else run.case_id) if run.case_id else msg("audit.report.all"),
            "requested_by": run.requested_by, "created": local(run.created_at, zone),
            "started": local(run.started_at, zone), "finished": local(run.finished_at, zone)}


# -- pure helpers (tested without a database) ------------------------------------------------------

def unit_tree(by_unit: list[dict]) -> list[tuple[dict, int]]:
    """The summary's units in tree order (each unit followed by its sub-units), with their depth."""
    codes = {row["unit_code"] for row in by_unit}
    children: dict[str | None, list[dict]] = {}
    for row in by_unit:
        parent = row.get("parent_code")
        children.setdefault(parent if parent in codes else None, []).append(row)
    ordered, seen = [], set()
    stack = [(row, 0) for row in reversed(children.get(None, []))]
    while stack:
        row, depth = stack.pop()
        if row["unit_code"] in seen:
            continue
        seen.add(row["unit_code"])
        ordered.append((row, depth))
        stack.extend((child, depth + 1) for child in reversed(children.get(row["unit_code"], [])))
    # units in a parent cycle have no root to hang from; list them rather than drop them
    ordered.extend((row, 0) for row in by_unit if row["unit_code"] not in seen)
    return ordered


def lowest_rates(by_officer: list[dict], limit: int) -> list[dict]:
    """The officers with the lowest compliance rates (most failures first among equals)."""
    def key(row):
        rate = row.get("compliance_rate")
        return (2.0 if rate is None else rate, -row.get("fail", 0), row["officer_code"])
    return sorted(by_officer, key=key)[:limit]


def fill_weeks(weekly: list[dict]) -> list[dict]:
    """Every week from the first to the last, those without steps needing footage added empty
    (so that the trend line breaks there instead of joining distant weeks)."""
    if not weekly:
        return []
    known = {row["week"]: row for row in weekly}
    first, last = date.fromisoformat(weekly[0]["week"]), date.fromisoformat(weekly[-1]["week"])
    out, week = [], first
    while week <= last:
        out.append(known.get(week.isoformat()) or {"week": week.isoformat(), "required": 0, "pass": 0,
                                                   "warning": 0, "fail": 0, "compliance_rate": None})
        week += timedelta(days=7)
    return out


def custody_lines(custody: dict, zone: ZoneInfo, language: str) -> list[str]:
    if not custody:
        return []

    def msg(key: str, **values) -> str:
        return t(key, language, **values)

    if custody.get("intact"):
        lines = [msg("audit.report.custody.intact", head_seq=custody.get("head_seq", 0))]
    else:
        lines = [msg("audit.report.custody.broken", seq=custody.get("first_bad_seq"), problem=custody.get("problem"),
                     clips=custody.get("clips_affected", 0))]
    if custody.get("checkpoint_at"):
        lines.append(msg("audit.report.custody.checkpoint", time=local(custody["checkpoint_at"], zone),
                         count=custody.get("checkpoint_count", 0)))
    else:
        lines.append(msg("audit.report.custody.no_checkpoint"))
    if custody.get("open_alerts"):
        lines.append(msg("audit.report.custody.alerts", count=custody["open_alerts"]))
    return lines


def finding_view(item: dict, rules: dict, units: dict[str, str], zone: ZoneInfo, language: str) -> dict:
    """What the template shows of one explained finding."""
    step, gap = item["step"], item.get("longest_gap")
    return {
        "id": step["id"], "status": item["status"], "status_text": item["status_text"],
        "change": item["change"], "change_text": item["change_text"], "case_number": step["case_number"],
        "type": step_type_name(rules, step["type"], language),
        "unit": named(step["unit_code"], units), "officers": ", ".join(step.get("officers") or []),
        "started": local(step["started_at"], zone), "ended": local(step["ended_at"], zone),
        "requirement": item["requirement_text"], "covered": percent(item.get("covered_share")),
        "gap": f"{gap['seconds']:g} ({local(gap['from_at'], zone)} – {local(gap['to_at'], zone)})" if gap else "",
        "devices": devices_text(item), "late_uploads": item.get("late_uploads", 0), "clips_text": clips_text(item),
        "device_shares": ", ".join(f"{d.get('device_serial') or '?'} {d.get('share', 0) * 100:.0f}%"
                                   for d in item.get("devices") or []),
        "reasons": [(r["severity"], r["text"]) for r in item.get("reasons") or []],
        "clips": [clip_view(clip, zone, language) for clip in item.get("clips") or []],
    }


def clip_view(clip: dict, zone: ZoneInfo, language: str) -> dict:
    link, offset, counted = clip.get("link") or {}, clip.get("clock_offset_seconds"), bool(clip.get("counted"))
    if link.get("origin") == "manual":
        how = t("audit.report.link.manual", language, decided_by=link.get("decided_by") or "?")
    else:
        how = t("audit.report.link.auto", language)
    recorded = f"{local(clip['start_at'], zone)} – {local(clip.get('end_at'), zone)}" if clip.get("start_at") else ""
    return {"id": clip.get("clip_id", ""), "device": clip.get("device_serial") or "",
            "officer": clip.get("officer_id") or "", "recorded": recorded,
            "offset": "" if offset is None else f"{offset:g}", "received": local(clip.get("received_at"), zone),
            "status": clip.get("status", ""), "link": how, "counted": counted,
            "counted_text": t("audit.report.yes" if counted else "audit.report.no", language),
            "text": clip.get("text", "")}
