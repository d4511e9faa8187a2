"""The report writers of a stored audit run (JSON, CSV, standalone HTML) on real databases,
with findings from real step evaluations: what each format says, in both languages, and that a
large run (on SQLite) is written as a stream in bounded memory."""
import csv
import io
import json
import tracemalloc
import uuid
from datetime import date, datetime, timezone
from html.parser import HTMLParser

import pytest
from sqlalchemy import insert

from storage.audit_models import AuditFinding, AuditRun
from storage.case_models import Officer, Unit
from storage.db import make_engine, make_sessionmaker
from storage.migrate import upgrade
from workers.audit.aggregate import Aggregates
from workers.audit.evaluate import ClipFacts, Rule, StepFacts, evaluate_step
from workers.audit.reports import CONTENT_TYPES, FORMATS, charts, file_name, write_report
from workers.audit.reports import csv_report, html_report

ZONE = "Asia/Shanghai"
BASE = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc).timestamp()  # Monday 10:00 in Shanghai
NOW = BASE + 10 * 86400  # every upload deadline has passed
HOUR = 3600.0
RULES = {"seizure": Rule("continuous", min_devices=1, max_gap_seconds=30, device_min_share=0.5),
         "site_inspection": Rule("recorded")}
RUN_ID = "0123abcd-0000-4000-8000-000000000001"


def clip(start, end, *, received=None, **values):
    return ClipFacts(id=values.pop("id", str(uuid.uuid4())), start=start, end=end,
                     received=received if received is not None else end + 600, status="processed",
                     device_serial=values.pop("device_serial", "DSJ001"), officer_id="P001",
                     raw_start=start, offset=values.pop("offset", 0.0), **values)


def step(number, step_type, start, end, case_number=None):
    return StepFacts(id=f"00000000-0000-4000-8000-{number:012d}", case_id=f"case-{number}",
                     case_number=case_number or f"城管罚〔2026〕{number:03d}号", unit_code="320601",
                     type=step_type, start=start, end=end, officers=("P001", "P002"))


def scenario():
    """(result, change) of four steps: a continuous step with a 120 s gap and a clip excluded by
    hand (fail), an inspection whose only clip arrived 30 h late (warning), one that passes now
    and failed in the previous run (fixed), and one with no footage at all (fail)."""
    gap = step(1, "seizure", BASE, BASE + 600)
    late = step(2, "site_inspection", BASE + HOUR, BASE + HOUR + 600)
    fixed = step(3, "site_inspection", BASE + 2 * HOUR, BASE + 2 * HOUR + 600)
    bare = step(4, "site_inspection", BASE + 3 * HOUR, BASE + 3 * HOUR + 600, case_number="=SUM(A1:A9)")
    return [
        (evaluate_step(gap, [clip(BASE, BASE + 240, offset=1.5, id="clip-a"),
                             clip(BASE + 360, BASE + 600, id="clip-b"),
                             clip(BASE, BASE + 600, id="clip-x", link_origin="manual", link_state="excluded",
                                  decided_by="legal-1", link_reason="wrong case")],
                       RULES["seizure"], NOW), "newly_failing"),
        (evaluate_step(late, [clip(late.start, late.end, received=late.end + 30 * HOUR, id="clip-late")],
                       RULES["site_inspection"], NOW), None),
        (evaluate_step(fixed, [clip(fixed.start, fixed.end, id="clip-ok")], RULES["site_inspection"], NOW), "fixed"),
        (evaluate_step(bare, [], RULES["site_inspection"], NOW), "new"),
    ]


def finding_row(run_id, result, change, step_id=None):
    s = result.step
    return {"run_id": run_id, "step_id": step_id or s.id, "case_id": s.case_id, "case_number": s.case_number,
            "unit_code": s.unit_code, "step_type": s.type, "status": result.status, "change": change,
            "started_at": datetime.fromtimestamp(s.start, timezone.utc), "result": result.as_dict()}


