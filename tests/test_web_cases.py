"""The cases list, the evidence chain and the clip page through the Flask test client, on SQLite
and PostgreSQL: every search filter, what the chain shows (steps, statuses, reasons, hashes,
derivatives, custody events), the clip page's player and its review copy streamed with HTTP
Range as a custody event, unknown ids, bad query parameters, and who may sign in.

Units, officers, cases and steps go through the API; clips are written straight to the database
as already processed (with real bytes in the object store for their derivatives), then linked by
the linking engine; the audit run is executed in-process."""
from __future__ import annotations

import io
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from storage.case_models import Case
from storage.custody import append_events
from storage.device_models import ClockReport
from storage.models import Clip, CustodyEvent, Derivative, Device
from storage.processing_models import ObstructedInterval, ProcessingStep
from tests.casework_api import (DISTRICT, OTHER_DISTRICT, OTHER_SQUAD, PASSWORD, SQUAD, admin_headers, make_case,
                                make_officer, make_step, make_units)
from tests.web_support import assert_no_server_error, csrf_token, make_user, sign_in
from workers import linking
from workers.audit.run import create_run, execute

SHANGHAI = timezone(timedelta(hours=8))
DAY = datetime(2026, 3, 10, tzinfo=SHANGHAI)
REVIEW_BYTES = bytes(range(256)) * 40  # 10,240 bytes standing in for an MP4
OFFSET = 2.5


def at(hour: int, minute: int = 0, second: int = 0, day: datetime = DAY) -> datetime:
    return day.replace(hour=hour, minute=minute, second=second)


@dataclass
class World:
    cases: dict[str, dict]
    steps: dict[str, dict]
    clips: dict[str, str]
    run_id: str


def put(rt, key: str, data: bytes, content_type: str) -> tuple[str, int]:
    result = rt.store.put(key, io.BytesIO(data), content_type=content_type)
    return result.sha256, result.size


def add_clip(session, rt, name: str, officer: str, serial: str, start: datetime, seconds: float, *,
             received: datetime | None = None, status: str = "processed", derivatives: bool = True,
             holes: tuple = (), device_id: str | None = None) -> str:
    digest = uuid.uuid4().hex * 2
    clip = Clip(id=str(uuid.uuid4()), sha256=digest, sm3=uuid.uuid4().hex * 2, size=123_456_789,
                original_key=f"originals/{digest[:2]}/{digest[2:4]}/{digest}", filename=f"{name}.MP4",
                device_id=device_id, device_serial=serial, officer_id=officer, recorded_at=start,
                received_at=received or start + timedelta(seconds=seconds + 3600), status=status,
                media={"kind": "video", "width": 640, "height": 360, "duration": seconds}, media_kind="video",
                duration_seconds=seconds)
    session.add(clip)
    session.flush()
    events = [{"actor_type": "station", "actor_id": "station-1", "action": "received", "clip_id": clip.id,
               "details": {"sha256": digest, "size": clip.size}},
              {"actor_type": "worker", "actor_id": "worker-host", "action": "verified", "clip_id": clip.id,
               "details": {"sha256": digest}}]
    for step in ("verify", "probe", "review", "thumbnails", "obstruction"):
        session.add(ProcessingStep(clip_id=clip.id, step=step, profile="review" if step == "review" else "",
                                   status="done" if status == "processed" else "failed", attempts=1,
                                   error=None if status == "processed" else "ffmpeg: invalid data found"))
    if derivatives:
        made = (("review", "review", "video/mp4", REVIEW_BYTES,
                 ["ffmpeg", "-i", "source.mp4", "-c", "copy", "-movflags", "+faststart", "review.mp4"]),
                ("poster", "", "image/jpeg", b"\xff\xd8poster\xff\xd9",
                 ["ffmpeg", "-ss", "1.000", "-i", "source.mp4", "-vf", "scale=640:-2", "poster.jpg"]),
                ("contact_sheet", "", "image/jpeg", b"\xff\xd8sheet\xff\xd9",
                 ["ffmpeg", "-i", "source.mp4", "-vf", f"fps=16/{seconds:.3f},scale=320:-2,tile=4x4", "sheet.jpg"]))
        for kind, profile, content_type, data, argv in made:
            sha, size = put(rt, f"derivatives/{clip.id}/{kind}", data, content_type)
            session.add(Derivative(clip_id=clip.id, kind=kind, profile=profile, object_key=f"derivatives/{clip.id}/{kind}",
                                   sha256=sha, size=size, source_sha256=digest, tool_version="ffmpeg version 5.1.6",
                                   content_type=content_type, argv=argv, checks={"ok": True}))
            events.append({"actor_type": "worker", "actor_id": "worker-host", "action": "derived", "clip_id": clip.id,
                           "details": {"kind": kind, "sha256": sha, "argv": argv}})
    for start_s, end_s in holes:
        session.add(ObstructedInterval(clip_id=clip.id, start_seconds=start_s, end_seconds=end_s, reason="covered"))
    append_events(session, events)
    return clip.id


