"""evaluate_step and judge_clip on hand-built facts with known answers, and their explanations."""
import json
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from server.i18n import MESSAGES
from server.settings import SOURCE_CONFIG, load_settings
from workers.audit.evaluate import ClipFacts, Rule, StepFacts, evaluate_step, judge_clip
from workers.audit.explain import explained

T0 = datetime(2026, 5, 1, 1, 0, tzinfo=timezone.utc).timestamp()  # 09:00 in Shanghai
HOUR = 3600.0
NOW = T0 + 30 * 24 * HOUR  # long after every upload deadline
SHANGHAI = ZoneInfo("Asia/Shanghai")

ONE_DEVICE = Rule("continuous", min_devices=1, max_gap_seconds=30, device_min_share=0.8)
TWO_DEVICES = Rule("continuous", min_devices=2, max_gap_seconds=30, device_min_share=0.8)
RECORDED = Rule("recorded", link_buffer_minutes=5)


@pytest.fixture(scope="module")
def config():
    return load_settings(SOURCE_CONFIG, env={})


def step(start=0, end=600, type="seizure"):
    return StepFacts("S1", "C1", "2026-001", "U01", type, T0 + start, T0 + end, ("O1",))


def clip(id, first, last, device="DEV1", **facts):
    """A processed video clip recorded from T0 + first to T0 + last (seconds), uploaded a minute later."""
    values = dict(id=id, start=T0 + first, end=T0 + last, received=T0 + last + 60, status="processed", kind="video",
                  device_serial=device, raw_start=T0 + first, offset=0.0)
    values.update(facts)
    return ClipFacts(**values)


def reasons(result):
    return {r.code: (r.severity, r.params) for r in result.reasons}


def whys(result):
    return {v.clip.id: v.why for v in result.clips}


# -- continuous steps ---------------------------------------------------------------------------

def test_two_devices_covering_a_seizure_pass(config):
    rule = Rule.for_type(config, "seizure")
    assert (rule.requirement, rule.min_devices, rule.max_gap_seconds, rule.device_min_share) == \
        ("continuous", 2, 30.0, 0.8)
    result = evaluate_step(step(), [clip("a", 0, 600), clip("b", -10, 610, device="DEV2")], rule, NOW)
    assert result.status == "pass" and result.reasons == []
    assert result.covered_share == 1.0 and result.covered_seconds == 600 and result.longest_gap is None
    assert result.devices == [{"device_serial": "DEV1", "share": 1.0, "counted": True},
                              {"device_serial": "DEV2", "share": 1.0, "counted": True}]
    assert whys(result) == {"a": "counted", "b": "counted"}
    assert [v.covered_seconds for v in result.clips] == [600, 600]


def test_a_gap_longer_than_the_limit_fails_with_its_times():
    result = evaluate_step(step(), [clip("a", 0, 300), clip("b", 360, 600)], ONE_DEVICE, NOW)
    assert result.status == "fail"
    assert reasons(result) == {"gap_too_long": ("fail", {"from_at": T0 + 300, "to_at": T0 + 360,
                                                         "seconds": 60, "limit": 30})}
    assert result.longest_gap == (T0 + 300, T0 + 360)
    assert result.devices_counted == 1  # 540 of 600 s is 90%
    assert whys(result) == {"a": "counted", "b": "counted"}


def test_a_gap_of_exactly_the_limit_passes():
    result = evaluate_step(step(), [clip("a", 0, 300), clip("b", 330, 600)], ONE_DEVICE, NOW)
    assert result.status == "pass" and result.reasons == []
    assert result.longest_gap == (T0 + 300, T0 + 330)


def test_a_gap_at_the_start_of_the_step_counts_too():
    result = evaluate_step(step(), [clip("a", 40, 700)], ONE_DEVICE, NOW)
    assert result.status == "fail"
    assert reasons(result)["gap_too_long"][1]["from_at"] == T0 and reasons(result)["gap_too_long"][1]["seconds"] == 40


def test_one_device_where_two_are_required(config):
    result = evaluate_step(step(), [clip("a", 0, 600)], Rule.for_type(config, "seizure"), NOW)
    assert result.status == "fail"
    assert reasons(result) == {"too_few_devices": ("fail", {"counted": 1, "required": 2, "share_percent": 80.0,
                                                            "devices": "DEV1 100%"})}
    assert whys(result) == {"a": "counted"}


