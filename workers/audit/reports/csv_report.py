"""The CSV report: one row per finding, UTF-8 with a byte-order mark so that Excel reads Chinese
correctly, the header in the reader's language and times in the run's time zone."""
from __future__ import annotations

import csv
from zoneinfo import ZoneInfo

from server.i18n import t
from workers.audit.explain import summary_line
from workers.audit.reports import (clips_text, devices_text, findings, local, named, step_type_name,
                                   unit_names)

COLUMNS = ("case_number", "step_id", "step_type", "unit", "officers", "started", "ended", "requirement",
           "status", "change", "covered_share", "longest_gap", "devices", "late_uploads", "clips", "reasons")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""A cell starting with one of these is a formula to a spreadsheet; such client-supplied text is
prefixed with an apostrophe so that opening the file never runs it."""


def header(language: str, zone_name: str) -> list[str]:
    return [t(f"audit.report.col.{column}", language, zone=zone_name) for column in COLUMNS]


def _text(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def row(item: dict, rules: dict, units: dict[str, str], language: str, zone: ZoneInfo) -> list:
    step = item["step"]
    gap = item.get("longest_gap")
    return [_text(step["case_number"]), step["id"], step_type_name(rules, step["type"], language),
            _text(named(step["unit_code"], units)), _text(", ".join(step.get("officers") or [])),
            local(step["started_at"], zone), local(step["ended_at"], zone), item["requirement_text"],
            item["status_text"], item["change_text"], f"{item.get('covered_share', 0.0) * 100:.1f}",
            "" if not gap else f"{gap['seconds']:g}", devices_text(item), item.get("late_uploads", 0),
            clips_text(item), summary_line(item, language, zone)]


def write(session, run, sink, language: str) -> None:
    zone = ZoneInfo(run.timezone)
    units = unit_names(session)
    sink.write("\ufeff")
    writer = csv.writer(sink)
    writer.writerow(header(language, run.timezone))
    for item in findings(session, run, language):
        writer.writerow(row(item, run.rules or {}, units, language, zone))