@pytest.fixture
def world(client, rt) -> World:
    """Case 1 (squad 320102-01, officer A01): a covered step (pass), a step with a 5-minute gap
    (fail), a filing step (paper). Case 2 (other squad, officer B01): an inspection that passes.
    Case 3 (district 320104, officer B02): an inspection uploaded late (warning). Case 4: no steps,
    opened in May (not audited). An audit of March–April is run in-process."""
    admin = admin_headers(client, rt)
    make_units(client, admin)
    make_officer(client, admin, "A01", SQUAD, "张三")
    make_officer(client, admin, "B01", OTHER_SQUAD, "李四")
    make_officer(client, admin, "B02", OTHER_DISTRICT, "王五")
    cases = {
        "one": make_case(client, admin, case_number="玄城管罚〔2026〕0001号", unit=SQUAD, officers=["A01"],
                         title="占道经营", opened_at=at(8).isoformat()),
        "two": make_case(client, admin, case_number="秦城管罚〔2026〕0002号", unit=OTHER_SQUAD, officers=["B01"],
                         title="违法建设", opened_at=(DAY + timedelta(days=23)).isoformat()),
        "three": make_case(client, admin, case_number="秦城管罚〔2026〕0003号", unit=OTHER_DISTRICT, officers=["B02"],
                           title="乱堆物料", opened_at=(DAY + timedelta(days=25)).isoformat()),
        "four": make_case(client, admin, case_number="玄城管罚〔2026〕0004号", unit=DISTRICT, officers=[],
                          title="待立案", opened_at=(DAY + timedelta(days=55)).isoformat()),
    }

    def step(case: str, kind: str, start: datetime, minutes: float, officers: list[str]) -> dict:
        return make_step(client, admin, cases[case]["id"], type=kind, officers=officers, started_at=start.isoformat(),
                         ended_at=(start + timedelta(minutes=minutes)).isoformat(), place="中山路 1 号")

    steps = {"covered": step("one", "evidence_preservation", at(10), 10, ["A01"]),
             "gap": step("one", "evidence_preservation", at(11), 20, ["A01"]),
             "filing": step("one", "case_filing", at(12), 1, ["A01"]),
             "inspection": step("two", "site_inspection", at(9, day=DAY + timedelta(days=23)), 15, ["B01"]),
             "late": step("three", "site_inspection", at(9, day=DAY + timedelta(days=25)), 15, ["B02"])}
    with rt.session() as session, session.begin():
        device = Device(id=str(uuid.uuid4()), serial="DSJ-A01", unit_code=SQUAD)
        session.add(device)
        session.flush()
        session.add(ClockReport(id=str(uuid.uuid4()), device_id=device.id, device_time=at(18) + timedelta(seconds=OFFSET),
                                station_time=at(18), offset_seconds=OFFSET, recorded_by="station:test"))
        raw = timedelta(seconds=OFFSET)  # the recorder runs 2.5 s ahead
        clips = {"covered": add_clip(session, rt, "A01_0959", "A01", "DSJ-A01", at(9, 59) + raw, 12 * 60,
                                     holes=((120.0, 150.0),), device_id=device.id),
                 "gap_first": add_clip(session, rt, "A01_1059", "A01", "DSJ-A01", at(10, 59) + raw, 6 * 60,
                                       device_id=device.id),
                 "gap_second": add_clip(session, rt, "A01_1110", "A01", "DSJ-A01", at(11, 10) + raw, 11 * 60,
                                        device_id=device.id),
                 "inspection": add_clip(session, rt, "B01_0905", "B01", "DSJ-B01",
                                        at(9, 5, day=DAY + timedelta(days=23)), 5 * 60),
                 "late": add_clip(session, rt, "B02_0905", "B02", "DSJ-B02", at(9, 5, day=DAY + timedelta(days=25)),
                                  5 * 60, received=at(9, 5, day=DAY + timedelta(days=28))),
                 "broken": add_clip(session, rt, "B01_BROKEN", "B01", "DSJ-B01",
                                    at(9, 1, day=DAY + timedelta(days=23)), 60, status="unplayable",
                                    derivatives=False)}
        linking.take_lock(session)
        linking.relink_all(session, rt.settings, linking.Actor("worker", "test"))
        run = create_run(session, rt.settings, kind="api", requested_by="test", period_from=date(2026, 3, 1),
                         period_to=date(2026, 4, 30))
        run_id = run.id
    execute(rt, run_id)
    return World(cases=cases, steps=steps, clips=clips, run_id=run_id)


