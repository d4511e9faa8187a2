"""The work queues through the HTTP API, on SQLite and PostgreSQL: clips still linked to no step
after a while, and steps that need footage but have none after their upload deadline."""
from datetime import timedelta

import pytest
from sqlalchemy import update

from storage.db import utcnow
from storage.models import Clip
from tests.casework_api import (CITY, DISTRICT, OTHER_DISTRICT, OTHER_SQUAD, make_case, make_officer, make_step,
                                user_headers)
from tests.test_devices_api import (OFFICER, SERIAL, at, register, sign_out, upload,
                                    world)  # noqa: F401  (world is a fixture)


def age(rt, clip_id: str, hours: float) -> None:
    """Pretend the clip was received `hours` ago."""
    with rt.session() as session, session.begin():
        session.execute(update(Clip).where(Clip.id == clip_id).values(received_at=utcnow() - timedelta(hours=hours)))


def queue(client, headers, name: str, **query):
    answer = client.get(f"/api/v1/queues/{name}", query_string=query, headers=headers)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def iso(moment) -> str:
    return moment.isoformat(timespec="seconds")


@pytest.fixture
def readers(client, rt, world):  # noqa: F811
    return {**world, "inspector": user_headers(client, rt, "inspector")}


def test_unlinked_clips_are_listed_with_why_until_they_are_linked(client, rt, readers):
    register(client, readers)
    unregistered = upload(client, readers["station"], "DSJ-NEW", at("10:05"))
    nobody = upload(client, readers["station"], SERIAL, at("10:06"))
    stepless = upload(client, readers["station"], SERIAL, at("10:07"), officer=OFFICER)
    assert queue(client, readers["inspector"], "unlinked-clips")["total"] == 0  # under 24 h old: not yet due
    for hours, clip in ((30, unregistered), (29, nobody), (28, stepless)):
        age(rt, clip, hours)

    listed = queue(client, readers["inspector"], "unlinked-clips", lang="en")
    assert [(item["id"], item["why"]) for item in listed["items"]] == [
        (unregistered, "device_unregistered"), (nobody, "no_officer"), (stepless, "no_step")]
    assert "DSJ-NEW" in listed["items"][0]["message"] and listed["items"][0]["waiting_hours"] >= 30
    assert listed["total"] == 3
    paged = queue(client, readers["inspector"], "unlinked-clips", limit=1, offset=1)
    assert (paged["total"], [item["id"] for item in paged["items"]]) == (3, [nobody])
    by_device = queue(client, readers["inspector"], "unlinked-clips", device=SERIAL)
    assert [item["id"] for item in by_device["items"]] == [nobody, stepless]
    assert queue(client, readers["inspector"], "unlinked-clips", older_than_hours=28.5)["total"] == 2
    station_id = client.get(f"/api/v1/clips/{nobody}", headers=readers["admin"]).get_json()["station_id"]
    assert queue(client, readers["inspector"], "unlinked-clips", station=station_id)["total"] == 3
    assert client.get("/api/v1/queues/unlinked-clips", headers=readers["officer"]).status_code == 403
    for bad in ("older_than_hours=-1", "older_than_hours=1e12", "limit=0", "station=not-an-id"):
        assert client.get(f"/api/v1/queues/unlinked-clips?{bad}", headers=readers["inspector"]).status_code == 422

    make_step(client, readers["admin"], make_case(client, readers["admin"])["id"], officers=[OFFICER],
              started_at=at("10:00"), ended_at=at("10:30"))
    assert [item["id"] for item in queue(client, readers["inspector"], "unlinked-clips")["items"]] == [
        unregistered, nobody]
    assert sign_out(client, readers["station"], OFFICER, at("09:00")).status_code == 201
    assert [item["id"] for item in queue(client, readers["inspector"], "unlinked-clips")["items"]] == [unregistered]


def test_steps_without_footage_after_their_deadline(client, rt, readers):
    admin, now = readers["admin"], utcnow().replace(microsecond=0)
    make_officer(client, admin, "3204001", unit=OTHER_SQUAD)
    case = make_case(client, admin, officers=[OFFICER])
    other_case = make_case(client, admin, unit=OTHER_SQUAD, officers=["3204001"])

    def step(case_id, kind, ended_hours_ago, officer=OFFICER):
        end = now - timedelta(hours=ended_hours_ago)
        return make_step(client, admin, case_id, type=kind, officers=[officer],
                         started_at=iso(end - timedelta(hours=1)), ended_at=iso(end))["id"]

    overdue = step(case["id"], "seizure", 30)
    paper = step(case["id"], "case_filing", 30)  # requirement none: never listed
    recent = step(case["id"], "seizure", 2)  # its 24 h upload deadline has not passed
    filmed = step(case["id"], "site_inspection", 40)
    elsewhere = step(other_case["id"], "evidence_collection", 26, officer="3204001")
    filmed_at = now - timedelta(hours=40, minutes=30)
    upload(client, readers["station"], SERIAL, iso(filmed_at), officer=OFFICER)

    listed = queue(client, readers["inspector"], "steps-without-footage", lang="en")
    assert [item["id"] for item in listed["items"]] == [overdue, elsewhere]
    first = listed["items"][0]
    assert (first["type"], first["requirement"], first["type_name"], first["officers"]) == (
        "seizure", "continuous", "Seizure of property", [OFFICER])
    assert first["deadline_at"] == (now - timedelta(hours=6)).isoformat() and 5.9 < first["overdue_hours"] < 6.5
    assert first["case_number"] == case["case_number"] and first["unit"] == case["unit"]
    assert {paper, recent, filmed}.isdisjoint(item["id"] for item in listed["items"])

    def ids(**query):
        return [item["id"] for item in queue(client, readers["inspector"], "steps-without-footage", **query)["items"]]

    assert ids(unit=CITY) == [overdue, elsewhere]
    assert ids(unit=DISTRICT) == [overdue] and ids(unit=OTHER_DISTRICT) == [elsewhere]
    assert ids(type="seizure") == [overdue] and ids(type="case_filing") == []
    unknown_type = client.get("/api/v1/queues/steps-without-footage?type=picnic", headers=readers["inspector"])
    assert unknown_type.status_code == 422 and "type" in unknown_type.get_json()["errors"]
    unknown_unit = client.get("/api/v1/queues/steps-without-footage?unit=9999", headers=readers["inspector"])
    assert unknown_unit.status_code == 422 and "unit" in unknown_unit.get_json()["errors"]
    assert client.get("/api/v1/queues/steps-without-footage", headers=readers["officer"]).status_code == 403

    upload(client, readers["station"], SERIAL, iso(now - timedelta(hours=30, minutes=30)), officer=OFFICER)
    assert ids() == [elsewhere]
