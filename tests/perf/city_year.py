"""A synthetic city's year of enforcement work for the audit benchmark, deterministic: 40 units
(city → 3 districts → 36 squads), 3,000 officers with one recorder each, 150,000 cases over 2026
with ~1.2 M steps (~40 % of them needing footage), two officers per step, and ~6 M clips: every
footage step is recorded by its officers' recorders as consecutive files (a recorder starts a new
file every 10-20 min), linked to the step as the linker would; the rest is patrol footage linked
to nothing. About one footage step in six has something wrong with it, as in real work: nobody
recorded, one recorder only, both stopped for a few minutes, a file failing its integrity check,
a covered lens, an upload days late.

Rows are made a batch of cases at a time and written table by table in dependency order — COPY
on PostgreSQL, executemany in large transactions on SQLite — so memory stays bounded."""
from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache

from sqlalchemy.engine import Engine

YEAR_START = datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=8))).timestamp()  # Asia/Shanghai
DAYS = 365
BATCH_CASES = 1000

# (type, probability, days after the step before it: low, high) — a case's course, ~8 steps of
# which ~3.2 need footage; 'coercive' stands for one of COERCIVE.
PLAN = (("site_inspection", 1.0, 0, 0), ("case_filing", 1.0, 0, 2), ("evidence_collection", 0.75, 1, 7),
        ("coercive", 0.30, 0, 5), ("case_review", 0.60, 2, 10), ("prior_notice", 0.80, 1, 5),
        ("document_service", 0.56, 0, 2), ("statement_defense", 0.25, 3, 7), ("hearing", 0.03, 3, 10),
        ("decision", 0.95, 2, 10), ("document_service", 0.56, 0, 3), ("demand_notice", 0.08, 10, 20),
        ("execution", 0.30, 1, 15), ("court_enforcement", 0.02, 30, 60), ("case_closing", 0.80, 1, 10))
COERCIVE = (("seizure", 0.40), ("evidence_preservation", 0.33), ("coercive_measure", 0.17),
            ("forced_demolition", 0.10))
CONTINUOUS = {"seizure", "forced_demolition", "coercive_measure", "evidence_preservation"}
RECORDED = {"site_inspection", "evidence_collection", "hearing", "document_service"}
MINUTES = {"site_inspection": (30, 120), "evidence_collection": (30, 150), "seizure": (60, 240),
           "forced_demolition": (120, 360), "coercive_measure": (60, 180), "evidence_preservation": (30, 120),
           "hearing": (60, 180), "document_service": (15, 60)}
PAPER_MINUTES = (10, 60)
# What goes wrong with a footage step, cumulative probabilities by requirement.
INCIDENTS = {"recorded": (("no_footage", 0.07), ("lone_corrupt", 0.08), ("one_recorder", 0.12),
                          ("late", 0.145), ("obstructed", 0.165)),
             "continuous": (("one_recorder", 0.04), ("gap", 0.07), ("corrupt", 0.09), ("obstructed", 0.12),
                            ("late", 0.145), ("no_footage", 0.155))}

UNIT_COLUMNS = ("code", "name", "parent_code", "created_at")
OFFICER_COLUMNS = ("code", "name", "unit_code", "active", "created_at")
DEVICE_COLUMNS = ("id", "serial", "model", "unit_code", "created_at")
CASE_COLUMNS = ("id", "case_number", "agency_code", "unit_code", "status", "opened_at", "closed_at", "version",
                "create_digest", "update_digests", "created_by", "created_at", "updated_at")
STEP_COLUMNS = ("id", "case_id", "type", "started_at", "ended_at", "version", "create_digest", "update_digests",
                "created_by", "created_at", "updated_at")
STEP_OFFICER_COLUMNS = ("step_id", "officer_code")
CLIP_COLUMNS = ("id", "sha256", "sm3", "size", "original_key", "filename", "device_id", "device_serial",
                "officer_id", "recorded_at", "received_at", "status", "flags", "media", "media_kind",
                "duration_seconds", "corrected_start", "corrected_end", "clock_offset_seconds", "held")
LINK_COLUMNS = ("id", "clip_id", "step_id", "case_id", "origin", "state", "rule", "overlap_seconds", "details",
                "created_at", "updated_at")