def test_a_device_covering_half_the_step_does_not_count_at_eighty_percent():
    result = evaluate_step(step(), [clip("a", 0, 600), clip("b", 0, 300, device="DEV2")], TWO_DEVICES, NOW)
    assert result.status == "fail"
    assert result.devices == [{"device_serial": "DEV1", "share": 1.0, "counted": True},
                              {"device_serial": "DEV2", "share": 0.5, "counted": False}]
    assert result.devices_counted == 1
    assert reasons(result) == {"too_few_devices": ("fail", {"counted": 1, "required": 2, "share_percent": 80.0,
                                                            "devices": "DEV1 100%, DEV2 50%"})}
    assert whys(result) == {"a": "counted", "b": "counted"}  # the clip counts, its recorder does not


def test_two_clips_of_one_device_add_up_to_its_share():
    clips = [clip("a", 0, 600), clip("b", 0, 250, device="DEV2"), clip("c", 250, 500, device="DEV2")]
    result = evaluate_step(step(), clips, TWO_DEVICES, NOW)
    assert result.status == "pass"
    assert result.devices[1] == {"device_serial": "DEV2", "share": round(500 / 600, 4), "counted": True}


def test_a_covered_lens_makes_a_gap():
    covered = clip("a", 0, 600, obstructions=((100.0, 200.0, "covered"),))
    result = evaluate_step(step(), [covered], ONE_DEVICE, NOW)
    assert result.status == "fail"
    assert reasons(result) == {
        "gap_too_long": ("fail", {"from_at": T0 + 100, "to_at": T0 + 200, "seconds": 100, "limit": 30}),
        "obstructed_time": ("info", {"seconds": 100})}
    verdict = result.clips[0]
    assert (verdict.why, verdict.covered_seconds, verdict.obstructed_seconds) == ("counted", 500, 100)
    assert result.covered_seconds == 500


def test_obstructions_are_relative_to_the_clip_start():
    late_start = clip("a", -100, 600, obstructions=((100.0, 110.0, "dark"),))  # dark from step start + 0 s
    result = evaluate_step(step(), [late_start], ONE_DEVICE, NOW)
    assert result.longest_gap == (T0, T0 + 10)
    assert result.status == "pass"


def test_a_clip_obstructed_throughout_the_step_does_not_count():
    dark = clip("a", 0, 600, obstructions=((0.0, 600.0, "dark"),))
    result = evaluate_step(step(), [dark], ONE_DEVICE, NOW)
    assert whys(result) == {"a": "obstructed"}
    assert result.clips[0].obstructed_seconds == 600
    assert reasons(result) == {"no_usable_footage": ("fail", {"clips": 1}),
                               "obstructed_time": ("info", {"seconds": 600})}
    assert result.status == "fail"


def test_a_clip_outside_the_step():
    result = evaluate_step(step(), [clip("a", 600, 900)], ONE_DEVICE, NOW)  # touches the end only
    assert whys(result) == {"a": "outside_step"}
    assert result.status == "fail" and "no_usable_footage" in reasons(result)


# -- uploads and clip states --------------------------------------------------------------------

def test_a_late_upload_counts_with_a_warning():
    late = clip("a", 0, 600, received=T0 + 600 + 30 * HOUR)
    result = evaluate_step(step(), [late], ONE_DEVICE, NOW)
    assert result.status == "warning"
    assert reasons(result) == {"late_upload": ("warning", {"clips": 1, "worst_hours": 30.0, "deadline_hours": 24.0})}
    assert result.late_uploads == 1
    assert (result.clips[0].why, result.clips[0].late_hours) == ("counted", 30.0)


def test_an_upload_at_the_deadline_is_not_late():
    result = evaluate_step(step(), [clip("a", 0, 600, received=T0 + 600 + 24 * HOUR)], ONE_DEVICE, NOW)
    assert result.status == "pass" and result.late_uploads == 0


def test_a_late_upload_does_not_soften_a_failure():
    late = clip("a", 0, 300, received=T0 + 300 + 48 * HOUR)
    result = evaluate_step(step(), [late], ONE_DEVICE, NOW)
    assert result.status == "fail"
    assert set(reasons(result)) == {"gap_too_long", "too_few_devices", "late_upload"}


