"""What the stations page shows of each collection station, read with one grouped query per
figure for all the stations of a page (never a query per station): uploads still in progress and
clips not yet through processing (backlog), clips received in the last hour and day (rate), the
latest clock measurement of every recorder docked there (offsets), and what went wrong in the
last day (rejected uploads, alerts on its clips) with the latest message. The station agent's own
report of its local backlog is on the station row itself (no query of its own)."""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import case, func, select

from server.i18n import MESSAGES, t
from storage.device_models import ClockReport
from storage.ingest_models import Upload
from storage.models import Clip, Device, Station
from storage.processing_models import Alert

DAY = timedelta(hours=24)
HOUR = timedelta(hours=1)
CLOCKS_SHOWN = 5
"""Recorders listed per station: the largest offsets first."""
BAD_CLIP_STATUSES = ("integrity_failed", "unplayable")
FAILED_SHOWN = 3
"""Failed files (with their reasons) shown per station from its agent's report."""
WAITING_STATES = ("pending", "hashing", "ready", "uploading")
"""The agent's files not yet done (and not failed): its local backlog."""


def _count(condition):
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _bytes(condition, size):
    return func.coalesce(func.sum(case((condition, size), else_=0)), 0)


def _uploads(session, ids: list[str], since: datetime) -> dict:
    receiving = Upload.status == "receiving"
    rejected = (Upload.status == "rejected") & (Upload.updated_at >= since)
    rows = session.execute(
        select(Upload.station_id, _count(receiving).label("open"),
               _bytes(receiving, Upload.length - Upload.upload_offset).label("missing"),
               func.min(case((receiving, Upload.updated_at))).label("oldest"),
               _count(rejected).label("rejected"))
        .where(Upload.station_id.in_(ids), Upload.status.in_(("receiving", "rejected")))
        .group_by(Upload.station_id))
    return {row.station_id: row for row in rows}


def _clips(session, ids: list[str], now: datetime) -> dict:
    day, hour = Clip.received_at >= now - DAY, Clip.received_at >= now - HOUR
    rows = session.execute(
        select(Clip.station_id,
               _count(Clip.status == "received").label("unverified"),
               _count(Clip.status == "verified").label("unprocessed"),
               _count(Clip.status.in_(BAD_CLIP_STATUSES)).label("bad"),
               _count(day).label("day"), _bytes(day, Clip.size).label("day_bytes"),
               _count(hour).label("hour"), _bytes(hour, Clip.size).label("hour_bytes"))
        .where(Clip.station_id.in_(ids)).group_by(Clip.station_id))
    return {row.station_id: row for row in rows}


def _clocks(session, ids: list[str], large_offset: float) -> dict[str, list]:
    """The latest clock report of every recorder measured at each station."""
    ranked = (select(ClockReport.station_id, ClockReport.device_id, ClockReport.offset_seconds,
                     ClockReport.station_time,
                     func.row_number().over(partition_by=(ClockReport.station_id, ClockReport.device_id),
                                            order_by=(ClockReport.station_time.desc(), ClockReport.id.desc()))
                     .label("n"))
              .where(ClockReport.station_id.in_(ids)).subquery())
    rows = session.execute(select(ranked.c.station_id, Device.serial, ranked.c.offset_seconds, ranked.c.station_time)
                           .join(Device, Device.id == ranked.c.device_id).where(ranked.c.n == 1))
    found: dict[str, list] = defaultdict(list)
    for row in rows:
        found[row.station_id].append({"serial": row.serial, "offset": row.offset_seconds, "at": row.station_time,
                                      "large": abs(row.offset_seconds) > large_offset})
    for reports in found.values():
        reports.sort(key=lambda report: (-abs(report["offset"]), report["serial"]))
    return found


def _alerts(session, ids: list[str], since: datetime) -> dict:
    rows = session.execute(
        select(Clip.station_id, func.count(Alert.id).label("count"))
        .join(Clip, Clip.id == Alert.clip_id)
        .where(Clip.station_id.in_(ids), Alert.created_at >= since).group_by(Clip.station_id))
    return {row.station_id: row.count for row in rows}


def _latest(session, statement, partition, order) -> dict:
    """The first row per `partition` of `statement` by `order` (a window, not a query per station)."""
    ranked = statement.add_columns(func.row_number().over(partition_by=partition, order_by=order).label("n")).subquery()
    return {row.station_id: row for row in session.execute(select(ranked).where(ranked.c.n == 1))}


