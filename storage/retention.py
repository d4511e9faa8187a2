"""Retention policy: how long a clip's original must be kept, whether it must be under an
object legal hold, and why — a pure function of the clip's facts and config.yaml's `retention`.

Rules (the longest applicable one wins; retention is only ever extended, never shortened):
- every original is kept field_recording_days after it was received;
- evidence (a clip in state `linked` with a case's step):
  * evidence_permanent: kept permanently, as an object legal hold rather than an endless
    retention date, so that a mistaken link can still be undone;
  * otherwise kept until its case closed plus closed_case_years (the latest of its cases), and
    never deleted while any of its cases is open — also an object legal hold, since a
    retention date cannot say "until the case closes";
- an open legal hold set by legal staff: object legal hold until it is lifted.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

REASONS = {
    "field_recording": {
        "zh-CN": "{received_at} 接收；执法记录至少保存 {days} 天，至 {until}。",
        "en": "Received {received_at}; recordings are kept at least {days} days, until {until}.",
    },
    "evidence_permanent": {
        "zh-CN": "作为案件 {case_number} 的证据永久保存（对象存储法律保留）。",
        "en": "Evidence in case {case_number}: kept permanently (object legal hold).",
    },
    "case_open": {
        "zh-CN": "作为未结案件 {case_number} 的证据，结案前不得删除（对象存储法律保留）。",
        "en": "Evidence in open case {case_number}: not deleted while the case is open (object legal hold).",
    },
    "case_closed": {
        "zh-CN": "作为案件 {case_number} 的证据，该案于 {closed_at} 结案，结案后保存 {years} 年，至 {until}。",
        "en": "Evidence in case {case_number}, closed {closed_at}: kept {years} years after closing, until {until}.",
    },
    "legal_hold": {
        "zh-CN": "{set_by} 于 {set_at} 设置法律保留（编号 {hold_id}）：{reason}",
        "en": "Legal hold {hold_id} set by {set_by} on {set_at}: {reason}",
    },
    "store_retention": {
        "zh-CN": "对象存储中的保存期更长（例如同一内容再次接收），至 {until}。",
        "en": "The object store keeps it longer (e.g. the same content was received again), until {until}.",
    },
    "expired": {
        "zh-CN": "保存期已于 {until} 届满，未关联任何未结案件，也无法律保留：可以删除。",
        "en": "Retention ended {until}; not linked to any open case and under no legal hold: it may be deleted.",
    },
}
"""Plain-words explanation of each rule, Simplified Chinese (default) and English."""


def show_time(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC")


def add_years(start: datetime, years: float) -> datetime:
    """Calendar years (29 February + 1 year = 1 March: never less than a year), a fraction as days."""
    whole = int(years)
    try:
        moved = start.replace(year=start.year + whole)
    except ValueError:
        moved = start.replace(year=start.year + whole, month=3, day=1)
    return moved + timedelta(days=math.ceil((years - whole) * 366))


@dataclass(frozen=True)
class CaseFact:
    """A case the clip is linked with (a link in state `linked`)."""
    case_id: str
    case_number: str
    status: str
    closed_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        # A closed case without its closing time cannot start the closed-case period: keep it as open.
        return self.status != "closed" or self.closed_at is None


@dataclass(frozen=True)
class HoldFact:
    """An open legal hold on the clip."""
    hold_id: str
    reason: str
    set_by: str
    set_at: datetime


@dataclass(frozen=True)
class ClipFacts:
    received_at: datetime
    cases: tuple[CaseFact, ...] = ()
    holds: tuple[HoldFact, ...] = ()


@dataclass(frozen=True)
class Reason:
    code: str
    values: dict = field(default_factory=dict)
    until: datetime | None = None
    """The date this rule keeps the clip until; None: while it applies (a hold)."""

    def text(self, language: str = "zh-CN") -> str:
        return REASONS[self.code][language].format(**self.values)

    def as_dict(self) -> dict:
        """For custody event details: the rule, its facts and its words in both languages."""
        return {"code": self.code, **self.values, "until": self.until.isoformat() if self.until else None,
                "text": {language: self.text(language) for language in ("zh-CN", "en")}}


@dataclass(frozen=True)
class Decision:
    retain_until: datetime
    """The longest retention date of the rules that apply."""
    held: bool
    """The original (and its derivatives) must be under an object legal hold."""
    open_cases: tuple[str, ...]
    """Case numbers of open cases the clip is linked with: never deleted while there is one."""
    reasons: tuple[Reason, ...]

    def expiry(self, applied: datetime | None) -> datetime:
        """When the clip expires, given the retention already applied (which is never shortened)."""
        return max(self.retain_until, applied) if applied is not None else self.retain_until

    def deletable(self, now: datetime, applied: datetime | None = None) -> bool:
        return not self.held and not self.open_cases and self.expiry(applied) <= now

    def why_deletable(self, applied: datetime | None = None) -> tuple[Reason, ...]:
        """The expiry and the rules that ran out, for the sweeper's report and `deleted` event."""
        until = self.expiry(applied)
        return (Reason("expired", {"until": show_time(until)}, until), *self.reasons)


def decide(facts: ClipFacts, rules) -> Decision:
    """What the clip needs under `rules` (settings.retention: field_recording_days,
    evidence_permanent, closed_case_years)."""
    field_until = facts.received_at + timedelta(days=rules.field_recording_days)
    reasons = [Reason("field_recording", {"received_at": show_time(facts.received_at),
                                          "days": rules.field_recording_days, "until": show_time(field_until)},
                      field_until)]
    retain_until, held, open_cases = field_until, False, []
    for case in sorted(facts.cases, key=lambda case: case.case_number):
        if rules.evidence_permanent:
            held = True
            reasons.append(Reason("evidence_permanent", {"case_number": case.case_number, "case_id": case.case_id}))
        elif case.is_open:
            held = True
            open_cases.append(case.case_number)
            reasons.append(Reason("case_open", {"case_number": case.case_number, "case_id": case.case_id}))
        else:
            until = add_years(case.closed_at, rules.closed_case_years)
            retain_until = max(retain_until, until)
            reasons.append(Reason("case_closed", {"case_number": case.case_number, "case_id": case.case_id,
                                                  "closed_at": show_time(case.closed_at),
                                                  "years": _number(rules.closed_case_years),
                                                  "until": show_time(until)}, until))
    for hold in sorted(facts.holds, key=lambda hold: (hold.set_at, hold.hold_id)):
        held = True
        reasons.append(Reason("legal_hold", {"hold_id": hold.hold_id, "reason": hold.reason, "set_by": hold.set_by,
                                             "set_at": show_time(hold.set_at)}))
    return Decision(retain_until, held, tuple(open_cases), tuple(reasons))


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value
