"""Plain-words explanations of a step result (StepResult.as_dict), in the reader's language and
time zone: each reason and each clip gets a `text`."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from server.i18n import MESSAGES


def local_time(iso: str | None, zone: ZoneInfo) -> str:
    if not iso:
        return "?"
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def _number(value) -> str:
    if isinstance(value, float):
        return f"{value:.1f}".rstrip("0").rstrip(".") if abs(value) < 1e6 else f"{value:.0f}"
    return str(value)


def _fill(key: str, language: str, zone: ZoneInfo, params: dict) -> str:
    values = {k: (local_time(v, zone) if k.endswith("_at") else _number(v)) for k, v in params.items()}
    return MESSAGES[key][language].format_map(_Missing(values))


class _Missing(dict):
    def __missing__(self, key: str) -> str:
        return "?"


def reason_text(reason: dict, language: str, zone: ZoneInfo) -> str:
    return _fill(f"audit.reason.{reason['code']}", language, zone, reason.get("params") or {})


def clip_text(clip: dict, language: str, zone: ZoneInfo) -> str:
    link = clip.get("link") or {}
    params = {"covered_seconds": clip.get("covered_seconds"), "kind": clip.get("kind") or "?",
              "decided_by": link.get("decided_by") or "?", "reason": link.get("reason") or "?"}
    text = _fill(f"audit.clip.{clip['why']}", language, zone, params)
    if clip.get("late_hours") is not None:
        text += _fill("audit.clip.late", language, zone, {"late_hours": clip["late_hours"]})
    return text


def explained(result: dict, language: str, zone: ZoneInfo) -> dict:
    """A copy of the result with `text` on every reason and clip and `status_text`."""
    out = dict(result)
    out["status_text"] = MESSAGES[f"audit.status.{result['status']}"][language]
    out["requirement_text"] = MESSAGES[f"audit.requirement.{result['rule']['requirement']}"][language]
    out["reasons"] = [{**r, "text": reason_text(r, language, zone)} for r in result.get("reasons", [])]
    out["clips"] = [{**c, "text": clip_text(c, language, zone)} for c in result.get("clips", [])]
    return out


def summary_line(result: dict, language: str, zone: ZoneInfo) -> str:
    """The reasons of a result as one line (CSV, tables)."""
    return " ".join(reason_text(r, language, zone) for r in result.get("reasons", [])
                    if r["severity"] in ("fail", "warning"))