@pytest.mark.parametrize("facts, why, status", [
    (dict(status="integrity_failed"), "integrity_failed", "fail"),
    (dict(status="received"), "not_verified", "warning"),
    (dict(status="verified"), "not_analysed", "warning"),
    (dict(status="unplayable"), "unplayable", "fail"),
    (dict(deleted=True), "original_missing", "fail"),
    (dict(status="deleted"), "original_missing", "fail"),
    (dict(custody_ok=False), "custody_broken", "fail"),
    (dict(kind="audio"), "not_video", "fail"),
    (dict(start=None, end=None), "no_duration", "fail"),
], ids=lambda value: value if isinstance(value, str) else None)
def test_a_clip_that_cannot_count(facts, why, status):
    result = evaluate_step(step(), [clip("a", 0, 600, **facts)], ONE_DEVICE, NOW)
    assert whys(result) == {"a": why}
    assert result.status == status
    expected = {"no_usable_footage": ("fail", {"clips": 1})}
    if status == "warning":  # still being verified or analysed: footage may yet count
        expected["awaiting_processing"] = ("warning", {"clips": 1})
    assert reasons(result) == expected


def test_a_clip_without_a_media_kind_counts_as_video():
    assert judge_clip(clip("a", 0, 600, kind=None), step(), ONE_DEVICE).why == "counted"


def test_a_pending_clip_does_not_turn_a_pass_into_a_warning():
    result = evaluate_step(step(), [clip("a", 0, 600), clip("b", 0, 600, status="received")], ONE_DEVICE, NOW)
    assert result.status == "pass" and whys(result) == {"a": "counted", "b": "not_verified"}


def test_a_manually_excluded_clip_does_not_count():
    excluded = clip("b", 0, 600, device="DEV2", link_origin="manual", link_state="excluded",
                    decided_by="legal1", link_reason="another case")
    result = evaluate_step(step(), [clip("a", 0, 600), excluded], TWO_DEVICES, NOW)
    assert whys(result) == {"a": "counted", "b": "excluded"}
    assert result.status == "fail"
    assert reasons(result) == {"too_few_devices": ("fail", {"counted": 1, "required": 2, "share_percent": 80.0,
                                                            "devices": "DEV1 100%"}),
                               "manual_exclusions": ("info", {"clips": 1})}


def test_exclusion_is_reported_before_other_defects():
    excluded = clip("a", 0, 600, status="integrity_failed", link_state="excluded")
    assert judge_clip(excluded, step(), ONE_DEVICE).why == "excluded"


def test_a_manually_linked_clip_counts():
    manual = clip("a", 0, 600, link_origin="manual", decided_by="legal1", link_reason="seen on the video")
    result = evaluate_step(step(), [manual], ONE_DEVICE, NOW)
    assert result.status == "pass"
    assert whys(result) == {"a": "counted"}
    assert reasons(result) == {"manual_links": ("info", {"clips": 1})}


def test_an_uncorrected_clock_is_noted():
    result = evaluate_step(step(), [clip("a", 0, 600, offset=None)], ONE_DEVICE, NOW)
    assert result.status == "pass"
    assert reasons(result) == {"uncorrected_clock": ("info", {"clips": 1})}


# -- no footage ---------------------------------------------------------------------------------

def test_no_footage_after_the_upload_deadline_fails():
    result = evaluate_step(step(), [], ONE_DEVICE, T0 + 600 + 24 * HOUR)
    assert result.status == "fail"
    assert reasons(result) == {"no_footage": ("fail", {})}


def test_no_footage_before_the_upload_deadline_is_a_warning():
    result = evaluate_step(step(), [], ONE_DEVICE, T0 + 600 + 23 * HOUR)
    assert result.status == "warning"
    assert reasons(result) == {"no_footage": ("fail", {}),
                               "awaiting_upload": ("warning", {"until_at": T0 + 600 + 24 * HOUR})}


# -- recorded steps -----------------------------------------------------------------------------

def test_recorded_step_with_footage_in_its_times_passes(config):
    result = evaluate_step(step(type="hearing"), [clip("a", 500, 900)], Rule.for_type(config, "hearing"), NOW)
    assert result.status == "pass" and result.reasons == []
    assert result.clips[0].covered_seconds == 100
    assert result.devices == [{"device_serial": "DEV1", "share": round(100 / 600, 4), "counted": True}]


def test_recorded_step_with_footage_only_in_the_link_buffer():
    result = evaluate_step(step(type="hearing"), [clip("a", -200, -10)], RECORDED, NOW)
    assert result.status == "pass"
    assert reasons(result) == {"within_buffer_only": ("info", {"minutes": 5})}
    assert (result.clips[0].why, result.clips[0].covered_seconds) == ("counted", 0)
    assert result.covered_seconds == 0


