"""Manual link decisions through the HTTP API, on SQLite and PostgreSQL: legal staff link and
unlink with a reason, the decision survives re-linking until withdrawn, and every change is a
custody event."""
import uuid

import pytest

from tests.casework_api import if_match, make_case, make_step, snapshot, user_headers
from tests.test_devices_api import (DEVICE_TABLES, OFFICER, OTHER_OFFICER, SERIAL, at, clip_links, custody, register,
                                    upload, world)  # noqa: F401  (world is a fixture)

REASON = "画面为隔壁商户的另一起纠纷，与本环节无关"


@pytest.fixture
def scene(client, rt, world):  # noqa: F811
    """A step of the officer 10:00-10:30 and a clip whose metadata names that officer (linked)."""
    register(client, world)
    case = make_case(client, world["admin"], officers=[OFFICER])
    step = make_step(client, world["admin"], case["id"], officers=[OFFICER], started_at=at("10:00"),
                     ended_at=at("10:30"))
    clip = upload(client, world["station"], SERIAL, at("10:05"), officer=OFFICER)
    return {**world, "case": case, "step": step, "clip": clip, "legal": user_headers(client, rt, "legal", "fazhi"),
            "inspector": user_headers(client, rt, "inspector")}


def decide(client, headers, clip_id, step_id, action, reason=REASON):
    return client.post("/api/v1/links", headers=headers,
                       json={"clip_id": clip_id, "step_id": step_id, "action": action, "reason": reason})


def move_step(client, scene, step_id, start, end):
    """Change the step's times (If-Match on its current version): its clips are re-linked."""
    version = client.get(f"/api/v1/steps/{step_id}", headers=scene["admin"]).get_json()["version"]
    answer = client.patch(f"/api/v1/steps/{step_id}", json={"started_at": start, "ended_at": end},
                          headers=if_match(scene["admin"], version))
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def test_an_unlink_survives_relinking_until_it_is_withdrawn(client, rt, scene):
    clip, step = scene["clip"], scene["step"]
    [automatic] = clip_links(client, scene["admin"], clip)
    assert (automatic["origin"], automatic["rule"]) == ("auto", "officer")

    before = snapshot(rt, DEVICE_TABLES)
    assert decide(client, scene["inspector"], clip, step["id"], "unlink").status_code == 403
    assert decide(client, scene["officer"], clip, step["id"], "unlink").status_code == 403
    blank = decide(client, scene["legal"], clip, step["id"], "unlink", reason=" \n ")
    assert blank.status_code == 422 and "reason" in blank.get_json()["errors"]["json"]
    assert snapshot(rt, DEVICE_TABLES) == before

    unlinked = decide(client, scene["legal"], clip, step["id"], "unlink")
    assert unlinked.status_code == 201, unlinked.get_json()
    body = unlinked.get_json()
    assert (body["origin"], body["state"], body["rule"], body["reason"], body["decided_by"]) == (
        "manual", "excluded", "manual", REASON, "user:fazhi")
    action, details = custody(rt, clip)[-1]
    assert (action, details["origin"], details["reason"], details["decided_by"]) == (
        "unlinked", "manual", REASON, "user:fazhi")
    replay = decide(client, scene["legal"], clip, step["id"], "unlink")
    assert replay.status_code == 200 and replay.headers["Idempotent-Replay"] == "true"
    assert len(custody(rt, clip)) == 3  # received, linked, unlinked: the replay wrote nothing

    move_step(client, scene, step["id"], at("11:00"), at("11:30"))  # out of reach of the clip
    rematched = move_step(client, scene, step["id"], at("10:00"), at("10:45"))  # the rule matches again
    assert rematched["linking"]["clips"] == 1 and rematched["linking"]["added"] == 0
    [link] = clip_links(client, scene["admin"], clip)
    assert (link["id"], link["origin"], link["state"], link["reason"]) == (body["id"], "manual", "excluded", REASON)

    blank = client.post(f"/api/v1/links/{body['id']}/withdraw", json={"reason": ""}, headers=scene["legal"])
    assert blank.status_code == 422
    withdrawn = client.post(f"/api/v1/links/{body['id']}/withdraw", json={"reason": "复核后确认属于本环节"},
                            headers=scene["legal"])
    assert withdrawn.status_code == 200, withdrawn.get_json()
    now = withdrawn.get_json()["link"]
    assert (now["origin"], now["state"], now["rule"]) == ("auto", "linked", "officer")
    assert [action for action, _details in custody(rt, clip)[-2:]] == ["link_decision_withdrawn", "linked"]
    again = client.post(f"/api/v1/links/{body['id']}/withdraw", json={"reason": "重复提交"}, headers=scene["legal"])
    assert again.status_code == 404
    automatic_now = client.post(f"/api/v1/links/{now['id']}/withdraw", json={"reason": "x"}, headers=scene["legal"])
    assert automatic_now.status_code == 409


