"""Compliance figures of a run: totals, and per unit (own cases, and with sub-units), officer,
step type and week (Monday, local time). A step's compliance counts once for every officer on it.
The rate is pass / steps needing footage; warnings are shown beside it, never counted as pass."""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from workers.audit.evaluate import StepResult


class Tally:
    __slots__ = ("required", "passed", "warnings", "failed")

    def __init__(self):
        self.required = self.passed = self.warnings = self.failed = 0

    def add(self, status: str) -> None:
        self.required += 1
        if status == "pass":
            self.passed += 1
        elif status == "warning":
            self.warnings += 1
        else:
            self.failed += 1

    def merge(self, other: "Tally") -> None:
        self.required += other.required
        self.passed += other.passed
        self.warnings += other.warnings
        self.failed += other.failed

    def as_dict(self) -> dict:
        rate = round(self.passed / self.required, 4) if self.required else None
        return {"required": self.required, "pass": self.passed, "warning": self.warnings, "fail": self.failed,
                "compliance_rate": rate}


class Aggregates:
    def __init__(self, zone: str):
        self.zone = ZoneInfo(zone)
        self.steps = 0
        self.not_required = 0
        self.totals = Tally()
        self.by_unit: dict[str, Tally] = {}
        self.by_officer: dict[str, Tally] = {}
        self.by_type: dict[str, Tally] = {}
        self.by_week: dict[str, Tally] = {}
        self.changes: dict[str, int] = {}

    def add(self, result: StepResult, change: str | None = None) -> None:
        self.steps += 1
        if change:
            self.changes[change] = self.changes.get(change, 0) + 1
        if result.status == "not_required":
            self.not_required += 1
            return
        step = result.step
        self.totals.add(result.status)
        self.by_unit.setdefault(step.unit_code, Tally()).add(result.status)
        self.by_type.setdefault(step.type, Tally()).add(result.status)
        for officer in step.officers:
            self.by_officer.setdefault(officer, Tally()).add(result.status)
        day = datetime.fromtimestamp(step.start, self.zone).date()
        week = (day - timedelta(days=day.weekday())).isoformat()
        self.by_week.setdefault(week, Tally()).add(result.status)

    def merge(self, other: "Aggregates") -> None:
        """Add the tallies of another range of steps."""
        self.steps += other.steps
        self.not_required += other.not_required
        self.totals.merge(other.totals)
        for mine, theirs in ((self.by_unit, other.by_unit), (self.by_officer, other.by_officer),
                             (self.by_type, other.by_type), (self.by_week, other.by_week)):
            for key, tally in theirs.items():
                mine.setdefault(key, Tally()).merge(tally)
        for key, count in other.changes.items():
            self.changes[key] = self.changes.get(key, 0) + count

    def _rolled_up(self, parents: dict[str, str | None]) -> dict[str, Tally]:
        rolled: dict[str, Tally] = {}
        for unit, tally in self.by_unit.items():
            seen, code = set(), unit
            while code is not None and code not in seen:
                seen.add(code)
                rolled.setdefault(code, Tally()).merge(tally)
                code = parents.get(code)
        return rolled

    def as_dict(self, parents: dict[str, str | None]) -> dict:
        rolled = self._rolled_up(parents)
        return {
            "steps": self.steps, "not_required": self.not_required, **self.totals.as_dict(),
            "by_unit": [{"unit_code": code, "own": self.by_unit[code].as_dict() if code in self.by_unit else None,
                         "with_sub_units": rolled[code].as_dict(), "parent_code": parents.get(code)}
                        for code in sorted(rolled)],
            "by_officer": [{"officer_code": code, **t.as_dict()} for code, t in sorted(self.by_officer.items())],
            "by_step_type": [{"step_type": code, **t.as_dict()} for code, t in sorted(self.by_type.items())],
            "weekly": [{"week": week, **t.as_dict()} for week, t in sorted(self.by_week.items())],
        }
