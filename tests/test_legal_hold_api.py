"""Legal holds through the API: set and lifted by legal staff with a reason, applied to the object
store at once (both stores, both databases), each change a custody event; bad requests are
refused precisely and change nothing."""
import uuid

import pytest

from storage.exceptions import ObjectLocked
from tests.casework_api import admin_headers, make_case, make_units, snapshot, user_headers
from tests.test_retention_sweep import clip_row, events, keys_of, link_to_case, make_clip, wait_expired
from tests.test_retention_sweep import retention_rules, settings  # noqa: F401  (fixtures: both stores)
from workers import retention as sweeper

TABLES = ("clips", "legal_holds", "custody_events")


def hold(client, headers, clip_id, reason="案件诉讼中，暂停删除"):
    return client.post(f"/api/v1/clips/{clip_id}/legal-hold", json={"reason": reason}, headers=headers)


def lift(client, headers, clip_id, hold_id, reason="诉讼已结束"):
    return client.post(f"/api/v1/clips/{clip_id}/legal-hold/{hold_id}/lift", json={"reason": reason},
                       headers=headers)


def store_held(rt, clip_id) -> list[bool]:
    return [rt.store.stat(key).legal_hold for key in keys_of(rt, clip_id)]


def test_holds_are_set_replayed_and_lifted_with_reasons_and_custody_events(client, rt):
    clip_id = make_clip(rt)
    legal = user_headers(client, rt, "legal", "法制员甲")

    first = hold(client, legal, clip_id)
    assert first.status_code == 201, first.get_json()
    body = first.get_json()
    assert body["reason"] == "案件诉讼中，暂停删除" and body["set_by"] == "user:法制员甲"
    assert not body["lifted"]
    assert store_held(rt, clip_id) == [True, True, True] and clip_row(rt, clip_id).held
    for key in keys_of(rt, clip_id):
        with pytest.raises(ObjectLocked):
            rt.store.delete(key)

    replay = hold(client, legal, clip_id, "  案件诉讼中，暂停删除 ")
    assert replay.status_code == 200 and replay.headers["Idempotent-Replay"] == "true"
    assert replay.get_json()["id"] == body["id"]
    second = hold(client, legal, clip_id, "信访调查")
    assert second.status_code == 201 and second.get_json()["id"] != body["id"]
    actions = [event.action for event in events(rt, clip_id)]
    assert actions == ["received", "legal_hold_placed", "legal_hold_set", "legal_hold_placed"]
    placed = events(rt, clip_id, "legal_hold_placed")[0]
    assert placed.actor_type == "user" and placed.details["reason"] == "案件诉讼中，暂停删除"

    lifted = lift(client, legal, clip_id, body["id"])
    assert lifted.status_code == 200 and lifted.get_json()["lifted"]
    assert lifted.get_json()["lift_reason"] == "诉讼已结束"
    assert lifted.get_json()["lifted_by"] == "user:法制员甲"
    assert store_held(rt, clip_id) == [True, True, True]  # the second hold still stands
    again = lift(client, legal, clip_id, body["id"])
    assert again.status_code == 409 and "诉讼已结束" in again.get_json()["message"]

    assert lift(client, legal, clip_id, second.get_json()["id"]).status_code == 200
    assert store_held(rt, clip_id) == [False, False, False] and not clip_row(rt, clip_id).held
    assert [event.action for event in events(rt, clip_id)][-3:] == [
        "legal_hold_lifted", "legal_hold_lifted", "legal_hold_released"]
    assert events(rt, clip_id, "legal_hold_released")[0].details["keys"] == keys_of(rt, clip_id)


def test_a_clips_retention_explains_itself_in_the_readers_language(client, rt):
    clip_id = make_clip(rt)
    legal, admin = user_headers(client, rt, "legal"), admin_headers(client, rt)
    hold(client, legal, clip_id, "复议")

    zh = client.get(f"/api/v1/clips/{clip_id}/retention", headers=admin)
    en = client.get(f"/api/v1/clips/{clip_id}/retention?lang=en", headers=legal)

    assert zh.status_code == 200 and en.status_code == 200
    view = en.get_json()
    assert view["held"] is True and view["deletable"] is False and view["status"] == "processed"
    assert [reason["code"] for reason in view["reasons"]] == ["field_recording", "legal_hold"]
    assert view["reasons"][0]["text"].startswith("Received ") and "复议" in view["reasons"][1]["text"]
    assert zh.get_json()["reasons"][0]["text"].endswith("。") and "接收" in zh.get_json()["reasons"][0]["text"]
    assert [item["reason"] for item in view["holds"]] == ["复议"]
    assert view["retain_until"] is not None and view["policy_retain_until"] is not None


