"""The linking rule and clock correction as pure functions (no database)."""
from datetime import datetime, timedelta, timezone

import pytest

from workers.linking import clock, rules

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=timezone.utc)
FIVE_MIN = timedelta(minutes=5)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def clip(start, end, serial="DEV1", officer=None, assignments=()):
    return rules.ClipFacts("c", serial, officer, at(start), at(end), tuple(assignments))


def step(start, end, officers=(), devices=(), buffer=FIVE_MIN):
    return rules.StepFacts("s", "case", at(start), at(end), buffer, frozenset(officers), frozenset(devices))


def test_officer_from_metadata_links_when_the_interval_overlaps():
    reason = rules.match(clip(10, 20, officer="A1"), step(15, 40, officers=["A1"]))
    assert reason.rule == "officer"
    assert reason.overlap_seconds == 10 * 60  # 10:00-20:00 within the widened 10:00-45:00
    assert reason.details["officers"] == {"A1": "metadata"}
    assert reason.details["step_overlap_seconds"] == 5 * 60


def test_officer_from_the_assignment_at_recording_time():
    signed_out = rules.Assignment("B2", at(-60), at(30))
    reason = rules.match(clip(10, 20, assignments=[signed_out]), step(0, 30, officers=["B2"]))
    assert reason.rule == "officer" and reason.details["officers"] == {"B2": "assignment"}


def test_an_assignment_that_ended_before_the_recording_does_not_count():
    earlier = rules.Assignment("B2", at(-60), at(5))
    assert rules.match(clip(10, 20, assignments=[earlier]), step(0, 30, officers=["B2"])) is None


def test_an_open_assignment_counts():
    still_out = rules.Assignment("B2", at(-60), None)
    assert rules.match(clip(10, 20, assignments=[still_out]), step(0, 30, officers=["B2"])) is not None


def test_metadata_and_assignment_agreeing_is_reported_as_both():
    reason = rules.match(clip(10, 20, officer="B2", assignments=[rules.Assignment("B2", at(0), None)]),
                         step(0, 30, officers=["B2"]))
    assert reason.details["officers"] == {"B2": "both"}


def test_device_on_the_step_links_even_without_an_officer():
    reason = rules.match(clip(10, 20, serial="DEV9"), step(0, 30, devices=["DEV9"]))
    assert reason.rule == "device" and reason.details["device"] == "DEV9"


def test_officer_and_device_together():
    reason = rules.match(clip(10, 20, serial="DEV9", officer="A1"), step(0, 30, officers=["A1"], devices=["DEV9"]))
    assert reason.rule == "officer+device"


def test_nobody_in_common_means_no_link():
    assert rules.match(clip(10, 20, serial="DEV1", officer="A1"), step(0, 30, officers=["Z9"], devices=["DEV2"])) is None


@pytest.mark.parametrize("start,end,linked", [
    (-10, -5.5, False),  # ends 30 s before the widened window opens
    (-10, -4, True),  # reaches 1 min into the buffer
    (34, 40, True),  # starts within the buffer after the end
    (35.5, 40, False),  # starts after the buffer
    (-5, -5, True),  # an instant (duration unknown) on the window's edge
    (35, 35, True),
    (35.1, 35.1, False),
    (-6, -5, False),  # ends exactly where the window opens: no overlap
])
def test_the_buffer_widens_the_step_on_both_sides(start, end, linked):
    assert (rules.match(clip(start, end, officer="A1"), step(0, 30, officers=["A1"])) is not None) is linked


def test_buffer_zero_needs_a_real_overlap():
    assert rules.match(clip(-3, -1, officer="A1"), step(0, 30, officers=["A1"], buffer=timedelta(0))) is None
    assert rules.match(clip(-3, 1, officer="A1"), step(0, 30, officers=["A1"], buffer=timedelta(0))) is not None


def report(device_minutes, offset):
    return clock.Report(f"r{device_minutes}", at(device_minutes), offset)


def test_the_report_in_force_is_the_docking_after_the_recording():
    device_clock = clock.DeviceClock([report(600, 30.0), report(0, 5.0), report(1440, 60.0)])
    assert device_clock.in_force(at(300)).offset_seconds == 30.0
    assert device_clock.in_force(at(600)).offset_seconds == 30.0
    assert device_clock.in_force(at(-100)).offset_seconds == 5.0
    assert device_clock.in_force(at(2000)).offset_seconds == 60.0  # none after: the latest before
    assert clock.DeviceClock([]).in_force(at(0)) is None


def test_correction_subtracts_the_offset_and_adds_the_duration():
    start, end, offset = clock.corrected(at(10), 90.0, report(60, 120.0))
    assert (start, end, offset) == (at(8), at(9.5), 120.0)
    start, end, offset = clock.corrected(at(10), None, None)
    assert (start, end, offset) == (at(10), at(10), None)


def test_times_at_the_edge_of_the_calendar_are_left_uncorrected():
    late = datetime(9999, 12, 31, 23, 59, tzinfo=timezone.utc)
    assert clock.corrected(late, 600.0, report(0, -120.0)) == (late, late, None)
    early = datetime(1, 1, 1, 0, 1, tzinfo=timezone.utc)
    assert clock.corrected(early, 5.0, report(0, 120.0)) == (early, early + timedelta(seconds=5), None)


def test_a_step_or_clip_at_the_edge_of_the_calendar_still_gets_an_answer():
    late = datetime(9999, 12, 31, 23, 58, tzinfo=timezone.utc)
    edge = rules.StepFacts("s", "case", late, late, FIVE_MIN, frozenset({"A1"}))
    assert edge.window == (late - FIVE_MIN, rules.FOREVER)
    assert rules.match(rules.ClipFacts("c", None, "A1", late, late), edge) is not None
    assert rules.match(clip(0, 10, officer="A1"), edge) is None
