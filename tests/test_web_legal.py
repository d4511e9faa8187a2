"""The legal staff's actions through the pages' forms (link, unlink, withdraw, legal holds,
evidence bundles), the unlinked clips queue and the users page, with the Flask test client on
SQLite and PostgreSQL: the forms run the API's own operations (same rows, same custody events),
a mistake or a refusal is flashed and changes nothing, and each role sees and may do only its own."""
from __future__ import annotations

import hashlib
import re
import uuid

from flask import g, render_template
from sqlalchemy import select

from server.accounts import Principal
from server.web.legal import case_actions, clip_actions
from storage.custody_models import Export
from storage.link_models import ClipLink
from storage.models import CustodyEvent, User
from storage.retention_models import LegalHold
from tests.casework_api import PASSWORD, make_case, make_step, snapshot
from tests.test_devices_api import DEVICE_TABLES, OFFICER, SERIAL, at, custody, upload
from tests.test_devices_api import world  # noqa: F401  (fixture)
from tests.test_links_api import REASON, decide, scene  # noqa: F401  (scene is a fixture)
from tests.web_support import BAD_QUERY_VALUES, assert_no_server_error, csrf_token, sign_in
from workers import exports as export_jobs

HOLD_TABLES = ("clips", "legal_holds", "custody_events")
USER_TABLES = ("users", "api_tokens")
FLASH = re.compile(r'<p class="flash (ok|error|info)" role="status">([^<]*)</p>')


def login(client, name: str) -> None:
    """Sign the pages' client in as an existing user (made by the API helpers)."""
    answer = client.post("/login", data={"csrf_token": csrf_token(client), "username": name, "password": PASSWORD})
    assert answer.status_code == 303, answer.get_data(as_text=True)[-500:]
    client.form_token = csrf_token(client, "/unlinked")


def become(client, rt, role: str, name: str | None = None) -> str:
    """A new user with this role, signed in (web_support.sign_in) with the form token kept."""
    name = sign_in(client, rt, role, name)
    client.form_token = csrf_token(client, "/unlinked")
    return name


def post(client, path: str, data: dict, **kwargs):
    """POST a form with the session's CSRF token, without opening a page (which would show, and so
    use up, the messages flashed by the form before)."""
    return client.post(path, data={"csrf_token": client.form_token, **data}, **kwargs)


def submit(client, path: str, data: dict, back: str = "/unlinked"):
    """POST a form as the browser does (CSRF token, next); the answer must send the browser back."""
    answer = post(client, path, {"next": back, **data})
    assert answer.status_code == 303, answer.get_data(as_text=True)[-800:]
    return answer


def flashes(client, path: str = "/unlinked") -> list[tuple[str, str]]:
    return FLASH.findall(client.get(path).get_data(as_text=True))


def link_row(rt, clip_id: str, step_id: str) -> ClipLink | None:
    with rt.session() as session:
        return session.scalar(select(ClipLink).where(ClipLink.clip_id == clip_id, ClipLink.step_id == step_id))


def events(rt, clip_id: str, *actions: str) -> list[CustodyEvent]:
    with rt.session() as session:
        return session.scalars(select(CustodyEvent).where(CustodyEvent.clip_id == clip_id,
                                                          CustodyEvent.action.in_(actions))
                               .order_by(CustodyEvent.seq)).all()


def comparable(link: ClipLink) -> tuple:
    return link.origin, link.state, link.rule, link.reason, link.decided_by