def test_a_case_hold_holds_every_clip_linked_to_the_case(client, rt):
    first, second, other = make_clip(rt), make_clip(rt), make_clip(rt)
    case = link_to_case(client, rt, [first, second])
    legal = user_headers(client, rt, "legal")

    answer = client.post(f"/api/v1/cases/{case['id']}/legal-hold", json={"reason": "移送法院"}, headers=legal)

    assert answer.status_code == 201, answer.get_json()
    holds = answer.get_json()["holds"]
    assert sorted(item["clip_id"] for item in holds) == sorted([first, second])
    assert all(item["case_id"] == case["id"] for item in holds)
    assert store_held(rt, first) == [True, True, True] and store_held(rt, second) == [True, True, True]
    assert store_held(rt, other) == [False, False, False]
    assert events(rt, first, "legal_hold_placed")[0].case_id == case["id"]
    replay = client.post(f"/api/v1/cases/{case['id']}/legal-hold", json={"reason": "移送法院"}, headers=legal)
    assert replay.status_code == 200 and [item["id"] for item in replay.get_json()["holds"]] == [
        item["id"] for item in holds]

    admin = admin_headers(client, rt)
    empty = make_case(client, admin)
    refused = client.post(f"/api/v1/cases/{empty['id']}/legal-hold", json={"reason": "移送法院"}, headers=legal)
    assert refused.status_code == 409 and empty["case_number"] in refused.get_json()["message"]


def test_bad_requests_are_refused_precisely_and_change_nothing(client, rt):
    clip_id, other = make_clip(rt, derivatives=0), make_clip(rt, derivatives=0)
    legal = user_headers(client, rt, "legal")
    held = hold(client, legal, clip_id).get_json()
    admin = admin_headers(client, rt)
    make_units(client, admin)
    case = make_case(client, admin)
    before = snapshot(rt, TABLES)
    unknown = str(uuid.uuid4())

    for body in ({}, {"reason": ""}, {"reason": "   "}, {"reason": 5}):
        answer = client.post(f"/api/v1/clips/{clip_id}/legal-hold", json=body, headers=legal)
        assert answer.status_code == 422, (body, answer.get_json())
        assert "reason" in answer.get_json()["errors"]["json"]
        assert lift(client, legal, clip_id, held["id"], reason=" ").status_code == 422
        assert client.post(f"/api/v1/cases/{case['id']}/legal-hold", json=body, headers=legal).status_code == 422
    for role in ("inspector", "officer", "admin"):
        headers = admin if role == "admin" else user_headers(client, rt, role)
        assert hold(client, headers, clip_id).status_code == 403
        assert lift(client, headers, clip_id, held["id"]).status_code == 403
        assert client.post(f"/api/v1/cases/{case['id']}/legal-hold", json={"reason": "x"},
                           headers=headers).status_code == 403
    for role in ("inspector", "officer"):
        headers = user_headers(client, rt, role)
        assert client.get(f"/api/v1/clips/{clip_id}/retention", headers=headers).status_code == 403
        assert client.get("/api/v1/retention/report", headers=headers).status_code == 403
    assert hold(client, {}, clip_id).status_code == 401

    missing = hold(client, legal, unknown)
    assert missing.status_code == 404 and unknown in missing.get_json()["message"]
    assert client.get(f"/api/v1/clips/{unknown}/retention", headers=legal).status_code == 404
    assert lift(client, legal, clip_id, unknown).status_code == 404
    assert lift(client, legal, other, held["id"]).status_code == 404  # a hold of another clip
    assert client.post(f"/api/v1/cases/{unknown}/legal-hold", json={"reason": "x"}, headers=legal).status_code == 404
    assert client.get("/api/v1/retention/report?limit=0", headers=legal).status_code == 422
    assert snapshot(rt, TABLES) == before


def test_a_deleted_clip_cannot_be_held(client, rt):
    clip_id = make_clip(rt)
    wait_expired(rt, clip_id)
    assert sweeper.sweep(rt).deleted == [clip_id]
    legal = user_headers(client, rt, "legal")
    answer = hold(client, legal, clip_id)
    assert answer.status_code == 409 and "deleted" in client.post(
        f"/api/v1/clips/{clip_id}/legal-hold?lang=en", json={"reason": "x"}, headers=legal).get_json()["message"]
    view = client.get(f"/api/v1/clips/{clip_id}/retention", headers=legal).get_json()
    assert view["status"] == "deleted" and view["deleted_at"] is not None and view["deletable"] is False