def add_run(session, run_id, results, parents):
    totals = Aggregates(ZONE)
    for result, change in results:
        totals.add(result, change)
    rules = {code: rule.as_dict() for code, rule in RULES.items()}
    rules["seizure"].update(name_zh="查封扣押", name_en="Seizure of property")
    run = AuditRun(id=run_id, kind="cli", requested_by="inspector-1", period_from=date(2026, 3, 1),
                   period_to=date(2026, 3, 31), timezone=ZONE, status="done", progress=1.0, steps_done=4,
                   steps_total=4, rules=rules, summary=totals.as_dict(parents),
                   custody={"intact": True, "head_seq": 42, "checkpoint_count": 40,
                            "checkpoint_at": "2026-03-01T16:00:00+00:00", "first_bad_seq": None, "problem": None,
                            "open_alerts": 0, "clips_affected": 0},
                   diff={"previous_run_id": "prev-run", "previous_finished_at": "2026-03-01T18:00:00+00:00",
                         "newly_failing": 1, "still_failing": 0, "new": 1, "fixed": 1},
                   previous_run_id="prev-run", created_at=datetime(2026, 3, 12, 1, 0, tzinfo=timezone.utc),
                   started_at=datetime(2026, 3, 12, 1, 0, 1, tzinfo=timezone.utc),
                   finished_at=datetime(2026, 3, 12, 1, 0, 9, tzinfo=timezone.utc))
    session.add(run)
    session.flush()
    rows = [finding_row(run_id, result, change) for result, change in results
            if result.status in ("fail", "warning") or change == "fixed"]
    session.execute(insert(AuditFinding), rows)
    session.commit()
    return run


@pytest.fixture
def session(database_url):
    """A session on each database (SQLite and PostgreSQL), with a unit tree and two officers."""
    engine = make_engine(database_url)
    upgrade(engine)
    with make_sessionmaker(engine)() as session:
        session.add_all([Unit(code="3206", name="市城管局"), Unit(code="320601", name="鼓楼中队", parent_code="3206")])
        session.flush()
        session.add_all([Officer(code="P001", name="张三", unit_code="320601"),
                         Officer(code="P002", name="<script>alert(1)</script>", unit_code="320601")])
        session.commit()
        yield session
    engine.dispose()


@pytest.fixture
def run(session):
    return add_run(session, RUN_ID, scenario(), {"3206": None, "320601": "3206"})


def report(session, run, fmt, language):
    out = io.BytesIO()
    write_report(session, run, fmt, out, language)
    return out.getvalue()


def test_names_and_content_types(run):
    assert FORMATS == ("json", "csv", "html")
    assert file_name(run, "html") == "audit-2026-03-01_2026-03-31-0123abcd.html"
    assert CONTENT_TYPES["csv"] == "text/csv; charset=utf-8"
    with pytest.raises(ValueError):
        write_report(None, run, "pdf", io.BytesIO())


# -- JSON ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("language, gap_text, excluded_text, late_text", [
    ("zh-CN", "录像中断 120 秒（2026-03-02 10:04:00 至 2026-03-02 10:06:00）", "不计入：legal-1 决定排除（wrong case）。",
     "超过 24 小时上传期限（最迟晚 30 小时）"),
    ("en", "Recording is missing for 120 s (2026-03-02 10:04:00 to 2026-03-02 10:06:00)",
     "Not counted: excluded by legal-1 (wrong case).", "after the 24-hour upload deadline (latest by 30 h)"),
], ids=["zh-CN", "en"])
def test_json_has_the_run_and_every_finding_explained(session, run, language, gap_text, excluded_text, late_text):
    data = json.loads(report(session, run, "json", language).decode("utf-8"))
    assert data["run"]["id"] == RUN_ID and data["run"]["timezone"] == ZONE
    assert data["run"]["period_from"] == "2026-03-01" and data["run"]["finished_at"] == "2026-03-12T01:00:09Z"
    assert data["run"]["custody"]["head_seq"] == 42 and data["run"]["previous_run_id"] == "prev-run"
    assert data["summary"]["required"] == 4 and data["summary"]["fail"] == 2
    assert data["diff"]["fixed"] == 1
    found = data["findings"]
    assert [f["step"]["case_number"][-4:] for f in found] == ["001号", "002号", "003号", ":A9)"]
    assert [(f["status"], f["change"]) for f in found] == [("fail", "newly_failing"), ("warning", None),
                                                          ("pass", "fixed"), ("fail", "new")]
    gap = found[0]
    assert any(gap_text in r["text"] for r in gap["reasons"])
    assert {c["clip_id"]: c["text"] for c in gap["clips"]}["clip-x"] == excluded_text
    assert gap["status_text"] and gap["change_text"] and gap["requirement_text"]
    assert any(late_text in r["text"] for r in found[1]["reasons"])


