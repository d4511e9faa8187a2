"""A clip's facts as the pages show them: hashes, size, raw and corrected times with the clock
offset, processing state, derivatives and how they were made, custody events in order."""
from __future__ import annotations

import re
import shlex

from markupsafe import Markup, escape

from server.resources.clips import processing_state
from server.web.chain_words import View, Words

SUMMARY_SKIPPED = frozenset({"user_agent", "argv", "checks", "object_key", "sm3", "role", "tool_version"})
"""Details too long, too technical or shown elsewhere on the page for the one-line summary (the
export bundle has them all)."""
SUMMARY_LENGTH = 200
HEX_DIGEST = re.compile(r"^[0-9a-f]{40,128}$")
SHELL_SAFE = re.compile(r"[\w@%+=:,./-]+", re.ASCII)
"""What shlex.quote leaves as it is."""


def seconds_text(value: float | None) -> str:
    """1:02:03 / 2:03 / 3.5 s."""
    if value is None:
        return "—"
    if abs(value) < 60:
        return f"{value:.1f} s"
    hours, rest = divmod(round(value), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def size_text(size: int) -> str:
    units = ("B", "KiB", "MiB", "GiB", "TiB")
    value, unit = float(size), 0
    while value >= 1024 and unit < len(units) - 1:
        value, unit = value / 1024, unit + 1
    return f"{size:,} B" if unit == 0 else f"{value:.1f} {units[unit]} ({size:,} B)"


def command_text(argv: list | None) -> str:
    """The argv as one shell line (quoted only where needed, which is rare)."""
    words = [str(a) for a in argv or []]
    if all(words) and SHELL_SAFE.fullmatch("/".join(words)):  # "/" is safe: all of them are
        return " ".join(words)
    return shlex.join(words)


def _value(value) -> str:
    if isinstance(value, str):
        return value[:12] + "…" if len(value) >= 40 and HEX_DIGEST.match(value) else value
    if isinstance(value, (list, tuple)):
        return "–".join(map(str, value)) if len(value) <= 4 else f"[{len(value)}]"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def details_summary(details: dict | None) -> str:
    """One line of an event's details: its short facts, digests shortened."""
    parts = [f"{key}={_value(value)}" for key, value in (details or {}).items()
             if key not in SUMMARY_SKIPPED and value is not None and value != "" and not isinstance(value, dict)
             and value != []]
    text = ", ".join(parts)
    return text if len(text) <= SUMMARY_LENGTH else text[:SUMMARY_LENGTH] + "…"


class CustodyRows:
    """Custody events as table rows (HTML, every value escaped), made as the events are read: a
    large case has thousands, and a template loop over them cost several times more. The texts
    of actions and actors are escaped once each."""

    ROW = ('<tr class="action-{action}"><td class="num">{seq}</td><td class="nowrap">{at}</td><td>{action_text}</td>'
           '<td>{actor}{source}</td><td class="summary">{summary}</td></tr>\n')

    def __init__(self, actors: dict, words: Words):
        self.names, self.words = actors, words
        self._actions: dict[str, tuple] = {}
        self._actors: dict[tuple, Markup] = {}

    def _action(self, action: str) -> tuple:
        found = self._actions.get(action)
        if found is None:
            found = self._actions[action] = (escape(action), escape(self.words.label("action", action)))
        return found

    def _actor(self, kind: str, actor_id: str) -> Markup:
        found = self._actors.get((kind, actor_id))
        if found is None:
            name = self.names.get((kind, actor_id), actor_id)
            found = self._actors[(kind, actor_id)] = escape(f"{self.words.label('actor', kind)} {name}")
        return found

    def row(self, event) -> str:
        action, action_text = self._action(event.action)
        source = f' <span class="muted">{escape(event.source_address)}</span>' if event.source_address else ""
        return self.ROW.format(action=action, seq=int(event.seq), at=self.words.local(event.occurred_at),
                               action_text=action_text, actor=self._actor(event.actor_type, event.actor_id),
                               source=source, summary=escape(details_summary(event.details)))


class DerivativeRows:
    """Derivatives as table rows (HTML, every value escaped): what each is, its size and hashes,
    and how it was made (the exact command and tool version), made as they are read like the
    custody rows. `link(derivative)` gives the URL of its file, or the kind is not a link."""

    ROW = ('<tr><td>{kind}{profile}<div class="muted small">{content_type} · {created}</div></td>'
           '<td class="num">{size}</td><td class="hash">SHA-256 {sha256}{sm3}{source}</td>'
           '<td><code class="command">{command}</code><div class="muted small">{tool}{checks}</div></td></tr>\n')

    def __init__(self, words: Words, link=None):
        self.words, self.link = words, link
        self.checks_label = escape(words("web.chain.checks"))

    def row(self, d, original_sha256: str) -> str:
        words = self.words
        kind = escape(words.label("derivative", d.kind))
        if self.link is not None:
            kind = f'<a href="{escape(self.link(d))}">{kind}</a>'
        checks = ", ".join(f"{k}={v}" for k, v in sorted((d.checks or {}).items()) if not isinstance(v, (dict, list)))
        source = "" if d.source_sha256 == original_sha256 else (
            f'<br><span class="fail-text">{escape(words("web.chain.other_source", sha256=d.source_sha256))}</span>')
        return self.ROW.format(
            kind=kind, profile=f' <span class="muted">{escape(d.profile)}</span>' if d.profile else "",
            content_type=escape(d.content_type), created=words.local(d.created_at), size=escape(size_text(d.size)),
            sha256=escape(d.sha256), sm3=f"<br>SM3 {escape(d.sm3)}" if d.sm3 else "", source=source,
            command=escape(command_text(d.argv) or "—"), tool=escape((d.tool_version or "").split("\n", 1)[0]),
            checks=f" · {self.checks_label}: {escape(checks)}" if checks else "")


def clip_view(record, officers: dict, words: Words) -> View:
    """Everything shown of a clip (server.web.chain_load.ClipRecord)."""
    clip = record.clip
    state, progress = processing_state(record.steps)
    obstructed = sum(i.end_seconds - i.start_seconds for i in record.obstructions)
    offset = clip.clock_offset_seconds
    return View({
        "id": clip.id, "filename": clip.filename, "device_serial": clip.device_serial or "?",
        "officer_id": clip.officer_id, "officer_name": officers.get(clip.officer_id or "", ""),
        "sha256": clip.sha256, "sm3": clip.sm3, "size": clip.size, "size_text": size_text(clip.size),
        "recorded_at": clip.recorded_at, "received_at": clip.received_at,
        "corrected_start": clip.corrected_start, "corrected_end": clip.corrected_end, "offset": offset,
        "offset_text": words("web.chain.no_clock_report") if offset is None
        else words("web.chain.offset_value", seconds=f"{offset:+.3f}"),
        "duration": clip.duration_seconds, "duration_text": seconds_text(clip.duration_seconds),
        "status": clip.status, "status_text": words.label("clip_status", clip.status),
        "kind": clip.media_kind, "held": clip.held, "retain_until": clip.retain_until, "deleted_at": clip.deleted_at,
        "flags": clip.flags or {},
        "processing": View({"state": state, "state_text": words.label("processing", state), "progress": progress,
                            "percent": round(progress * 100), "steps": record.steps}),
        "derivative_count": len(record.derivative_rows), "derivative_rows": Markup("".join(record.derivative_rows)),
        "obstructions": [View({"start": i.start_seconds, "end": i.end_seconds, "reason": i.reason,
                               "reason_text": words.label("obstruction", i.reason),
                               "text": f"{seconds_text(i.start_seconds)} – {seconds_text(i.end_seconds)}"})
                         for i in record.obstructions],
        "obstructed_text": seconds_text(obstructed) if record.obstructions else None,
        "event_count": len(record.custody), "custody_rows": Markup("".join(record.custody)),
    })