def page(client, path: str, expect: int = 200, **query) -> str:
    answer = client.get(path, query_string=query)
    assert answer.status_code == expect, (path, query, answer.status_code, answer.get_data(as_text=True)[-800:])
    return answer.get_data(as_text=True)


def listed(html: str) -> set[str]:
    return set(re.findall(r'class="case-number" href="/cases/[^"]+">([^<]+)<', html))


ONE, TWO, THREE, FOUR = "玄城管罚〔2026〕0001号", "秦城管罚〔2026〕0002号", "秦城管罚〔2026〕0003号", "玄城管罚〔2026〕0004号"


def test_search_filters(client, rt, world):
    sign_in(client, rt, "inspector")
    everything = page(client, "/cases")
    assert listed(everything) == {ONE, TWO, THREE, FOUR}
    assert everything.index(FOUR) < everything.index(THREE) < everything.index(TWO) < everything.index(ONE), \
        "newest first"
    assert f"#{world.run_id[:8]}" in everything, "the audit run the statuses come from is named"
    assert listed(page(client, "/cases", case_number="0002")) == {TWO}
    assert listed(page(client, "/cases", case_number="玄城管")) == {ONE, FOUR}
    assert listed(page(client, "/cases", case_number="%")) == set(), "LIKE wildcards are literal"
    assert listed(page(client, "/cases", unit=DISTRICT)) == {ONE, FOUR}, "the unit with its sub-units"
    assert listed(page(client, "/cases", unit=OTHER_SQUAD)) == {TWO}
    assert listed(page(client, "/cases", officer="B01")) == {TWO}
    assert listed(page(client, "/cases", officer="王")) == {THREE}, "part of an officer's name"
    assert listed(page(client, "/cases", date_from="2026-03-10", date_to="2026-03-10")) == {ONE}
    assert listed(page(client, "/cases", date_from="2026-04-02")) == {TWO, THREE, FOUR}
    assert listed(page(client, "/cases", date_to="2026-04-02")) == {ONE, TWO}
    assert listed(page(client, "/cases", status="closed")) == set()
    assert listed(page(client, "/cases", audit="fail")) == {ONE}
    assert listed(page(client, "/cases", audit="warning")) == {THREE}
    assert listed(page(client, "/cases", audit="pass")) == {TWO}
    assert listed(page(client, "/cases", audit="not_audited")) == {FOUR}
    combined = page(client, "/cases", unit="3201", officer="A01", audit="fail", case_number="0001",
                    date_from="2026-03-01", date_to="2026-03-31")
    assert listed(combined) == {ONE}
    row = re.search(r"0001号</a>.*?</tr>", combined, re.S).group(0)
    assert "张三" in row and ">3<" in row and ">3<" in row.split("class=\"num\"", 2)[2], "3 steps, 3 clips"
    assert 'class="badge fail"' in row
    assert "没有符合条件的案件" in page(client, "/cases", case_number="nothing-like-this")
    assert page(client, "/cases", date_from="2026-05-01", date_to="2026-04-01", expect=400)


def test_paging(client, rt, world, monkeypatch):
    smaller = rt.settings.web.model_copy(update={"page_size": 5})  # the smallest page the settings allow
    monkeypatch.setattr(rt, "settings", rt.settings.model_copy(update={"web": smaller}))
    with rt.session() as session, session.begin():
        for n in range(7):
            session.add(Case(id=str(uuid.uuid4()), case_number=f"PAGE-{n:02d}", agency_code="3201", unit_code=SQUAD,
                             version=1, create_digest="0" * 64, created_by="test", update_digests={}))
    sign_in(client, rt, "legal")
    first, second, third = (listed(page(client, "/cases", offset=n)) for n in (0, 5, 10))
    assert len(first) == len(second) == 5 and len(third) == 1 and not first & second
    assert first | second | third == {ONE, TWO, THREE, FOUR} | {f"PAGE-{n:02d}" for n in range(7)}
    assert "下一页" in page(client, "/cases") and "上一页" in page(client, "/cases", offset=5)