def test_link_unlink_and_withdraw_through_the_forms_are_the_apis_decisions(client, rt, scene):
    step = scene["step"]
    web_clip = scene["clip"]
    api_clip = upload(client, scene["station"], SERIAL, at("10:10"), officer=OFFICER)  # linked by the rule too
    login(client, "fazhi")  # the same legal user the API calls are made as

    submit(client, "/links", {"clip_id": web_clip, "step_id": step["id"], "action": "unlink", "reason": REASON})
    assert decide(client, scene["legal"], api_clip, step["id"], "unlink").status_code == 201
    [(kind, message)] = flashes(client)
    assert kind == "ok" and "已解除" in message and scene["case"]["case_number"] in message
    web_link, api_link = link_row(rt, web_clip, step["id"]), link_row(rt, api_clip, step["id"])
    assert comparable(web_link) == comparable(api_link) == ("manual", "excluded", "manual", REASON, "user:fazhi")
    web_events, api_events = custody(rt, web_clip), custody(rt, api_clip)
    assert [action for action, _ in web_events] == [action for action, _ in api_events] == [
        "received", "linked", "unlinked"]
    assert {key: value for key, value in web_events[-1][1].items() if "id" not in key} == \
        {key: value for key, value in api_events[-1][1].items() if "id" not in key}
    [unlinked] = events(rt, web_clip, "unlinked")
    assert (unlinked.actor_type, unlinked.source_address) == ("user", "127.0.0.1")

    # The same decision again: a replay, nothing recorded.
    submit(client, "/links", {"clip_id": web_clip, "step_id": step["id"], "action": "unlink", "reason": REASON})
    assert "已经存在" in flashes(client)[0][1] and len(custody(rt, web_clip)) == 3

    # A blank reason, a missing CSRF token, an inspector: nothing changes.
    before = snapshot(rt, DEVICE_TABLES)
    submit(client, f"/links/{web_link.id}/withdraw", {"reason": "  \n "})
    submit(client, "/links", {"clip_id": web_clip, "step_id": step["id"], "action": "link", "reason": " "})
    assert [kind for kind, _ in flashes(client)] == ["error", "error"]
    assert client.post(f"/links/{web_link.id}/withdraw", data={"reason": "复核"}).status_code == 400
    become(client, rt, "inspector")
    forced = post(client, f"/links/{web_link.id}/withdraw", {"reason": "复核"})
    assert forced.status_code == 403 and "inspector" in forced.get_data(as_text=True)
    assert post(client, "/links", {"clip_id": web_clip, "step_id": step["id"], "action": "link",
                                        "reason": "x"}).status_code == 403
    become(client, rt, "admin")  # administrators do not decide links either (the API: legal only)
    assert post(client, "/links", {"clip_id": web_clip, "step_id": step["id"], "action": "link",
                                        "reason": "x"}).status_code == 403
    assert snapshot(rt, DEVICE_TABLES) == before

    login(client, "fazhi")
    answer = submit(client, f"/links/{web_link.id}/withdraw", {"reason": "复核后确认属于本环节"},
                    back=f"/clips/{web_clip}?lang=en")
    assert answer.headers["Location"] == f"/clips/{web_clip}?lang=en"
    assert comparable(link_row(rt, web_clip, step["id"])) == ("auto", "linked", "officer", None, None)
    assert [action for action, _ in custody(rt, web_clip)[-2:]] == ["link_decision_withdrawn", "linked"]
    assert flashes(client) == [("ok", "已撤销人工决定，由自动规则重新判断：现为已关联。")]
    again = submit(client, f"/links/{web_link.id}/withdraw", {"reason": "重复提交"})
    [(kind, message)] = flashes(client)
    assert kind == "error" and web_link.id in message and again.headers["Location"] == "/unlinked"

    # Link by hand to a step of another case that the rule would not link.
    other_case = make_case(client, scene["admin"], officers=[OFFICER])
    other = make_step(client, scene["admin"], other_case["id"], officers=[OFFICER], started_at=at("15:00"),
                      ended_at=at("15:30"))
    submit(client, "/links?lang=en", {"clip_id": web_clip, "step_id": other["id"], "action": "link",
                                      "reason": "当事人陈述该段录像记录了送达"})
    assert comparable(link_row(rt, web_clip, other["id"]))[:2] == ("manual", "linked")
    unknown = str(uuid.uuid4())
    submit(client, "/links", {"clip_id": unknown, "step_id": other["id"], "action": "link", "reason": "x"})
    assert ("error", f"No clip {unknown}.") in flashes(client)  # ?lang=en above switched the language


def test_the_refusal_messages_and_bad_forms_change_nothing(client, rt, scene):
    login(client, "fazhi")
    before = snapshot(rt, DEVICE_TABLES)
    for data in ({"clip_id": "not-a-uuid", "step_id": scene["step"]["id"], "action": "link", "reason": "x"},
                 {"clip_id": scene["clip"], "step_id": scene["step"]["id"], "action": "delete", "reason": "x"},
                 {"clip_id": scene["clip"], "action": "link", "reason": "x"},
                 {"clip_id": scene["clip"], "step_id": str(uuid.uuid4()), "action": "unlink", "reason": "x"}):
        submit(client, "/links", data)
        [(kind, _message)] = flashes(client)
        assert kind == "error", data
    assert client.post(f"/links/{uuid.uuid4()}/withdraw", data={}).status_code == 400  # no CSRF token
    submit(client, f"/links/{uuid.uuid4()}/withdraw", {"reason": "x"})
    submit(client, "/links", {"clip_id": scene["clip"], "step_id": scene["step"]["id"], "action": "unlink",
                              "reason": "x", "next": "https://elsewhere.example/"})
    assert snapshot(rt, DEVICE_TABLES) != before  # the last one was a good form: it went home, not elsewhere