def test_a_manual_link_stands_until_it_is_withdrawn(client, rt, scene):
    other_case = make_case(client, scene["admin"], officers=[OTHER_OFFICER])
    other = make_step(client, scene["admin"], other_case["id"], officers=[OTHER_OFFICER], started_at=at("14:00"),
                      ended_at=at("14:30"))
    clip = scene["clip"]
    assert [link["step_id"] for link in clip_links(client, scene["admin"], clip)] == [scene["step"]["id"]]

    linked = decide(client, scene["legal"], clip, other["id"], "link", reason="当事人陈述该段录像记录了 14 时的送达")
    assert linked.status_code == 201, linked.get_json()
    body = linked.get_json()
    assert (body["state"], body["origin"], body["case_id"]) == ("linked", "manual", other_case["id"])
    assert body["details"]["automatic_rule"] is None  # the rule would not have linked it
    assert custody(rt, clip)[-1][0] == "linked"

    # Re-link the clip: its recorder's history gains a period (to the officer already in its metadata).
    entry = {"id": str(uuid.uuid4()), "officer": OFFICER, "started_at": at("09:00"), "ended_at": at("11:00")}
    relinked = client.post(f"/api/v1/devices/{SERIAL}/assignments", json=entry, headers=scene["admin"])
    assert relinked.status_code == 201 and relinked.get_json()["linking"]["clips"] == 1
    links = {link["step_id"]: link for link in clip_links(client, scene["admin"], clip)}
    assert links[other["id"]]["origin"] == "manual" and links[other["id"]]["state"] == "linked"
    assert links[scene["step"]["id"]]["origin"] == "auto"
    by_case = client.get("/api/v1/links", query_string={"case_id": other_case["id"]}, headers=scene["inspector"])
    assert [link["id"] for link in by_case.get_json()] == [body["id"]]
    step_view = client.get(f"/api/v1/steps/{other['id']}", headers=scene["admin"]).get_json()
    assert [link["clip_id"] for link in step_view["links"]] == [clip]

    withdrawn = client.post(f"/api/v1/links/{body['id']}/withdraw", json={"reason": "当事人撤回陈述"},
                            headers=scene["legal"])
    assert withdrawn.status_code == 200 and withdrawn.get_json()["link"] is None
    assert [link["step_id"] for link in clip_links(client, scene["admin"], clip)] == [scene["step"]["id"]]
    action, details = custody(rt, clip)[-1]
    assert (action, details["step_id"], details["reason"]) == ("link_decision_withdrawn", other["id"], "当事人撤回陈述")


def test_decisions_about_unknown_clips_or_steps_are_refused(client, rt, scene):
    before = snapshot(rt, DEVICE_TABLES)
    missing_clip = decide(client, scene["legal"], str(uuid.uuid4()), scene["step"]["id"], "link")
    assert missing_clip.status_code == 422 and "clip_id" in missing_clip.get_json()["errors"]
    missing_step = decide(client, scene["legal"], scene["clip"], str(uuid.uuid4()), "unlink")
    assert missing_step.status_code == 422 and "step_id" in missing_step.get_json()["errors"]
    bad_action = decide(client, scene["legal"], scene["clip"], scene["step"]["id"], "delete")
    assert bad_action.status_code == 422 and "action" in bad_action.get_json()["errors"]["json"]
    assert client.post(f"/api/v1/links/{uuid.uuid4()}/withdraw", json={"reason": "x"},
                       headers=scene["legal"]).status_code == 404
    assert snapshot(rt, DEVICE_TABLES) == before
