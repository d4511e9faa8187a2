"""Enforcement steps through the HTTP API: idempotent creates, validation, versions, and the
automatic linking of uploaded clips that every step write triggers."""
import base64
import hashlib
import uuid

import pytest
from sqlalchemy import select

from storage.models import CustodyEvent
from tests.casework_api import (STEP_END, STEP_START, admin_headers, if_match, make_case, make_device,
                                make_officer, make_step, make_units, snapshot, station_headers, step_body)


@pytest.fixture
def admin(client, rt):
    headers = admin_headers(client, rt)
    make_units(client, headers)
    make_officer(client, headers, "3201001")
    make_officer(client, headers, "3201002")
    return headers


@pytest.fixture
def case(client, admin):
    return make_case(client, admin, officers=["3201001"])


def test_create_read_and_list_steps(client, rt, admin, case):
    make_device(rt, "DSJ-001")
    body = step_body(case["id"], type="seizure", officers=["3201002", "3201001"], devices=["DSJ-001"],
                     notes="暂扣三轮车一辆")
    created = client.post("/api/v1/steps", json=body, headers=admin)
    assert created.status_code == 201 and created.headers["ETag"] == '"1"'
    step = created.get_json()
    assert (step["type"], step["officers"], step["devices"]) == ("seizure", ["3201001", "3201002"], ["DSJ-001"])
    assert (step["started_at"], step["ended_at"]) == ("2026-11-20T01:30:00+00:00", "2026-11-20T02:30:00+00:00")
    assert step["links"] == [] and step["linking"] == {"clips": 0, "added": 0, "removed": 0, "updated": 0}
    read = client.get(f"/api/v1/steps/{body['id']}", headers=admin)
    assert read.status_code == 200 and read.headers["ETag"] == '"1"' and read.get_json()["notes"] == "暂扣三轮车一辆"
    later = make_step(client, admin, case["id"], started_at="2026-11-21T09:00:00+08:00",
                      ended_at="2026-11-21T09:10:00+08:00", type="document_service")
    listed = client.get(f"/api/v1/cases/{case['id']}/steps", headers=admin).get_json()
    assert [item["id"] for item in listed] == [body["id"], later["id"]]
    assert [item["id"] for item in client.get(f"/api/v1/cases/{case['id']}", headers=admin).get_json()["steps"]] == [
        body["id"], later["id"]]
    assert client.get(f"/api/v1/steps/{uuid.uuid4()}", headers=admin).status_code == 404


def test_a_duplicate_step_replayed_by_a_retrying_client_is_answered_once(client, rt, admin, case):
    body = step_body(case["id"], officers=["3201001"])
    first = client.post("/api/v1/steps", json=body, headers=admin)
    assert first.status_code == 201
    before = snapshot(rt)
    again = client.post("/api/v1/steps", json=body, headers=admin)
    assert again.status_code == 200 and again.headers["Idempotent-Replay"] == "true"
    assert again.get_json()["id"] == body["id"] and again.get_json()["version"] == 1
    assert snapshot(rt) == before
    other = client.post("/api/v1/steps?lang=en", json={**body, "place": "别处"}, headers=admin)
    assert other.status_code == 409 and body["id"] in other.get_json()["message"]
    assert snapshot(rt) == before
    assert len(client.get(f"/api/v1/cases/{case['id']}/steps", headers=admin).get_json()) == 1


@pytest.mark.parametrize("overrides, field, named", [
    ({"type": "parade"}, "type", "site_inspection"),
    ({"case_id": "00000000-0000-4000-8000-000000000000"}, "case_id", "00000000-0000-4000-8000-000000000000"),
    ({"officers": ["3201001", "7777"]}, "officers", "7777"),
    ({"devices": ["DSJ-404"]}, "devices", "DSJ-404"),
])
def test_unknown_type_case_officer_or_device_is_refused_and_changes_nothing(client, rt, admin, case, overrides,
                                                                             field, named):
    before = snapshot(rt)
    answer = client.post("/api/v1/steps?lang=en", json={**step_body(case["id"]), **overrides}, headers=admin)
    assert answer.status_code == 422, answer.get_json()
    assert named in answer.get_json()["errors"][field][0]
    if field == "type":
        assert "parade" in answer.get_json()["message"] and "seizure" in answer.get_json()["message"]
    assert snapshot(rt) == before


@pytest.mark.parametrize("overrides, field, words", [
    ({"started_at": "2026-11-20T10:30:00+08:00", "ended_at": "2026-11-20T09:30:00+08:00"}, "ended_at",
     "before started_at"),
    ({"started_at": "2026-11-20T09:30:00"}, "started_at", "UTC offset"),
    ({"ended_at": None}, "ended_at", "null"),
])
def test_bad_times_are_refused_and_change_nothing(client, rt, admin, case, overrides, field, words):
    before = snapshot(rt)
    answer = client.post("/api/v1/steps?lang=en", json=step_body(case["id"], **overrides), headers=admin)
    assert answer.status_code == 422
    assert field in answer.get_json()["errors"]["json"] and words in answer.get_json()["message"]
    assert snapshot(rt) == before


