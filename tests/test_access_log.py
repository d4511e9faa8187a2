"""Every access to evidence is a custody event: reading a clip, streaming its review copy with
HTTP Range (seeking), downloading its original — through a live server with a real worker that
made the review copy, on the local store + SQLite and SeaweedFS + PostgreSQL."""
import hashlib

import pytest
import requests
from sqlalchemy import select

from server import accounts
from storage.models import CustodyEvent
from tests.media_samples import make_sample
from tests.services.workers import upload_file
from tests.test_processing import settings, wait_final, worker_config, workers  # noqa: F401  (fixtures)
from tests.test_tus import live, station  # noqa: F401  (fixtures)

pytestmark = pytest.mark.slow
PASSWORD = "correct horse battery"


def user_token(live, rt, name, role):
    with rt.session() as session, session.begin():
        accounts.create_user(session, rt.password_hasher(), name, role, PASSWORD)
    answer = requests.post(f"{live}/api/v1/auth/tokens", json={"username": name, "password": PASSWORD}, timeout=10)
    return {"Authorization": f"Bearer {answer.json()['token']}", "User-Agent": "evidence-review/1.0"}


def access_events(rt, clip_id):
    """Accesses by users (the station's own receipt checks while it waited are events too)."""
    with rt.session() as session:
        return session.scalars(select(CustodyEvent).where(
            CustodyEvent.clip_id == clip_id, CustodyEvent.actor_type == "user",
            CustodyEvent.action.in_(("viewed", "streamed", "downloaded"))).order_by(CustodyEvent.seq)).all()


@pytest.fixture
def processed(live, station, rt, workers, tmp_path):  # noqa: F811
    clip_id = upload_file(live, station, make_sample("h264_aac_mp4", tmp_path, seconds=3))
    wait_final(live, station, [clip_id], workers())
    return clip_id


def test_reading_streaming_and_downloading_are_custody_events(live, rt, processed):
    legal = user_token(live, rt, "fazhi", "legal")
    clip = requests.get(f"{live}/api/v1/clips/{processed}", headers=legal, timeout=10).json()
    review = next(d for d in clip["derivatives"] if d["kind"] == "review")
    url = f"{live}/api/v1/clips/{processed}/derivatives/{review['id']}"
    whole = rt.store.read_all(review["object_key"])

    first = requests.get(url, headers={**legal, "Range": "bytes=0-99"}, timeout=10)
    assert first.status_code == 206 and first.content == whole[:100]
    assert first.headers["Content-Range"] == f"bytes 0-99/{len(whole)}"
    assert first.headers["Accept-Ranges"] == "bytes" and first.headers["Content-Type"] == "video/mp4"
    seek = len(whole) // 2
    middle = requests.get(url, headers={**legal, "Range": f"bytes={seek}-"}, timeout=10)
    assert middle.status_code == 206 and middle.content == whole[seek:]
    outside = requests.get(url, headers={**legal, "Range": f"bytes={len(whole) + 10}-"}, timeout=10)
    assert outside.status_code == 416 and outside.headers["Content-Range"] == f"bytes */{len(whole)}"
    assert outside.json()["message"]

    original = requests.get(f"{live}/api/v1/clips/{processed}/original", headers=legal, timeout=30)
    assert original.status_code == 200 and hashlib.sha256(original.content).hexdigest() == clip["sha256"]
    assert "attachment" in original.headers["Content-Disposition"]

    events = access_events(rt, processed)
    assert [event.action for event in events] == ["viewed", "streamed", "streamed", "downloaded"]
    me = requests.get(f"{live}/api/v1/auth/me", headers=legal, timeout=10).json()
    for event in events:
        assert (event.actor_type, event.actor_id, event.source_address) == ("user", me["id"], "127.0.0.1")
        assert event.details["user_agent"] == "evidence-review/1.0" and event.details["role"] == "legal"
    assert events[1].details["range"] == [0, 99] and events[1].details["what"] == "review"
    assert events[2].details["range"] == [seek, len(whole) - 1]
    assert events[3].details == {**events[3].details, "what": "original", "range": None,
                                 "bytes": clip["size"], "sha256": clip["sha256"]}


def test_who_may_fetch_what(live, rt, processed):
    inspector = user_token(live, rt, "ducha", "inspector")
    officer = user_token(live, rt, "zhifa", "officer")
    clip = requests.get(f"{live}/api/v1/clips/{processed}", headers=inspector, timeout=10).json()
    poster = next(d for d in clip["derivatives"] if d["kind"] == "poster")
    url = f"{live}/api/v1/clips/{processed}/derivatives/{poster['id']}"
    assert requests.get(url, headers=inspector, timeout=10).status_code == 200
    assert requests.get(url, headers=officer, timeout=10).status_code == 403
    assert requests.get(f"{live}/api/v1/clips/{processed}/original", headers=inspector, timeout=10).status_code == 403
    unknown = requests.get(f"{live}/api/v1/clips/{processed}/derivatives/{clip['id']}", headers=inspector, timeout=10)
    assert unknown.status_code == 404 and unknown.json()["message"]
    assert [event.action for event in access_events(rt, processed)] == ["viewed", "viewed"]  # refusals: no access
    with rt.session() as session:
        station_views = session.scalars(select(CustodyEvent).where(
            CustodyEvent.clip_id == processed, CustodyEvent.actor_type == "station")).all()
    assert {event.action for event in station_views} >= {"received", "viewed"}