OBSTRUCTION_COLUMNS = ("id", "clip_id", "start_seconds", "end_seconds", "reason", "detail")
TABLES = ("units", "officers", "devices", "cases", "steps", "step_officers", "clips", "clip_links",
          "obstructed_intervals")
MEDIA = '{"kind": "video"}'


@dataclass(frozen=True)
class YearSize:
    cases: int = 150_000
    officers: int = 3_000
    patrol_clips: int = 1_200_000
    districts: int = 3
    squads_per_district: int = 12

    def scaled(self, factor: float) -> "YearSize":
        """A smaller (or larger) year with the same units and proportions."""
        squads = self.districts * self.squads_per_district
        return replace(self, cases=max(1, round(self.cases * factor)),
                       officers=max(2 * squads, round(self.officers * factor)),
                       patrol_clips=round(self.patrol_clips * factor))


@lru_cache(maxsize=None)
def _day(days: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=days)).isoformat()


def stamp(seconds: float) -> str:
    """A UTC time as both databases store it ('YYYY-MM-DD HH:MM:SS.ffffff'; PostgreSQL's session is in UTC)."""
    day, micro = divmod(round(seconds * 1_000_000), 86_400_000_000)
    second, micro = divmod(micro, 1_000_000)
    hour, second = divmod(second, 3600)
    minute, second = divmod(second, 60)
    return f"{_day(day)} {hour:02d}:{minute:02d}:{second:02d}.{micro:06d}"