def _latest_problems(session, ids: list[str], since: datetime) -> tuple[dict, dict]:
    uploads = _latest(session, select(Upload.station_id, Upload.filename, Upload.error, Upload.updated_at.label("at"))
                      .where(Upload.station_id.in_(ids), Upload.status == "rejected", Upload.updated_at >= since),
                      Upload.station_id, (Upload.updated_at.desc(), Upload.id.desc()))
    alerts = _latest(session, select(Clip.station_id, Clip.filename, Alert.code, Alert.details,
                                     Alert.severity, Alert.created_at.label("at"))
                     .join(Clip, Clip.id == Alert.clip_id)
                     .where(Clip.station_id.in_(ids), Alert.created_at >= since),
                     Clip.station_id, (Alert.created_at.desc(), Alert.id.desc()))
    return uploads, alerts


def _message(upload, alert) -> dict | None:
    """The newer of the latest rejected upload and the latest alert, as text."""
    choices = []
    if upload is not None:
        choices.append({"at": upload.at, "file": upload.filename,
                        "text": t("web.stations.rejected_upload", file=upload.filename)})
    if alert is not None:
        key = f"alert.{alert.code}"
        text = t(key, **(alert.details or {})) if key in MESSAGES else alert.code
        choices.append({"at": alert.at, "file": alert.filename, "text": text})
    return max(choices, key=lambda item: item["at"]) if choices else None


def _instant(value) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None


def _agent(station: Station, now: datetime, stale_after: timedelta) -> dict | None:
    """The agent's latest report as the page shows it; None when it never reported."""
    report, at = station.agent_report, station.agent_reported_at
    if not report or at is None:
        return None
    files = {state: int((report.get("files") or {}).get(state) or 0) for state in (*WAITING_STATES, "done", "failed")}
    failed = [item for item in report.get("failed") or [] if isinstance(item, dict)]
    return {
        "reported_at": at, "minutes_ago": max(0, int((now - at).total_seconds() // 60)),
        "stale": now - at > stale_after,
        "files": files, "waiting": sum(files[state] for state in WAITING_STATES),
        "backlog_bytes": int(report.get("backlog_bytes") or 0),
        "oldest_waiting_since": _instant(report.get("oldest_waiting_since")),
        "failed_count": files["failed"], "failed": failed[:FAILED_SHOWN],
        "last_error": report.get("last_error"), "version": report.get("agent_version"),
        "hostname": report.get("hostname"), "watch_dir": report.get("watch_dir"),
    }


def station_rows(session, stations: list[Station], now: datetime, web) -> list[dict]:
    """`web`: settings.web (station_stale_minutes, clock_offset_flag_seconds)."""
    ids = [station.id for station in stations]
    if not ids:
        return []
    since = now - DAY
    uploads, clips, clocks = _uploads(session, ids, since), _clips(session, ids, now), _clocks(session, ids, web.clock_offset_flag_seconds)
    alerts = _alerts(session, ids, since)
    latest_upload, latest_alert = _latest_problems(session, ids, since)
    stale_after = timedelta(minutes=web.station_stale_minutes)
    rows = []
    for station in stations:
        upload, clip = uploads.get(station.id), clips.get(station.id)
        reports = clocks.get(station.id, [])
        seen = station.last_seen_at
        rows.append({
            "station": station,
            "minutes_ago": None if seen is None else max(0, int((now - seen).total_seconds() // 60)),
            "stale": seen is None or now - seen > stale_after,
            "uploads_open": upload.open if upload else 0, "bytes_missing": upload.missing if upload else 0,
            "oldest_upload": upload.oldest if upload else None,
            "unverified": clip.unverified if clip else 0, "unprocessed": clip.unprocessed if clip else 0,
            "bad_clips": clip.bad if clip else 0,
            "day": clip.day if clip else 0, "day_bytes": clip.day_bytes if clip else 0,
            "hour": clip.hour if clip else 0, "hour_bytes": clip.hour_bytes if clip else 0,
            "clocks": reports[:CLOCKS_SHOWN], "clocks_total": len(reports),
            "clocks_large": sum(1 for report in reports if report["large"]),
            "rejected": upload.rejected if upload else 0, "alerts": alerts.get(station.id, 0),
            "latest_problem": _message(latest_upload.get(station.id), latest_alert.get(station.id)),
            "agent": _agent(station, now, stale_after),
        })
    return rows