# -- CSV -----------------------------------------------------------------------------------------

def test_csv_rows_in_english(session, run):
    raw = report(session, run, "csv", "en")
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert rows[0] == csv_report.header("en", ZONE)
    assert rows[0][:3] == ["Case number", "Step id", "Step type"] and rows[0][5] == "Started (Asia/Shanghai)"
    assert len(rows) == 5
    gap, late, fixed, bare = (dict(zip(csv_report.COLUMNS, row)) for row in rows[1:])
    assert gap["step_type"] == "Seizure of property (seizure)" and late["step_type"] == "site_inspection"
    assert gap["unit"] == "320601 鼓楼中队" and gap["officers"] == "P001, P002"
    assert gap["started"] == "2026-03-02 10:00:00" and gap["ended"] == "2026-03-02 10:10:00"
    assert (gap["status"], gap["change"], gap["requirement"]) == ("fail", "newly failing", "continuous recording")
    assert (gap["covered_share"], gap["longest_gap"], gap["devices"], gap["clips"]) == ("80.0", "120", "1/1", "3/2")
    assert gap["reasons"].startswith("Recording is missing for 120 s")
    assert (late["status"], late["late_uploads"], late["devices"]) == ("warning", "1", "1")
    assert "upload deadline" in late["reasons"]
    assert (fixed["status"], fixed["change"], fixed["reasons"]) == ("pass", "fixed", "")
    assert bare["case_number"] == "'=SUM(A1:A9)"  # a spreadsheet shows it, never evaluates it
    assert bare["reasons"] == "No recording is linked to this step." and bare["clips"] == "0/0"


def test_csv_header_and_texts_in_chinese(session, run):
    rows = list(csv.reader(io.StringIO(report(session, run, "csv", "zh-CN").decode("utf-8-sig"), newline="")))
    assert rows[0][:4] == ["案号", "环节编号", "环节类型", "单位"]
    assert rows[1][2] == "查封扣押 (seizure)" and rows[1][8] == "不合格" and rows[1][9] == "新增不合格"
    assert rows[1][15].startswith("录像中断 120 秒")


# -- HTML ----------------------------------------------------------------------------------------

VOID = {"meta", "br", "hr", "img", "input", "link", "area", "base", "col", "embed", "source", "track", "wbr",
        "rect", "line", "polyline", "circle"}
"""HTML's void elements, and the SVG ones the charts close with '/>'."""