def test_evidence_chain(client, rt, world):
    sign_in(client, rt, "legal")
    html = page(client, f"/cases/{world.cases['one']['id']}")
    assert ONE in html and "占道经营" in html and "玄武区一中队" in html and "张三" in html
    for name in ("证据先行登记保存", "立案"):
        assert name in html
    assert html.count('class="card step status-') == 3
    gap = re.search(rf'id="step-{world.steps["gap"]["id"]}".*?</section>', html, re.S).group(0)
    assert 'class="badge fail"' in gap
    assert re.search(r'<li class="reason fail" data-code="gap_too_long">录像中断 \d+ 秒（2026-03-10 11:0\d:\d\d 至', gap), gap
    covered = re.search(rf'id="step-{world.steps["covered"]["id"]}".*?</section>', html, re.S).group(0)
    assert 'class="badge pass"' in covered and 'class="piece covered"' in covered and 'class="piece obstructed"' in covered
    assert 'class="clipbar counted' in covered and 'class="hole"' in covered
    assert 'class="badge not_required"' in html and "无需录像" in html
    with rt.session() as session:
        clips = {c.id: c for c in session.scalars(select(Clip).where(Clip.id.in_(world.clips.values())))}
        first = clips[world.clips["covered"]]
        events = session.scalars(select(CustodyEvent).where(CustodyEvent.clip_id == first.id)
                                 .order_by(CustodyEvent.seq)).all()
    assert first.sha256 in html and first.sm3 in html and "117.7 MiB (123,456,789 B)" in html
    assert "+2.500 秒" in html, "the clock offset applied"
    assert "ffmpeg -i source.mp4 -c copy -movflags +faststart review.mp4" in html, "how the review copy was made"
    assert "fps=16/720.000,scale=320:-2,tile=4x4" in html
    block = re.search(rf'id="clip-{first.id}".*?<details class="events">.*?</details>', html, re.S).group(0)
    seqs = [int(s) for s in re.findall(r'<tr class="action-[a-z_]+"><td class="num">(\d+)</td>', block)]
    assert seqs == [e.seq for e in events] and len(seqs) >= 5, "every custody event of the clip, in order"
    assert "接收入库" in block and "生成派生文件" in block and "关联环节" in block
    assert f'href="/clips/{first.id}"' in html
    english = page(client, f"/cases/{world.cases['one']['id']}", lang="en")
    assert "Evidence chain" in english and "Recording is missing for" in english and "Custody events" in english


def test_excluded_clip_is_marked(client, rt, world):
    with rt.session() as session, session.begin():
        linking.take_lock(session)
        linking.decide(session, rt.settings, world.clips["gap_first"], world.steps["gap"]["id"], "excluded",
                       "拍摄的是另一处现场", linking.Actor("user", "someone"), "legal:someone")
    sign_in(client, rt, "inspector")
    html = page(client, f"/cases/{world.cases['one']['id']}")
    gap = re.search(rf'id="step-{world.steps["gap"]["id"]}".*?</section>', html, re.S).group(0)
    assert 'class="link-excluded"' in gap and "拍摄的是另一处现场" in gap and 'class="clipbar excluded' in gap


def test_clip_page_and_review_range(client, rt, world):
    sign_in(client, rt, "inspector")
    clip_id = world.clips["covered"]
    html = page(client, f"/clips/{clip_id}")
    assert f'<video id="player" class="player" controls preload="metadata" src="/clips/{clip_id}/review"' in html
    assert html.count('class="tile"') == 16 and 'data-seek="45.0"' in html
    assert 'class="hole covered" style="left:16.667%;width:4.167%"' in html, "the obstruction map on the timeline"
    assert ONE in html and "证据先行登记保存" in html and "player.js" in html
    with rt.session() as session:
        before = session.scalars(select(CustodyEvent).where(CustodyEvent.clip_id == clip_id)
                                 .order_by(CustodyEvent.seq.desc()).limit(1)).first()
        assert (before.action, before.details["via"], before.details["what"]) == ("viewed", "web", "metadata")

    answer = client.get(f"/clips/{clip_id}/review", headers={"Range": "bytes=100-1099"})
    assert answer.status_code == 206
    assert answer.headers["Content-Range"] == f"bytes 100-1099/{len(REVIEW_BYTES)}"
    assert answer.headers["Accept-Ranges"] == "bytes" and answer.data == REVIEW_BYTES[100:1100]
    with rt.session() as session:
        event = session.scalars(select(CustodyEvent).where(CustodyEvent.clip_id == clip_id)
                                .order_by(CustodyEvent.seq.desc()).limit(1)).first()
    assert event.action == "streamed" and event.details["via"] == "web" and event.details["range"] == [100, 1099]
    assert event.actor_type == "user"
    assert client.get(f"/clips/{clip_id}/review", headers={"Range": "bytes=999999-"}).status_code == 416
    whole = client.get(f"/clips/{clip_id}/review")
    assert whole.status_code == 200 and whole.data == REVIEW_BYTES

    with rt.session() as session:
        poster = session.scalars(select(Derivative).where(Derivative.clip_id == clip_id,
                                                          Derivative.kind == "poster")).one()
    image = client.get(f"/clips/{clip_id}/derivatives/{poster.id}")
    assert image.status_code == 200 and image.content_type == "image/jpeg"
    with rt.session() as session:
        event = session.scalars(select(CustodyEvent).order_by(CustodyEvent.seq.desc()).limit(1)).first()
    assert (event.action, event.details["what"], event.details["via"]) == ("viewed", "poster", "web")
    other = world.clips["inspection"]
    assert client.get(f"/clips/{other}/derivatives/{poster.id}").status_code == 404, "another clip's file"


