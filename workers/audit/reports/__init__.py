"""Reports of a stored audit run: JSON for machines, CSV for spreadsheets, and a standalone HTML
file with charts for people (it opens in a browser without the server).

Each writer reads the run's findings in step order with a streaming query and writes each one as
it is read, so memory stays bounded however many findings a run has. Times are shown in the
run's time zone, texts in the reader's language (zh-CN or en)."""
from __future__ import annotations

import json
from datetime import date, datetime, timezone
from typing import BinaryIO, Iterator
from zoneinfo import ZoneInfo

from sqlalchemy import Text, cast, func, select

from server.i18n import LANGUAGES, t
from storage.audit_models import AuditFinding, AuditRun
from storage.case_models import Unit
from workers.audit.explain import explained

FORMATS = ("json", "csv", "html")
CONTENT_TYPES = {"json": "application/json", "csv": "text/csv; charset=utf-8", "html": "text/html; charset=utf-8"}
YIELD_PER = 100
"""Findings fetched from the database at a time."""
FLUSH_CHARS = 64 * 1024
"""Text collected before it is encoded and written out."""


def file_name(run: AuditRun, fmt: str) -> str:
    return f"audit-{run.period_from.isoformat()}_{run.period_to.isoformat()}-{run.id[:8]}.{fmt}"


def write_report(session, run: AuditRun, fmt: str, out: BinaryIO, language: str = "zh-CN") -> None:
    """Write the run's report in `fmt` (one of FORMATS) to the binary stream `out`, as UTF-8."""
    # imported here: the writers use this module's helpers
    from workers.audit.reports import csv_report, html_report, json_report
    writers = {"json": json_report.write, "csv": csv_report.write, "html": html_report.write}
    if fmt not in writers:
        raise ValueError(f"unknown report format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}; expected one of {', '.join(LANGUAGES)}")
    sink = TextSink(out)
    writers[fmt](session, run, sink, language)
    sink.flush()


class TextSink:
    """A text stream over a binary one: collects text and writes it as UTF-8 in large pieces."""

    def __init__(self, out: BinaryIO):
        self.out = out
        self.parts: list[str] = []
        self.size = 0

    def write(self, text: str) -> None:
        self.parts.append(text)
        self.size += len(text)
        if self.size >= FLUSH_CHARS:
            self.flush()

    def flush(self) -> None:
        if self.parts:
            self.out.write("".join(self.parts).encode("utf-8"))
            self.parts, self.size = [], 0


# -- reading -------------------------------------------------------------------------------------

def findings(session, run: AuditRun, language: str) -> Iterator[dict]:
    """The run's findings in step order, each explained (workers.audit.explain) in `language` and
    the run's time zone, with `change` (a code or None) and `change_text`.

    The results are fetched as JSON text and decoded one at a time: a fetched batch then holds
    compact strings rather than the dicts (several times larger) that the JSON type would build."""
    zone = ZoneInfo(run.timezone)
    rows = session.execute(
        select(AuditFinding.change, cast(AuditFinding.result, Text)).where(AuditFinding.run_id == run.id)
        .order_by(AuditFinding.started_at, AuditFinding.step_id).execution_options(yield_per=YIELD_PER))
    for change, text in rows:
        item = explained(json.loads(text), language, zone)
        item["change"] = change
        item["change_text"] = t(f"audit.change.{change}", language) if change else ""
        yield item


def count_findings(session, run: AuditRun) -> int:
    return session.scalar(select(func.count()).select_from(AuditFinding).where(AuditFinding.run_id == run.id)) or 0


def unit_names(session) -> dict[str, str]:
    """Every unit's name by code (a city has tens of units, not thousands)."""
    return dict(session.execute(select(Unit.code, Unit.name)).all())


# -- presenting ----------------------------------------------------------------------------------

def iso(value) -> str | None:
    """A date as YYYY-MM-DD, a datetime as ISO 8601 UTC (…Z), like the times in a step result."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def local(value, zone: ZoneInfo) -> str:
    """A datetime or an ISO 8601 string in `zone`; '' when there is none."""
    if not value:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def run_fields(run: AuditRun) -> dict:
    return {"id": run.id, "kind": run.kind, "status": run.status, "period_from": iso(run.period_from),
            "period_to": iso(run.period_to), "timezone": run.timezone, "unit_code": run.unit_code,
            "officer_code": run.officer_code, "case_id": run.case_id, "requested_by": run.requested_by,
            "created_at": iso(run.created_at), "started_at": iso(run.started_at),
            "finished_at": iso(run.finished_at), "rules": run.rules or {}, "custody": run.custody or {},
            "previous_run_id": run.previous_run_id}


def step_type_name(rules: dict, code: str, language: str) -> str:
    """The step type's name from the run's rules when they carry one (name_zh / name_en), with its code."""
    rule = (rules or {}).get(code) or {}
    name = rule.get("name_zh" if language == "zh-CN" else "name_en") or rule.get("name")
    return f"{name} ({code})" if name else code


def named(code: str | None, names: dict[str, str]) -> str:
    if not code:
        return ""
    name = names.get(code)
    return f"{code} {name}" if name else code


def percent(share: float | None) -> str:
    return "—" if share is None else f"{share * 100:.1f}%"


def devices_text(result: dict) -> str:
    """Recorders counted, and for a continuous step the number required: '1/2'."""
    rule = result.get("rule") or {}
    counted = result.get("devices_counted", 0)
    return f"{counted}/{rule.get('min_devices', 1)}" if rule.get("requirement") == "continuous" else str(counted)


def clips_text(result: dict) -> str:
    """Clips linked (considered) / counted: '3/1'."""
    clips = result.get("clips") or []
    return f"{len(clips)}/{sum(1 for c in clips if c.get('counted'))}"