def test_recorded_step_with_footage_beyond_the_buffer_fails():
    result = evaluate_step(step(type="hearing"), [clip("a", -400, -301)], RECORDED, NOW)
    assert whys(result) == {"a": "outside_step"}
    assert result.status == "fail"


def test_the_buffer_does_not_widen_a_continuous_step():
    result = evaluate_step(step(), [clip("a", -200, -10)], ONE_DEVICE, NOW)
    assert whys(result) == {"a": "outside_step"} and result.status == "fail"


# -- other requirements and instants ------------------------------------------------------------

def test_a_step_needing_no_footage_is_not_required(config):
    result = evaluate_step(step(type="case_filing"), [clip("a", 0, 600)], Rule.for_type(config, "case_filing"), NOW)
    assert result.status == "not_required"
    assert result.reasons == [] and result.clips == []


def test_an_unknown_step_type_fails(config):
    rule = Rule.for_type(config, "tea_break")
    assert rule.requirement == "unknown"
    result = evaluate_step(step(type="tea_break"), [clip("a", 0, 600)], rule, NOW)
    assert result.status == "fail"
    assert reasons(result) == {"unknown_step_type": ("fail", {"type": "tea_break"})}


def test_an_instant_continuous_step_covered_by_footage():
    result = evaluate_step(step(300, 300), [clip("a", 0, 600)], ONE_DEVICE, NOW)
    assert result.status == "pass" and result.reasons == []
    assert result.covered_share == 1.0 and result.longest_gap is None
    assert result.devices == [{"device_serial": "DEV1", "share": 1.0, "counted": True}]
    assert (result.clips[0].why, result.clips[0].covered_seconds) == ("counted", 0)


def test_an_instant_at_the_end_of_a_clip_is_covered():
    assert judge_clip(clip("a", 0, 300), step(300, 300), ONE_DEVICE).why == "counted"


def test_an_instant_continuous_step_missed_by_footage():
    result = evaluate_step(step(300, 300), [clip("a", 310, 600)], ONE_DEVICE, NOW)
    assert whys(result) == {"a": "outside_step"}
    assert result.status == "fail" and result.covered_share == 0.0


def test_an_instant_inside_an_obstruction_is_not_covered():
    dark = clip("a", 0, 600, obstructions=((200.0, 400.0, "dark"),))
    assert judge_clip(dark, step(300, 300), ONE_DEVICE).why == "obstructed"


def test_an_instant_recorded_step_covered_is_not_buffer_only():
    result = evaluate_step(step(300, 300, type="hearing"), [clip("a", 0, 600)], RECORDED, NOW)
    assert result.status == "pass" and result.reasons == []


def test_an_instant_recorded_step_with_footage_in_the_buffer_only():
    result = evaluate_step(step(300, 300, type="hearing"), [clip("a", 100, 200)], RECORDED, NOW)
    assert result.status == "pass"
    assert reasons(result) == {"within_buffer_only": ("info", {"minutes": 5})}


# -- serialisation and explanation --------------------------------------------------------------

def test_as_dict_is_json_with_iso_times():
    late = clip("a", 0, 300, received=T0 + 300 + 30 * HOUR, raw_start=T0 - 5, offset=5.0)
    data = json.loads(json.dumps(evaluate_step(step(), [late], ONE_DEVICE, NOW).as_dict()))
    assert data["status"] == "fail"
    assert data["step"]["started_at"] == "2026-05-01T01:00:00Z" and data["step"]["ended_at"] == "2026-05-01T01:10:00Z"
    assert data["longest_gap"] == {"from_at": "2026-05-01T01:05:00Z", "to_at": "2026-05-01T01:10:00Z", "seconds": 300}
    gap = next(r for r in data["reasons"] if r["code"] == "gap_too_long")
    assert gap["params"] == {"from_at": "2026-05-01T01:05:00Z", "to_at": "2026-05-01T01:10:00Z",
                             "seconds": 300, "limit": 30}
    only = data["clips"][0]
    assert (only["start_at"], only["end_at"], only["raw_start_at"], only["received_at"]) == \
        ("2026-05-01T01:00:00Z", "2026-05-01T01:05:00Z", "2026-05-01T00:59:55Z", "2026-05-02T07:05:00Z")
    assert (only["why"], only["counted"], only["late_hours"], only["clock_offset_seconds"]) == \
        ("counted", True, 30.0, 5.0)
    assert data["rule"] == {"requirement": "continuous", "min_devices": 1, "max_gap_seconds": 30,
                            "device_min_share": 0.8, "upload_deadline_hours": 24.0, "link_buffer_minutes": 5.0}
    for key in ("started_at", "ended_at"):
        assert datetime.fromisoformat(data["step"][key].replace("Z", "+00:00")).tzinfo == timezone.utc