def test_audio_review_copy_plays_in_an_audio_element(client, rt, world):
    clip_id = world.clips["late"]
    with rt.session() as session, session.begin():
        session.get(Clip, clip_id).media_kind = "audio"
        for derivative in session.scalars(select(Derivative).where(Derivative.clip_id == clip_id)):
            if derivative.kind == "review":
                derivative.content_type = "audio/mp4"
            else:
                session.delete(derivative)
    sign_in(client, rt, "inspector")
    html = page(client, f"/clips/{clip_id}")
    assert f'<audio id="player" class="player" controls preload="metadata" src="/clips/{clip_id}/review"' in html
    assert 'class="tile"' not in html and "<video" not in html
    answer = client.get(f"/clips/{clip_id}/review", headers={"Range": "bytes=0-9"})
    assert answer.status_code == 206 and answer.content_type == "audio/mp4"


def test_clip_without_review_copy_says_why(client, rt, world):
    sign_in(client, rt, "legal")
    html = page(client, f"/clips/{world.clips['broken']}")
    assert 'id="player"' not in html and "文件无法作为音视频读取" in html
    assert client.get(f"/clips/{world.clips['broken']}/review").status_code == 404
    with rt.session() as session, session.begin():
        clip = session.get(Clip, world.clips["inspection"])
        clip.status, clip.deleted_at = "deleted", datetime.now(timezone.utc)
    html = page(client, f"/clips/{world.clips['inspection']}")
    assert 'id="player"' not in html and "已按保存期限删除" in html
    assert client.get(f"/clips/{world.clips['inspection']}/review").status_code == 410


def test_unknown_and_bad_ids(client, rt, world):
    sign_in(client, rt, "admin")
    nobody = uuid.uuid4()
    assert "404" in page(client, f"/cases/{nobody}", 404)
    assert "404" in page(client, f"/clips/{nobody}", 404)
    page(client, f"/clips/{nobody}/review", 404)
    page(client, f"/clips/{world.clips['covered']}/derivatives/{nobody}", 404)
    for path in ("/cases/not-a-uuid", "/clips/123", "/clips/x/review", "/cases/%00", "/clips/../etc/passwd"):
        assert client.get(path).status_code == 404, path


def test_no_server_error_on_bad_parameters(client, rt, world):
    sign_in(client, rt, "inspector")
    assert_no_server_error(client, "/cases", ["case_number", "unit", "officer", "status", "date_from", "date_to",
                                              "audit", "offset", "lang"])
    assert_no_server_error(client, f"/cases/{world.cases['one']['id']}", ["lang", "offset"])
    assert_no_server_error(client, f"/clips/{world.clips['covered']}", ["lang"])
    assert_no_server_error(client, f"/clips/{world.clips['covered']}/review", ["lang"])


def test_who_may_see(client, rt, world):
    assert client.get("/cases").status_code == 302, "not signed in: to the sign-in page"
    assert client.get(f"/clips/{world.clips['covered']}/review").status_code == 302
    officer = make_user(rt, "officer")
    answer = client.post("/login", data={"csrf_token": csrf_token(client), "username": officer, "password": PASSWORD})
    assert answer.status_code == 403
    assert client.get(f"/cases/{world.cases['one']['id']}").status_code == 302, "the officer is not signed in"
    for role in ("admin", "legal", "inspector"):
        fresh = client.application.test_client()
        sign_in(fresh, rt, role)
        assert fresh.get(f"/cases/{world.cases['one']['id']}").status_code == 200