def test_step_updates_need_the_current_version(client, rt, admin, case):
    step = make_step(client, admin, case["id"])
    url = f"/api/v1/steps/{step['id']}"
    before = snapshot(rt)
    assert client.patch(url, json={"place": "新街口"}, headers=admin).status_code == 428
    moved = client.patch(url, json={"case_id": str(uuid.uuid4())}, headers=if_match(admin, 1))
    assert moved.status_code == 422 and case["id"] in moved.get_json()["errors"]["case_id"][0]
    backwards = client.patch(url, json={"started_at": "2026-11-20T11:00:00+08:00"}, headers=if_match(admin, 1))
    assert backwards.status_code == 422 and "started_at" in backwards.get_json()["errors"]
    unknown = client.patch(url, json={"type": "parade"}, headers=if_match(admin, 1))
    assert unknown.status_code == 422 and "parade" in unknown.get_json()["errors"]["type"][0]
    assert snapshot(rt) == before
    changed = client.patch(url, json={"place": "新街口", "type": "evidence_collection"}, headers=if_match(admin, 1))
    assert changed.status_code == 200 and changed.headers["ETag"] == '"2"'
    assert (changed.get_json()["place"], changed.get_json()["type"]) == ("新街口", "evidence_collection")
    before = snapshot(rt)
    stale = client.patch(url, json={"place": "鼓楼"}, headers=if_match(admin, 1))
    assert stale.status_code == 409 and stale.get_json()["current_version"] == 2
    replay = client.patch(url, json={"type": "evidence_collection", "place": "新街口"}, headers=if_match(admin, 1))
    assert replay.status_code == 200 and replay.headers["Idempotent-Replay"] == "true"
    assert snapshot(rt) == before


# --- automatic linking ---------------------------------------------------------------------

def upload(client, station, data: bytes, **metadata) -> str:
    """A whole file in one tus creation-with-upload request; returns the clip id of the receipt."""
    values = {"filename": "DSJ001_20261120_100000.mp4", "sha256": hashlib.sha256(data).hexdigest(), **metadata}
    answer = client.post("/api/v1/uploads", data=data, headers={
        **station, "Tus-Resumable": "1.0.0", "Upload-Length": str(len(data)),
        "Content-Type": "application/offset+octet-stream",
        "Upload-Metadata": ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())})
    assert answer.status_code == 201 and answer.headers.get("X-Clip-Id"), answer.get_data(as_text=True)
    return answer.headers["X-Clip-Id"]


def custody_actions(rt, clip_id: str) -> list[str]:
    with rt.session() as session:
        return list(session.scalars(select(CustodyEvent.action).where(CustodyEvent.clip_id == clip_id)
                                    .order_by(CustodyEvent.seq)))


def test_a_step_links_an_uploaded_clip_and_unlinks_it_when_moved_away(client, rt, admin, case):
    make_device(rt, "DSJ-001")
    clip_id = upload(client, station_headers(rt), b"tiny clip", device_id="DSJ-001", officer_id="3201001",
                     recorded_at="2026-11-20T10:00:00+08:00")
    assert custody_actions(rt, clip_id) == ["received"]
    created = make_step(client, admin, case["id"], officers=["3201001"], devices=["DSJ-001"])
    assert created["linking"]["added"] == 1
    [link] = created["links"]
    assert (link["clip_id"], link["origin"], link["state"], link["rule"]) == (clip_id, "auto", "linked",
                                                                             "officer+device")
    assert custody_actions(rt, clip_id) == ["received", "linked", "legal_hold_set"]  # evidence is held
    moved = client.patch(f"/api/v1/steps/{created['id']}", headers=if_match(admin, 1), json={
        "started_at": "2026-11-21T09:30:00+08:00", "ended_at": "2026-11-21T10:30:00+08:00"})
    assert moved.status_code == 200
    assert moved.get_json()["linking"]["removed"] == 1 and moved.get_json()["links"] == []
    assert custody_actions(rt, clip_id) == ["received", "linked", "legal_hold_set", "unlinked",
                                         "legal_hold_released"]
    notes = client.patch(f"/api/v1/steps/{created['id']}", json={"notes": "补记"}, headers=if_match(admin, 2))
    assert notes.get_json()["linking"] == {"clips": 0, "added": 0, "removed": 0, "updated": 0}


def test_a_clip_uploaded_during_a_step_is_linked_at_receipt(client, rt, admin, case):
    step = make_step(client, admin, case["id"], officers=["3201002"], started_at=STEP_START, ended_at=STEP_END)
    clip_id = upload(client, station_headers(rt), b"officer only", device_id="DSJ-999", officer_id="3201002",
                     recorded_at="2026-11-20T10:29:00+08:00")
    links = client.get(f"/api/v1/steps/{step['id']}", headers=admin).get_json()["links"]
    assert [(link["clip_id"], link["rule"]) for link in links] == [(clip_id, "officer")]
    assert custody_actions(rt, clip_id) == ["received", "linked", "legal_hold_set"]  # evidence is held