class _Year:
    def __init__(self, size: YearSize, seed: int):
        self.size, self.rng = size, random.Random(seed)
        self.counts = dict.fromkeys(TABLES, 0)
        self.serial = 0
        created = stamp(YEAR_START - 30 * 86400)
        self.units = [("3206", "City", None, created)]
        squads = []
        for d in range(size.districts):
            district = f"3206{d:02d}"
            self.units.append((district, f"District {d}", "3206", created))
            for s in range(size.squads_per_district):
                squads.append(f"{district}{s:02d}")
                self.units.append((squads[-1], f"Squad {d}-{s}", district, created))
        self.squads = squads
        self.officers = [(f"P{n:05d}", f"Officer {n}", squads[n % len(squads)], True, created)
                         for n in range(size.officers)]
        self.devices = [(self.uuid(), f"DSJ{n:06d}", "DSJ-V1", squads[n % len(squads)], created)
                        for n in range(size.officers)]
        self.offsets = [round(self.rng.uniform(-20, 20), 3) for _ in self.devices]
        self.by_squad: dict[str, list[int]] = {}
        for n, officer in enumerate(self.officers):
            self.by_squad.setdefault(officer[2], []).append(n)

    def uuid(self) -> str:
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{h[16:20]}-{h[20:]}"

    def batches(self):
        """[(table, columns, rows)] per batch of cases, tables in dependency order."""
        yield [("units", UNIT_COLUMNS, self.units), ("officers", OFFICER_COLUMNS, self.officers),
               ("devices", DEVICE_COLUMNS, self.devices)]
        size = self.size
        for first in range(0, size.cases, BATCH_CASES):
            last = min(size.cases, first + BATCH_CASES)
            rows = {table: [] for table in TABLES[3:]}
            for n in range(first, last):
                self.case(n, rows)
            patrol = size.patrol_clips * last // size.cases - size.patrol_clips * first // size.cases
            first_day = first * DAYS // size.cases
            self.patrol(patrol, first_day, max(first_day + 1, last * DAYS // size.cases), rows["clips"])
            yield [(table, columns, rows[table]) for table, columns in
                   zip(TABLES[3:], (CASE_COLUMNS, STEP_COLUMNS, STEP_OFFICER_COLUMNS, CLIP_COLUMNS, LINK_COLUMNS,
                                    OBSTRUCTION_COLUMNS))]

    def case(self, n: int, rows: dict) -> None:
        rng = self.rng
        squad = self.squads[n % len(self.squads)]
        team = rng.sample(self.by_squad[squad], 2)
        case_id = self.uuid()
        opened_day = n * DAYS // self.size.cases
        plan, day = [], 0
        for kind, chance, low, high in PLAN:
            if rng.random() < chance:
                if kind == "coercive":
                    kind = rng.choices([k for k, _ in COERCIVE], [w for _, w in COERCIVE])[0]
                day += rng.randint(low, high)
                plan.append((kind, day))
        squeeze = min(1.0, (DAYS - 1 - opened_day) / day) if day else 1.0  # year-end: cases close faster
        closed = None
        for kind, offset in plan:
            low, high = MINUTES.get(kind, PAPER_MINUTES)
            minutes = rng.uniform(low, high)
            start = (YEAR_START + (opened_day + int(offset * squeeze)) * 86400
                     + rng.uniform(8 * 3600, 20 * 3600 - minutes * 60))
            start = round(start, 3)
            end = round(start + minutes * 60, 3)
            step_id = self.uuid()
            created = stamp(end + rng.uniform(60, 7200))
            rows["steps"].append((step_id, case_id, kind, stamp(start), stamp(end), 1, "0" * 64, "{}", "app:bench",
                                  created, created))
            rows["step_officers"].extend((step_id, self.officers[i][0]) for i in sorted(team))
            if kind in RECORDED or kind in CONTINUOUS:
                self.footage(kind, step_id, case_id, start, end, team, rows)
            closed = end if kind == "case_closing" else closed
        opened = stamp(YEAR_START + opened_day * 86400 + 8 * 3600)
        rows["cases"].append((case_id, f"CG-2026-{n:06d}", "3206", squad, "closed" if closed else "open", opened,
                              stamp(closed) if closed else None, 1, "0" * 64, "{}", "platform:bench", opened,
                              stamp(closed) if closed else opened))

    def footage(self, kind, step_id, case_id, start, end, team, rows) -> None:
        rng = self.rng
        requirement = "continuous" if kind in CONTINUOUS else "recorded"
        draw, incident = rng.random(), None
        for name, below in INCIDENTS[requirement]:
            if draw < below:
                incident = name
                break
        if incident == "no_footage":
            return
        recorders = team[:1] if incident in ("one_recorder", "lone_corrupt") else team
        sessions = [(start - rng.uniform(0, 180), end + rng.uniform(0, 180))]
        if incident == "gap":  # both officers stopped recording for a few minutes
            cut = start + rng.uniform(0.2, 0.7) * (end - start)
            sessions = [(sessions[0][0], cut), (cut + rng.uniform(120, 360), sessions[0][1])]
        for position, who in enumerate(recorders):
            files = []
            for low, high in sessions:
                t = low + rng.uniform(-20, 20)
                while t < high - 1:
                    length = min(rng.uniform(600, 1200), high - t)
                    files.append((t, t + length))
                    t += length + rng.uniform(0.5, 2.0)
            late = incident == "late" and position == 0
            corrupt = (set(range(len(files))) if incident == "lone_corrupt"
                       else {len(files) // 2} if incident == "corrupt" and position == 0 else set())
            covered = len(files) // 2 if incident == "obstructed" and position == 0 else None  # a lens covered
            for index, (low, high) in enumerate(files):
                clip_id = self.clip(who, low, high, "integrity_failed" if index in corrupt else "processed",
                                    rng.uniform(26, 96) if late else rng.uniform(0.5, 10), rows["clips"])
                if index == covered or rng.random() < 0.01:
                    seconds = rng.uniform(20, 300) if index == covered else rng.uniform(3, 20)
                    begin = rng.uniform(0, max(0.0, high - low - seconds))
                    rows["obstructed_intervals"].append(
                        (self.uuid(), clip_id, round(begin, 3), round(min(high - low, begin + seconds), 3),
                         rng.choice(("covered", "dark", "blurred")), "{}"))
                overlap = round(min(high, end + 300) - max(low, start - 300), 3)
                linked = stamp(high + 3600 * 11)
                rows["clip_links"].append((self.uuid(), clip_id, step_id, case_id, "auto", "linked", "officer+device",
                                           overlap, "{}", linked, linked))

    def clip(self, who: int, start: float, end: float, status: str, delay_hours: float, clips: list) -> str:
        device_id, serial = self.devices[who][0], self.devices[who][1]
        offset = self.offsets[who]
        digest = f"{self.rng.getrandbits(256):064x}"
        clip_id = self.uuid()
        self.serial += 1
        duration = round(end - start, 3)
        clips.append((clip_id, digest, f"{self.rng.getrandbits(256):064x}", int(duration * 1_250_000),
                      f"originals/{digest[:2]}/{digest[2:4]}/{digest}", f"{serial}_{self.serial:08d}.MP4",
                      device_id, serial, self.officers[who][0], stamp(start + offset),
                      stamp(end + delay_hours * 3600), status, "{}", MEDIA, "video", duration, stamp(start),
                      stamp(start + duration), offset, False))
        return clip_id

    def patrol(self, count: int, first_day: int, last_day: int, clips: list) -> None:
        rng = self.rng
        for _ in range(count):
            start = YEAR_START + rng.randrange(first_day, last_day) * 86400 + rng.uniform(8 * 3600, 20 * 3600)
            self.clip(rng.randrange(len(self.officers)), start, start + rng.uniform(120, 1200), "processed",
                      rng.uniform(0.5, 10), clips)


class _Postgres:
    """COPY per table and batch. Foreign keys are not checked while loading (the batches are written in
    dependency order) and secondary indexes are dropped and rebuilt after, as bulk loads are done."""

    def __init__(self, engine: Engine):
        self.raw = engine.raw_connection()
        self.connection = self.raw.driver_connection
        self.connection.execute("SET TIME ZONE 'UTC'")
        self.connection.execute("SET session_replication_role = replica")  # no FK triggers
        self.indexes = self.connection.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = ANY(%s)"
            " AND indexname NOT IN (SELECT conname FROM pg_constraint)", [list(TABLES)]).fetchall()
        for name, _ in self.indexes:
            self.connection.execute(f"DROP INDEX {name}")
        self.connection.commit()

    def write(self, table: str, columns, rows) -> None:
        with self.connection.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def commit(self) -> None:
        self.connection.commit()

    def finish(self) -> None:
        self.connection.execute("SET maintenance_work_mem = '512MB'")
        for _, definition in self.indexes:
            self.connection.execute(definition)
        self.connection.commit()
        self.connection.autocommit = True  # VACUUM cannot run in a transaction
        self.connection.execute("VACUUM (ANALYZE)")  # a settled database, as autovacuum leaves it: hint bits set
        self.raw.invalidate()  # its session settings must not serve the benchmark's own sessions


class _Sqlite:
    """executemany per table and batch, a transaction per batch; foreign keys are not checked while
    loading and secondary indexes are dropped and rebuilt after."""

    def __init__(self, engine: Engine):
        self.raw = engine.raw_connection()
        self.connection = self.raw.driver_connection
        for pragma in ("foreign_keys=OFF", "synchronous=OFF", "cache_size=-1048576"):
            self.connection.execute(f"PRAGMA {pragma}")
        marks = ", ".join("?" * len(TABLES))
        self.indexes = self.connection.execute(
            f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ({marks})",
            TABLES).fetchall()
        for name, _ in self.indexes:
            self.connection.execute(f"DROP INDEX {name}")
        self.connection.commit()

    def write(self, table: str, columns, rows) -> None:
        marks = ", ".join("?" * len(columns))
        self.connection.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    def commit(self) -> None:
        self.connection.commit()

    def finish(self) -> None:
        for _, definition in self.indexes:
            self.connection.execute(definition)
        self.connection.commit()
        self.connection.execute("ANALYZE")
        self.connection.commit()
        self.raw.invalidate()  # its pragmas must not serve the benchmark's own sessions


def build(engine: Engine, size: YearSize = YearSize(), seed: int = 2026) -> dict:
    """Write the year into a migrated, empty database and ANALYZE it; returns rows per table."""
    year = _Year(size, seed)
    writer = _Postgres(engine) if engine.dialect.name == "postgresql" else _Sqlite(engine)
    try:
        for batch in year.batches():
            for table, columns, rows in batch:
                writer.write(table, columns, rows)
                year.counts[table] += len(rows)
            writer.commit()
        writer.finish()
    except BaseException:
        writer.raw.invalidate()
        raise
    return year.counts