def test_legal_holds_on_a_clip_and_on_a_case(client, rt, scene):
    clip, case = scene["clip"], scene["case"]
    login(client, "fazhi")

    submit(client, f"/clips/{clip}/legal-hold", {"reason": "案件诉讼中，暂停删除"})
    [(kind, message)] = flashes(client)
    assert kind == "ok" and "保全" in message
    with rt.session() as session:
        [hold] = session.scalars(select(LegalHold).where(LegalHold.clip_id == clip)).all()
    assert (hold.reason, hold.set_by, hold.lifted_at) == ("案件诉讼中，暂停删除", "user:fazhi", None)
    [placed] = events(rt, clip, "legal_hold_placed")
    assert placed.details["reason"] == "案件诉讼中，暂停删除" and placed.actor_type == "user"
    submit(client, f"/clips/{clip}/legal-hold", {"reason": " 案件诉讼中，暂停删除 "})
    assert "未重复" in flashes(client)[0][1]

    before = snapshot(rt, HOLD_TABLES)
    submit(client, f"/clips/{clip}/legal-hold", {"reason": ""})
    submit(client, f"/clips/{clip}/legal-hold/{hold.id}/lift", {"reason": " "})
    submit(client, f"/clips/{uuid.uuid4()}/legal-hold", {"reason": "x"})
    submit(client, f"/cases/{uuid.uuid4()}/legal-hold", {"reason": "x"})
    assert [kind for kind, _ in flashes(client)] == ["error"] * 4
    assert client.post(f"/clips/{clip}/legal-hold", data={"reason": "x"}).status_code == 400
    for role in ("inspector", "admin"):
        become(client, rt, role)
        assert post(client, f"/clips/{clip}/legal-hold", {"reason": "x"}).status_code == 403
        assert post(client, f"/cases/{case['id']}/legal-hold", {"reason": "x"}).status_code == 403
    assert snapshot(rt, HOLD_TABLES) == before

    login(client, "fazhi")
    submit(client, f"/clips/{clip}/legal-hold/{hold.id}/lift", {"reason": "诉讼已结束"})
    assert flashes(client)[0][0] == "ok"
    with rt.session() as session:
        lifted = session.get(LegalHold, hold.id)
    assert (lifted.lift_reason, lifted.lifted_by) == ("诉讼已结束", "user:fazhi")
    submit(client, f"/clips/{clip}/legal-hold/{hold.id}/lift", {"reason": "再次"})
    assert flashes(client)[0][0] == "error"

    answer = submit(client, f"/cases/{case['id']}/legal-hold", {"reason": "移送法院"}, back=f"/cases/{case['id']}")
    assert answer.headers["Location"] == f"/cases/{case['id']}"
    with rt.session() as session:
        holds = session.scalars(select(LegalHold).where(LegalHold.case_id == case["id"])).all()
    assert [(item.clip_id, item.reason) for item in holds] == [(clip, "移送法院")]
    assert flashes(client) == [("ok", f"已对案件 {case['case_number']} 的 1 个片段设置法律保全。")]
    empty = make_case(client, scene["admin"])
    submit(client, f"/cases/{empty['id']}/legal-hold", {"reason": "移送法院"})
    [(kind, message)] = flashes(client)
    assert kind == "error" and empty["case_number"] in message