def _every_code(config):
    """Results between them giving every reason and every why-code of a clip."""
    seizure = Rule.for_type(config, "seizure")
    unusable = [clip("d", 0, 600, deleted=True), clip("e", 0, 600, status="integrity_failed"),
                clip("f", 0, 600, status="received"), clip("g", 0, 600, status="unplayable"),
                clip("h", 0, 600, custody_ok=False), clip("i", 0, 600, kind="audio"),
                clip("j", 0, 600, status="verified"), clip("k", 0, 600, start=None, end=None),
                clip("l", 700, 800), clip("m", 0, 600, obstructions=((0.0, 600.0, "covered"),)),
                clip("n", 0, 600, link_origin="manual", link_state="excluded", decided_by="legal1",
                     link_reason="another case")]
    counted = [clip("a", 0, 600, received=T0 + 600 + 30 * HOUR, obstructions=((100.0, 200.0, "covered"),)),
               clip("b", 300, 600, device="DEV2", offset=None, link_origin="manual", decided_by="legal1",
                    link_reason="seen on the video")]
    return [evaluate_step(step(), counted + unusable, seizure, NOW),
            evaluate_step(step(), unusable, seizure, NOW),
            evaluate_step(step(), [], seizure, T0),
            evaluate_step(step(type="hearing"), [clip("a", -200, -10)], Rule.for_type(config, "hearing"), NOW),
            evaluate_step(step(type="tea_break"), [], Rule.for_type(config, "tea_break"), NOW),
            evaluate_step(step(type="case_filing"), [], Rule.for_type(config, "case_filing"), NOW)]


def test_the_scenarios_below_give_every_code(config):
    results = [r.as_dict() for r in _every_code(config)]
    reason_codes = {r["code"] for result in results for r in result["reasons"]}
    clip_codes = {c["why"] for result in results for c in result["clips"]}
    assert reason_codes == {k.split(".")[2] for k in MESSAGES if k.startswith("audit.reason.")}
    assert clip_codes | {"late"} == {k.split(".")[2] for k in MESSAGES if k.startswith("audit.clip.")}
    assert {r["status"] for r in results} == {"fail", "warning", "pass", "not_required"}


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_every_code_is_explained_without_placeholders(config, language):
    for result in _every_code(config):
        text = explained(result.as_dict(), language, SHANGHAI)
        assert text["status_text"] == MESSAGES[f"audit.status.{result.status}"][language]
        assert text["requirement_text"] == MESSAGES[f"audit.requirement.{result.rule.requirement}"][language]
        for item in text["reasons"] + text["clips"]:
            assert item["text"] and "?" not in item["text"] and "{" not in item["text"], item


def test_explanations_carry_the_values_in_local_time(config):
    result = explained(_every_code(config)[0].as_dict(), "en", SHANGHAI)
    texts = {r["code"]: r["text"] for r in result["reasons"]}
    assert texts["gap_too_long"] == ("Recording is missing for 100 s (2026-05-01 09:01:40 to 2026-05-01 09:03:20), "
                                     "more than the 30 s allowed.")
    assert texts["too_few_devices"] == ("At least 2 recorders must each cover 80% of the step; only 1 did "
                                        "(DEV1 83%, DEV2 50%).")
    assert texts["late_upload"] == "1 recording(s) arrived after the 24-hour upload deadline (latest by 30 h)."
    clips = {c["clip_id"]: c["text"] for c in result["clips"]}
    assert clips["a"] == "Counted: 500 s usable within the step. (uploaded 30 h late)"
    assert clips["n"] == "Not counted: excluded by legal1 (another case)."
    assert clips["i"] == "Not counted: not a video (audio)."
    zh = explained(_every_code(config)[2].as_dict(), "zh-CN", SHANGHAI)
    until = next(r["text"] for r in zh["reasons"] if r["code"] == "awaiting_upload")
    assert "2026-05-02 09:10:00" in until
