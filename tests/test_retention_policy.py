"""The retention policy as a pure function of a clip's facts and config.yaml's rules."""
from datetime import datetime, timedelta, timezone

import pytest

from server.settings import RetentionSettings
from storage.retention import CaseFact, ClipFacts, HoldFact, REASONS, add_years, decide

RECEIVED = datetime(2026, 1, 10, 8, 0, tzinfo=timezone.utc)
NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)
PERMANENT = RetentionSettings(field_recording_days=183, evidence_permanent=True, closed_case_years=10)
UNTIL_CLOSED = RetentionSettings(field_recording_days=183, evidence_permanent=False, closed_case_years=10)


def case(number="玄城管罚〔2026〕1号", status="open", closed_at=None):
    return CaseFact(f"id-{number}", number, status, closed_at)


def hold(reason="诉讼中", set_at=RECEIVED):
    return HoldFact("hold-1", reason, "user:legal-1", set_at)


def test_unlinked_footage_is_kept_the_field_recording_days_then_deletable():
    decision = decide(ClipFacts(RECEIVED), PERMANENT)
    assert decision.retain_until == RECEIVED + timedelta(days=183)
    assert not decision.held and decision.open_cases == ()
    assert [reason.code for reason in decision.reasons] == ["field_recording"]
    assert decision.deletable(NOW)
    assert not decision.deletable(RECEIVED + timedelta(days=182))


def test_evidence_is_held_permanently_whatever_its_cases_status():
    for status, closed in (("open", None), ("closed", RECEIVED + timedelta(days=1))):
        decision = decide(ClipFacts(RECEIVED, (case(status=status, closed_at=closed),)), PERMANENT)
        assert decision.held
        assert decision.retain_until == RECEIVED + timedelta(days=183)  # the hold, not a date, keeps it
        assert not decision.deletable(NOW + timedelta(days=365 * 100))
        assert "evidence_permanent" in [reason.code for reason in decision.reasons]


def test_without_permanence_evidence_is_kept_until_its_last_case_closed_plus_n_years():
    first, second = datetime(2026, 3, 1, tzinfo=timezone.utc), datetime(2027, 6, 30, tzinfo=timezone.utc)
    decision = decide(ClipFacts(RECEIVED, (case("A", "closed", second), case("B", "closed", first))), UNTIL_CLOSED)
    assert decision.retain_until == datetime(2037, 6, 30, tzinfo=timezone.utc)  # the longest rule wins
    assert not decision.held
    assert not decision.deletable(datetime(2037, 6, 29, tzinfo=timezone.utc))
    assert decision.deletable(datetime(2037, 6, 30, tzinfo=timezone.utc))
    assert [reason.code for reason in decision.reasons] == ["field_recording", "case_closed", "case_closed"]


def test_a_case_closed_soon_after_receipt_does_not_shorten_the_field_period():
    rules = RetentionSettings(field_recording_days=183, evidence_permanent=False, closed_case_years=0)
    decision = decide(ClipFacts(RECEIVED, (case("A", "closed", RECEIVED + timedelta(days=1)),)), rules)
    assert decision.retain_until == RECEIVED + timedelta(days=183)


def test_without_permanence_an_open_case_blocks_deletion_with_an_object_hold():
    decision = decide(ClipFacts(RECEIVED, (case("A", "closed", RECEIVED), case("B", "open"))), UNTIL_CLOSED)
    assert decision.held and decision.open_cases == ("B",)
    assert not decision.deletable(NOW + timedelta(days=365 * 50))


def test_a_closed_case_without_a_closing_time_counts_as_open():
    decision = decide(ClipFacts(RECEIVED, (case("A", "closed", None),)), UNTIL_CLOSED)
    assert decision.held and decision.open_cases == ("A",)


def test_an_open_legal_hold_holds_even_unlinked_footage():
    decision = decide(ClipFacts(RECEIVED, holds=(hold(),)), PERMANENT)
    assert decision.held and not decision.deletable(NOW)
    assert decision.reasons[-1].code == "legal_hold"
    assert "诉讼中" in decision.reasons[-1].text("zh-CN") and "user:legal-1" in decision.reasons[-1].text("en")


def test_applied_retention_is_never_shortened_by_a_looser_policy():
    decision = decide(ClipFacts(RECEIVED), PERMANENT)
    applied = RECEIVED + timedelta(days=400)  # e.g. set while the clip was evidence of a closed case
    assert decision.expiry(applied) == applied
    assert not decision.deletable(RECEIVED + timedelta(days=300), applied)
    assert decision.deletable(applied, applied)


def test_reasons_read_in_both_languages_and_the_expiry_is_explained():
    decision = decide(ClipFacts(RECEIVED, (case("A", "closed", datetime(2026, 3, 1, tzinfo=timezone.utc)),)),
                      UNTIL_CLOSED)
    closed = decision.reasons[1]
    assert closed.text("en") == ("Evidence in case A, closed 2026-03-01 00:00 UTC: kept 10 years after closing, "
                                 "until 2036-03-01 00:00 UTC.")
    assert closed.text("zh-CN").startswith("作为案件 A 的证据")
    why = decision.why_deletable()
    assert why[0].code == "expired" and "2036-03-01" in why[0].text("en")
    record = closed.as_dict()
    assert record["code"] == "case_closed" and record["until"] == "2036-03-01T00:00:00+00:00"
    assert set(record["text"]) == {"zh-CN", "en"}
    assert all(set(texts) == {"zh-CN", "en"} for texts in REASONS.values())


@pytest.mark.parametrize("start, years, expected", [
    (datetime(2026, 3, 1, tzinfo=timezone.utc), 10, datetime(2036, 3, 1, tzinfo=timezone.utc)),
    (datetime(2028, 2, 29, tzinfo=timezone.utc), 1, datetime(2029, 3, 1, tzinfo=timezone.utc)),
    (datetime(2026, 1, 1, tzinfo=timezone.utc), 0.5, datetime(2026, 7, 3, tzinfo=timezone.utc)),
])
def test_years_are_calendar_years_and_never_less(start, years, expected):
    assert add_years(start, years) == expected