def test_an_export_started_from_the_page_shows_its_progress_and_downloads(client, rt, scene):
    case = scene["case"]
    become(client, rt, "inspector")
    assert post(client, f"/cases/{case['id']}/exports", {}).status_code == 403
    login(client, "fazhi")
    assert client.post(f"/cases/{case['id']}/exports", data={}).status_code == 400  # no CSRF token
    with rt.session() as session:
        assert session.scalar(select(Export.id)) is None

    started = post(client, f"/cases/{case['id']}/exports", {"include_review": "true"})
    assert started.status_code == 303
    with rt.session() as session:
        export = session.scalars(select(Export)).one()
    assert started.headers["Location"] == f"/exports/{export.id}"
    assert (export.status, export.include_review, export.requested_by) == ("queued", True, "user:fazhi")
    page = client.get(f"/exports/{export.id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and f'data-export-progress-url="/exports/{export.id}/progress"' in html
    assert "已开始导出" in html and "排队中" in html and case["case_number"] in html
    progress = client.get(f"/exports/{export.id}/progress?lang=en").get_json()
    assert (progress["status"], progress["status_text"], progress["percent"], progress["final"]) == (
        "queued", "queued", 0, False)
    assert progress["download_url"] is None
    assert client.get(f"/exports/{export.id}/download").status_code == 409

    assert export_jobs.run(rt, export.id) == "done"  # what the worker does
    progress = client.get(f"/exports/{export.id}/progress").get_json()
    assert (progress["status"], progress["percent"], progress["final"]) == ("done", 100, True)
    assert progress["download_url"] == f"/exports/{export.id}/download"
    html = client.get(f"/exports/{export.id}").get_data(as_text=True)
    assert progress["sha256"] in html and progress["download_url"] in html
    download = client.get(progress["download_url"], headers={"User-Agent": "court-clerk/2.0"})
    assert download.status_code == 200 and download.mimetype == "application/zip"
    assert hashlib.sha256(download.data).hexdigest() == progress["sha256"]
    assert download.headers["Content-Disposition"].startswith("attachment; filename*=UTF-8''")
    [downloaded] = events(rt, scene["clip"], "bundle_downloaded")
    assert (downloaded.details["via"], downloaded.details["role"], downloaded.details["user_agent"],
            downloaded.details["export_id"]) == ("web", "legal", "court-clerk/2.0", export.id)

    become(client, rt, "admin")  # administrators export too (as the API)
    assert client.get(f"/exports/{export.id}").status_code == 200
    assert post(client, f"/cases/{case['id']}/exports", {}).status_code == 303
    become(client, rt, "inspector")
    for path in (f"/exports/{export.id}", f"/exports/{export.id}/progress", f"/exports/{export.id}/download"):
        assert client.get(path).status_code == 403, path


def test_the_partials_show_each_role_its_own_actions(app, client, rt, scene):
    case, step, clip = scene["case"], scene["step"], scene["clip"]
    stray = upload(client, scene["station"], "DSJ-STRAY", at("10:20"))  # no officer, unknown recorder: unlinked
    login(client, "fazhi")
    submit(client, f"/clips/{clip}/legal-hold", {"reason": "复议"})
    submit(client, "/links", {"clip_id": clip, "step_id": step["id"], "action": "unlink", "reason": REASON})
    with rt.session() as session:
        link = session.scalar(select(ClipLink).where(ClipLink.clip_id == clip))
    steps = [{"id": step["id"], "type": step["type"], "type_name": "证据先行登记保存", "started_at": link.created_at}]
    link_dict = {"id": link.id, "clip_id": clip, "step_id": step["id"], "state": link.state, "origin": link.origin}

    def render(role: str) -> str:
        """The three partials as the case and clip pages include them, for a user with this role."""
        with app.test_request_context(f"/cases/{case['id']}"), rt.session() as session:
            g.principal = Principal("user", str(uuid.uuid4()), f"{role}-user", role)
            case_view, clip_view = case_actions(session, case["id"]), clip_actions(session, clip)
            # Offered for the step: the stray clip; not the clip just unlinked from it.
            assert [item["id"] for item in case_view["candidates"][step["id"]]] == [stray]
            assert [decision["reason"] for decision in clip_view["decisions"]] == [REASON]
            assert [hold["reason"] for hold in clip_view["holds"]] == ["复议"]
            context = {"case": {"id": case["id"], "case_number": case["case_number"]}, "clip": {"id": clip},
                       "steps": steps, "link": link_dict}
            return (render_template("web/_case_actions.html.j2", actions=case_view, **context)
                    + render_template("web/_clip_actions.html.j2", actions=clip_view, **context)
                    + render_template("web/_link_controls.html.j2", **context))
    legal, admin, inspector = render("legal"), render("admin"), render("inspector")
    for form in ('action="/links"', f'action="/links/{link.id}/withdraw"', f'action="/cases/{case["id"]}/legal-hold"',
                 f'action="/clips/{clip}/legal-hold"', f'action="/cases/{case["id"]}/exports"'):
        assert form in legal, form
        assert form not in inspector, form
    assert f'action="/cases/{case["id"]}/exports"' in admin and 'action="/links"' not in admin
    assert "复议" in admin and "复议" not in inspector  # holds are for legal staff and administrators (the API's)
    assert "仅供查看" in inspector and REASON in inspector  # decisions are readable by inspectors

    # The case and clip pages include the partials.
    case_page = client.get(f"/cases/{case['id']}").get_data(as_text=True)
    clip_page = client.get(f"/clips/{clip}").get_data(as_text=True)
    assert f'action="/cases/{case["id"]}/exports"' in case_page and f'action="/links/{link.id}/withdraw"' in case_page
    assert f'action="/clips/{clip}/legal-hold"' in clip_page and "复议" in clip_page
    become(client, rt, "inspector")
    for page in (client.get(f"/cases/{case['id']}"), client.get(f"/clips/{clip}")):
        html = page.get_data(as_text=True)
        assert page.status_code == 200 and 'id="legal-actions"' in html
        assert 'action="/links' not in html and "legal-hold" not in html and "/exports" not in html


def test_the_unlinked_queue(client, rt, world):  # noqa: F811
    stray = upload(client, world["station"], "DSJ-Z99", at("08:00"))
    case = make_case(client, world["admin"], officers=[OFFICER])
    step = make_step(client, world["admin"], case["id"], officers=[OFFICER], started_at=at("08:00"),
                     ended_at=at("08:30"))
    name = become(client, rt, "inspector")
    page = client.get("/unlinked").get_data(as_text=True)
    assert f'href="/clips/{stray}"' in page and "DSJ-Z99" in page and "未登记" in page
    assert 'action="/links"' not in page and "/links/new" not in page
    assert client.get(f"/links/new?clip_id={stray}").status_code == 403

    become(client, rt, "legal", f"legal-{name}")
    page = client.get("/unlinked?lang=en").get_data(as_text=True)
    assert 'action="/links"' in page and "waiting" in page
    assert stray in client.get("/unlinked?device=DSJ-Z99").get_data(as_text=True)
    for query in ("device=DSJ-OTHER", "officer=X9", "waiting=overdue", "received_from=2199-01-01",
                  f"station={uuid.uuid4()}", "received_to=2000-01-02"):
        assert stray not in client.get(f"/unlinked?{query}").get_data(as_text=True), query
    assert stray in client.get("/unlinked?received_from=2000-01-01&received_to=2199-12-31&station=&officer=") \
        .get_data(as_text=True)

    choose = client.get(f"/links/new?clip_id={stray}&case_number={case['case_number']}")
    assert choose.status_code == 200 and f'value="{step["id"]}"' in choose.get_data(as_text=True)
    nearby = client.get(f"/links/new?clip_id={stray}").get_data(as_text=True)
    assert f'value="{step["id"]}"' in nearby  # the step is near the clip's time
    nothing = client.get(f"/links/new?clip_id={stray}&case_number=nope").get_data(as_text=True)
    assert "No case numbered" in nothing, nothing[nothing.find("<main>"):]
    submit(client, "/links", {"clip_id": stray, "step_id": step["id"], "action": "link", "reason": "补录关联"})
    assert stray not in client.get("/unlinked").get_data(as_text=True)

    assert_no_server_error(client, "/unlinked", ["station", "device", "officer", "received_from", "received_to",
                                                 "waiting", "offset", "lang"])
    assert_no_server_error(client, "/links/new", ["clip_id", "case_number"])
    for value in BAD_QUERY_VALUES:  # with a good clip id, so the case number is looked up
        assert client.get("/links/new", query_string={"clip_id": stray, "case_number": value}).status_code < 500
    for path in (f"/links/new?clip_id={uuid.uuid4()}", "/exports/not-a-uuid", f"/exports/{uuid.uuid4()}",
                 f"/exports/{uuid.uuid4()}/progress", f"/exports/{uuid.uuid4()}/download"):
        assert client.get(path).status_code == 404, path


def test_administrators_manage_users_and_nobody_else_can(client, rt):
    legal = become(client, rt, "legal")
    before = snapshot(rt, USER_TABLES)
    forbidden = client.get("/users")
    assert forbidden.status_code == 403 and "legal" in forbidden.get_data(as_text=True)
    created = post(client, "/users", {"username": "intruder", "role": "admin", "password": "x" * 20})
    assert created.status_code == 403
    with rt.session() as session:
        legal_id = session.scalar(select(User.id).where(User.username == legal))
    for path, data in ((f"/users/{legal_id}/role", {"role": "admin"}),
                       (f"/users/{legal_id}/active", {"active": "false"}),
                       (f"/users/{legal_id}/password", {"password": "y" * 20})):
        assert post(client, path, data).status_code == 403
    assert snapshot(rt, USER_TABLES) == before

    admin = become(client, rt, "admin")
    page = client.get("/users").get_data(as_text=True)
    assert legal in page and admin in page and 'action="/users"' in page
    answer = post(client, "/users", {"username": "fazhi.wang", "display_name": "王法制", "role": "legal",
                                          "password": "long enough pass"})
    assert answer.status_code == 303 and answer.headers["Location"] == "/users"
    page = client.get("/users").get_data(as_text=True)
    assert "已创建用户“fazhi.wang”" in page and "王法制" in page
    hostile = post(client, "/users", {"username": "html.name", "display_name": '<img src=x onerror="alert(1)">',
                                      "role": "inspector", "password": "long enough pass"})
    assert hostile.status_code == 303
    page = client.get("/users").get_data(as_text=True)  # every page escapes what users typed
    assert "<img src=x" not in page and "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page
    with rt.session() as session:
        user = session.scalar(select(User).where(User.username == "fazhi.wang"))
    assert (user.role, user.display_name, user.active) == ("legal", "王法制", True)

    before = snapshot(rt, USER_TABLES)
    short = post(client, "/users", {"username": "x", "role": "legal", "password": "short"})
    assert short.status_code == 422 and "密码至少需要 10 个字符" in short.get_data(as_text=True)
    bad = post(client, "/users?lang=en", {"username": "no spaces", "role": "king", "password": "long enough pass"})
    text = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "user name must be" in text and "valid role" in text
    assert 'value="no spaces"' in text and "long enough pass" not in text  # the password is never sent back
    again = post(client, "/users", {"username": "fazhi.wang", "role": "legal", "password": "long enough pass"})
    assert again.status_code == 409 and "already exists" in again.get_data(as_text=True)
    assert client.post("/users", data={"username": "nocsrf", "role": "legal", "password": "long enough pass"}) \
        .status_code == 400
    with rt.session() as session:
        me = session.scalar(select(User.id).where(User.username == admin))
    for path, data in ((f"/users/{me}/role", {"role": "inspector"}), (f"/users/{me}/active", {"active": "false"}),
                       (f"/users/{user.id}/role", {"role": "emperor"}),
                       (f"/users/{uuid.uuid4()}/active", {"active": "1"}),
                       (f"/users/{user.id}/password", {"password": "short"})):
        assert post(client, path, data).status_code == 303
        [(kind, _message)] = flashes(client, "/users")
        assert kind == "error", path
    assert snapshot(rt, USER_TABLES) == before

    assert post(client, f"/users/{user.id}/role", {"role": "inspector"}).status_code == 303
    assert post(client, f"/users/{user.id}/active", {"active": "false"}).status_code == 303
    with rt.session() as session:
        changed = session.get(User, user.id)
    assert (changed.role, changed.active) == ("inspector", False)
    shown = flashes(client, "/users")
    assert [kind for kind, _ in shown] == ["ok", "ok"] and "Disabled user" in shown[1][1], shown
    assert post(client, f"/users/{user.id}/active", {"active": "true"}).status_code == 303
    assert post(client, f"/users/{user.id}/password", {"password": "another long one"}).status_code == 303
    probe = client.application.test_client()
    assert probe.post("/api/v1/auth/tokens", json={"username": "fazhi.wang", "password": "another long one"}) \
        .status_code == 201
    assert_no_server_error(client, "/users", ["lang", "offset", "x"])
    for path in ("/users/not-a-uuid/role", "/users/not-a-uuid/active", "/users/not-a-uuid/password"):
        assert post(client, path, {}).status_code == 404