class Outline(HTMLParser):
    """Checks that every element is closed in order; records tags, attributes and text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.tags, self.attrs, self.text, self.errors = [], [], [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def parsed(raw: bytes) -> Outline:
    outline = Outline()
    outline.feed(raw.decode("utf-8"))
    outline.close()
    assert not outline.errors and not outline.stack, (outline.errors, outline.stack)
    return outline


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_html_is_standalone_with_charts_and_reasons(session, run, language):
    raw = report(session, run, "html", language)
    page = parsed(raw)
    text = "".join(page.text)
    assert page.tags[0] == "html" and page.attrs[0][1]["lang"] == language
    assert ("meta", {"charset": "utf-8"}) in page.attrs
    assert page.tags.count("svg") == 3
    assert not {"script", "img", "link", "iframe", "object"} & set(page.tags)
    for _, attrs in page.attrs:
        for name in ("src", "href"):
            assert not (attrs.get(name) or "").startswith(("http://", "https://", "//")), attrs
    assert "<script>alert(1)</script>" in text  # the officer's name, shown as text
    assert page.tags.count("details") == 3  # the three findings with clips
    if language == "en":
        assert "Recording is missing for 120 s (2026-03-02 10:04:00 to 2026-03-02 10:06:00)" in text
        assert "Not counted: excluded by legal-1 (wrong case)." in text
        assert "Compliance by step type" in text and "Seizure of property (seizure)" in text
        assert "The custody log is intact up to event 42." in text
    else:
        assert "录像中断 120 秒" in text and "不计入：legal-1 决定排除（wrong case）。" in text
        assert "稽核发现（4 条）" in text


# -- charts and other pure helpers ---------------------------------------------------------------

def test_bars_are_proportional_and_labels_escaped():
    svg = charts.compliance_bars([charts.Bar("A<&>", 3, 1, 0), charts.Bar("空", 0, 0, 0, depth=1)],
                                 title="t", legend=("pass", "warn", "fail"), empty="none")
    page = parsed(svg.encode())
    assert "A<&>" in "".join(page.text) and "A<&>" not in svg
    widths = [float(a["width"]) for tag, a in page.attrs if tag == "rect" and a["y"] != "26"]
    assert widths == [charts.PLOT_WIDTH * 0.75, charts.PLOT_WIDTH * 0.25]
    assert "75.0% (3/4)" in svg and "— (0/0)" in svg
    assert "none" in charts.compliance_bars([], title="t", legend=("p", "w", "f"), empty="none")


def test_trend_line_breaks_where_there_is_no_rate_and_thins_labels():
    points = [charts.Point(f"w{n:02d}", None if n == 5 else n / 30) for n in range(30)]
    page = parsed(charts.trend_line(points, title="weekly", empty="none").encode())
    assert page.tags.count("polyline") == 2 and page.tags.count("circle") == 29
    assert sum(1 for t in page.text if t in {p.label for p in points}) == 10  # the x labels
    assert "none" in charts.trend_line([charts.Point("w", None)], title="t", empty="none")


def test_text_width_counts_chinese_double():
    assert charts.text_width("ab") * 2 < charts.text_width("中文") * 1.25
    assert charts.shorten("很长很长很长的单位名称", 60).endswith("…")


def test_units_in_tree_order_weeks_filled_and_lowest_rates_first():
    rows = [{"unit_code": code, "parent_code": parent} for code, parent in
            [("1", None), ("1a", "1"), ("1a1", "1a"), ("1b", "1"), ("2", None), ("x", "y"), ("c1", "c2"), ("c2", "c1")]]
    assert [(r["unit_code"], depth) for r, depth in html_report.unit_tree(rows)] == [
        ("1", 0), ("1a", 1), ("1a1", 2), ("1b", 1), ("2", 0), ("x", 0), ("c1", 0), ("c2", 0)]
    weeks = html_report.fill_weeks([{"week": "2026-03-02", "required": 1}, {"week": "2026-03-23", "required": 2}])
    assert [w["week"] for w in weeks] == ["2026-03-02", "2026-03-09", "2026-03-16", "2026-03-23"]
    assert weeks[1]["compliance_rate"] is None
    officers = [{"officer_code": c, "compliance_rate": r, "fail": f} for c, r, f in
                [("a", 1.0, 0), ("b", 0.5, 1), ("c", 0.5, 3), ("d", 0.0, 2)]]
    assert [o["officer_code"] for o in html_report.lowest_rates(officers, 3)] == ["d", "c", "b"]


# -- a large run -----------------------------------------------------------------------------------

BIG = 20_000


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A run with BIG findings (copies of the scenario's failing and warning steps)."""
    path = tmp_path_factory.mktemp("big")
    engine = make_engine(f"sqlite:///{path / 'audit.db'}")
    upgrade(engine)
    results = scenario()
    with make_sessionmaker(engine)() as session:
        run = add_run(session, "ffffeeee-0000-4000-8000-000000000002", results, {"320601": None})
        session.query(AuditFinding).delete()
        rows = [finding_row(run.id, *results[n % 2], step_id=f"{n:08d}-0000-4000-8000-000000000000")
                for n in range(BIG)]
        for start in range(0, BIG, 2000):
            session.execute(insert(AuditFinding), rows[start:start + 2000])
        session.commit()
    del rows
    yield engine, run.id, path
    engine.dispose()


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_large_run_streams_in_bounded_memory(big, fmt):
    engine, run_id, path = big
    out_path = path / f"report.{fmt}"
    with make_sessionmaker(engine)() as session:
        run = session.get(AuditRun, run_id)
        tracemalloc.start()
        try:
            with open(out_path, "wb") as out:
                write_report(session, run, fmt, out, "en")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    size = out_path.stat().st_size
    assert peak < size / 4, (peak, size)  # the CSV, the smallest, is about 6 MB
    if fmt == "json":
        with open(out_path, encoding="utf-8") as f:
            assert len(json.load(f)["findings"]) == BIG
    elif fmt == "csv":
        with open(out_path, encoding="utf-8-sig", newline="") as f:
            assert sum(1 for _ in csv.reader(f)) == BIG + 1
    else:
        assert out_path.read_bytes().count(b'<section class="finding') == BIG
