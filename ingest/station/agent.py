"""The collection-station agent: finds recordings under the watch dir, hashes each once, sends
it with tus, and counts it done only when the server's receipt (read back from the server)
shows the same SHA-256. Every file and its state lives in the journal, so a crash, a power cut
or a restart resumes each upload at the server's offset.

One main thread scans, reports clock readings and the agent's status, and hands due files to a
pool of `parallel_uploads` threads; each file's work is one `process` call.
"""
from __future__ import annotations

import logging
import os
import random
import re
import socket
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata as package_metadata
from pathlib import Path

from tusclient.client import TusClient

from ingest.metadata import IDENTIFIER, MAX_VALUE_LENGTH
from ingest.station import clocks, discovery, names
from ingest.station.journal import FileRow, Journal, JournalError
from ingest.station.progress import NoProgress
from ingest.station.server_api import Refused, ServerAPI, ServerError, Unavailable
from ingest.station.transfer import (ChecksumRejected, FileChanged, FileGone, FileState, StationProblem, Throttle,
                                     Upload, WholeFileRejected, check_unchanged, look, sha256_of)
from server.i18n import t

log = logging.getLogger("fullrecord.station")

WHOLE_FILE_REJECTIONS = 3
"""After this many whole-file mismatches in a row the file fails (a failing disk, not a race)."""
FAILED_REPORTED = 20
JOURNAL_OFFSET_EVERY = 1.0
HASHING_THREADS = 1
"""Files hashed at once, ahead of the sends (a station's disk reads one file fastest)."""
DISPATCH_WINDOW = 256
"""Due files looked at per dispatch (the journal gives them in order)."""
UNKNOWN_SERIAL = "unknown"
_IDENTIFIER = re.compile(IDENTIFIER)


def backoff_delay(attempts: int, schedule: list[float], rnd=random.random) -> float:
    """Seconds before the next try after `attempts` earlier failures: the schedule's value
    (its last repeats) times a random factor in [0.5, 1.5), so stations do not retry in step."""
    base = schedule[min(attempts, len(schedule) - 1)]
    return base * (0.5 + rnd())


def _shortened(path: str) -> str:
    """A station path the server takes (metadata values are at most MAX_VALUE_LENGTH characters):
    a deeper one keeps its end, where the recorder's folder and the file name are."""
    if len(path) <= MAX_VALUE_LENGTH:
        return path
    return "…" + path[-(MAX_VALUE_LENGTH - 1):]


def upload_metadata(row: FileRow, full_path: str, settings) -> dict:
    """What the file's name and folder tell the server; what is unknown stays out, and the
    agent's reading of the name goes along so it can be checked."""
    name = names.recognise(row.path, settings.station.name_patterns(), settings.zone)
    if name.recorded_at is not None:
        recorded_at, source = name.recorded_at, "name"
    else:
        recorded_at, source = datetime.fromtimestamp(row.mtime_ns / 1e9, tz=timezone.utc), "mtime"
    serial = name.serial if name.serial and _IDENTIFIER.match(name.serial) else UNKNOWN_SERIAL
    values = {"filename": Path(full_path).name, "device_id": serial, "recorded_at": recorded_at.isoformat(),
              "sha256": row.sha256, "station_path": _shortened(row.path), "kind": name.kind,
              "recorded_at_source": source, "name_pattern": "matched" if name.matched_pattern else "none"}
    if name.officer and _IDENTIFIER.match(name.officer):
        values["officer_id"] = name.officer
    if name.seq is not None:
        values["seq"] = str(name.seq)
    if serial != name.serial and name.serial:
        values["recorder_folder"] = name.serial
    if row.flagged:
        values["flagged"] = "true"
    return values


@dataclass
class AgentOptions:
    server: str
    token: str
    watch_dir: Path
    delete_after_receipt: bool = False
    once: bool = False


class Agent:
    def __init__(self, settings, options: AgentOptions, journal: Journal, progress=None, clock=time.time,
                 rnd=random.random):
        self.settings, self.station, self.options = settings, settings.station, options
        self.journal, self.progress = journal, progress or NoProgress()
        self.clock, self.rnd = clock, rnd
        self.language = settings.language
        self.watch = Path(options.watch_dir)
        self.api = ServerAPI(options.server, options.token, self.station.request_timeout_seconds, self.language)
        self.tus = TusClient(self.api.uploads_url, headers=dict(self.api.headers))
        self.throttle = Throttle(self.station.bandwidth_limit_bytes_per_second)
        self.chunk_bytes = self.station.chunk_bytes
        if self.station.bandwidth_limit_bytes_per_second:  # about a second a chunk: smooth, and stops promptly
            self.chunk_bytes = max(64 * 1024, min(self.chunk_bytes, self.station.bandwidth_limit_bytes_per_second))
        self.flagged = re.compile(self.station.flagged_regex)
        self.tracker = discovery.StabilityTracker(self.station.stable_seconds)
        self.known = {row.path: (row.size, row.mtime_ns) for row in journal.listing()}
        self.stop = threading.Event()
        self.wake = threading.Event()
        self.in_flight: dict[str, tuple[str, Future]] = {}
        self.settling = 0
        self.scan_errors: set[str] = set()
        self.rejections: dict[str, int] = {}
        self._journaled: dict[str, float] = {}
        self._scanned_at = self._completed_at = 0.0
        self.last_error: str | None = None
        self.fatal: BaseException | None = None
        self.started_at = datetime.now(timezone.utc)
        self._lock = threading.Lock()

    # -- the main loop ----------------------------------------------------------------------

    def run(self) -> None:
        """Until stopped (or, with `once`, until every file seen is done or failed)."""
        pool = ThreadPoolExecutor(self.station.parallel_uploads + HASHING_THREADS, thread_name_prefix="station")
        next_scan = next_report = 0.0
        try:
            while not self.stop.is_set():
                now = self.clock()
                if now >= next_scan:
                    self.report_clocks(self.discover(now), now)
                    next_scan = now + self.station.scan_seconds
                self.dispatch(pool)
                if now >= next_report:
                    self.report_status()
                    next_report = now + self.station.report_seconds
                if self.fatal is not None:
                    raise self.fatal
                if self.options.once and self.finished():
                    break
                self.wake.wait(min(0.5, self.station.scan_seconds))
                self.wake.clear()
        finally:
            self.stop.set()  # uploads stop between chunks and resume at the next start
            pool.shutdown(wait=True)
            self.progress.close()
        if self.fatal is not None:
            raise self.fatal
        self.report_status()

    def finished(self) -> bool:
        """Nothing in flight, nothing settling, no work left, and a scan since the last file's
        work ended (its file may have changed meanwhile)."""
        with self._lock:
            busy = bool(self.in_flight) or self._scanned_at <= self._completed_at
        counts = self.journal.counts()
        return not busy and self.settling == 0 and not any(counts[state] for state in
                                                           ("pending", "hashing", "ready", "uploading"))

    def discover(self, now: float) -> list[discovery.SeenFile]:
        """Record the files that have become stable; the stable clock files."""
        self._scanned_at = time.monotonic()
        found = discovery.scan(self.watch, self.station.clock_file)
        for error in set(found.errors) - self.scan_errors:
            log.warning("watch dir: %s", error)
        self.scan_errors = set(found.errors)
        clock_paths = {item.path for item in found.clocks}
        stable = self.tracker.update(found.files + found.clocks, now)
        recordings = [item for item in stable if item.path not in clock_paths]
        self.settling = len(found.files) - len(recordings)
        patterns = self.station.name_patterns()
        for item in recordings:
            if self.known.get(item.path) == (item.size, item.mtime_ns) or item.path in self.in_flight:
                continue  # a file being worked on is checked by its worker; seen again afterwards
            name = names.recognise(item.path, patterns, self.settings.zone)
            recorded_at = name.recorded_at.timestamp() if name.recorded_at else None
            flagged = bool(self.flagged.search(Path(item.path).name))
            outcome = self.journal.observe(item.path, item.size, item.mtime_ns, recorded_at, flagged)
            self.known[item.path] = (item.size, item.mtime_ns)
            if outcome == "changed_after_done":
                log.info("%s: a new recording under a name already uploaded; it is uploaded too", item.path)
            elif outcome == "new":
                log.info("%s: found (%d bytes)", item.path, item.size)
        return [item for item in stable if item.path in clock_paths]

    def dispatch(self, pool: ThreadPoolExecutor) -> None:
        """Hand due files to the pool: up to parallel_uploads sending, and one thread hashing the
        next files ahead of them, so that a send never waits for a hash."""
        with self._lock:
            for path, (stage, future) in list(self.in_flight.items()):
                if future.done():
                    del self.in_flight[path]
                    self._completed_at = time.monotonic()
                    error = future.exception()
                    if error is not None and self.fatal is None:
                        self.fatal = error
            if self.stop.is_set():
                return
            stages = [stage for stage, _ in self.in_flight.values()]
            sending, hashing = stages.count("send"), stages.count("hash")
            parallel = self.station.parallel_uploads
            due = self.journal.pending(self.clock(), self.station.order, self.station.flagged_first,
                                       limit=DISPATCH_WINDOW)
            waiting_ready = sum(1 for row in due if row.state in ("ready", "uploading") and row.path not in self.in_flight)
            for row in due:
                if row.path in self.in_flight:
                    continue
                if row.state in ("ready", "uploading"):
                    if sending >= parallel:
                        continue
                    stage, sending, waiting_ready = "send", sending + 1, waiting_ready - 1
                elif hashing < HASHING_THREADS and waiting_ready < parallel:
                    stage, hashing = "hash", hashing + 1
                else:
                    continue
                future = pool.submit(self.process, row.path, stage)
                future.add_done_callback(lambda _: self.wake.set())
                self.in_flight[row.path] = (stage, future)

    # -- one file ---------------------------------------------------------------------------

    def process(self, path: str, stage: str) -> None:
        """One stage of a file's work: "hash" it, or "send" it and confirm the receipt.
        JournalError is fatal; anything else is recorded on the file."""
        row = self.journal.get(path)
        full = str(self.watch / path)
        expected = FileState(row.size, row.mtime_ns)
        try:
            if stage == "hash":
                self._hash(row, full, expected)
            else:
                self._send(row, full, expected)
        except FileGone as problem:
            self._fail(row, problem.text(self.language))
            self._terminate(path)
        except FileChanged as problem:
            self._changed(path, full, problem.text(self.language))
        except WholeFileRejected as problem:
            times = self.rejections[path] = self.rejections.get(path, 0) + 1
            if times >= WHOLE_FILE_REJECTIONS:
                self._fail(self.journal.get(path), t("station.reason.whole_file_repeated", self.language, times=times))
            else:
                self.journal.restart(path, row.size, row.mtime_ns, problem.text(self.language), self.clock())
        except ChecksumRejected as problem:
            self._later(path, problem.text(self.language))
        except Unavailable as problem:
            self.last_error = problem.text(self.language)
            self._later(path, self.last_error)
        except Refused as problem:
            self._fail(self.journal.get(path), problem.text(self.language))
        except StationProblem as problem:
            self._fail(self.journal.get(path), problem.text(self.language))
        except OSError as exc:  # unreadable (permissions, a failing disk): this file fails, the rest go on
            self._fail(self.journal.get(path), t("station.reason.unreadable", self.language,
                                                 error=exc.strerror or str(exc)))
        finally:
            self.progress.finish(path)

    def _hash(self, row: FileRow, full: str, expected: FileState) -> None:
        self.journal.start_hashing(row.path)
        check_unchanged(full, expected)
        self.progress.start(row.path, row.size, t("station.bar.hash", self.language))
        sha256 = sha256_of(full, expected, lambda n: self.progress.advance(row.path, n))
        if self.journal.set_hashed(row.path, sha256, expected.size, expected.mtime_ns):
            log.info("%s: SHA-256 %s", row.path, sha256)

    def _send(self, row: FileRow, full: str, expected: FileState) -> None:
        self.progress.start(row.path, row.size, t("station.bar.send", self.language), row.offset)
        upload = Upload(path=full, sha256=row.sha256, expected=expected,
                        metadata=upload_metadata(row, full, self.settings), client=self.tus, api=self.api,
                        chunk_bytes=self.chunk_bytes, throttle=self.throttle,
                        on_url=lambda url: self.journal.start_upload(row.path, url),
                        on_offset=lambda offset: self._advance(row.path, offset),
                        timeout=self.station.request_timeout_seconds, checksum=self.station.request_checksum,
                        stop=self.stop)
        receipt = upload.run(row.upload_url)
        if receipt.sha256 != row.sha256:
            self._fail(self.journal.get(row.path), t("station.reason.receipt_mismatch", self.language,
                                                     receipt=receipt.sha256, sha256=row.sha256))
            return
        self.api.confirm(receipt)  # the clip, read back from the server, has this SHA-256
        self.journal.done(row.path, receipt.clip_id, receipt.sha256)
        self.last_error = None
        log.info("%s: done, clip %s (SHA-256 %s)", row.path, receipt.clip_id, receipt.sha256)
        if self.options.delete_after_receipt:
            self._delete(row.path, full, expected)

    def _advance(self, path: str, offset: int) -> None:
        """The journal's offset is for `station status`; a restart resumes at the server's offset,
        so it is written at most once a second per file (each write is a synced commit)."""
        now = time.monotonic()
        if now - self._journaled.get(path, 0.0) >= JOURNAL_OFFSET_EVERY:
            self.journal.advance(path, offset)
            self._journaled[path] = now
        self.progress.set(path, offset)

    def _delete(self, path: str, full: str, expected: FileState) -> None:
        """Only the bytes the receipt covers: a file that changed since is left alone."""
        try:
            if look(full) != expected:
                log.warning("%s: changed after its receipt; not deleted (it is uploaded again)", path)
                return
            os.remove(full)
        except FileNotFoundError:
            return
        except OSError as exc:
            log.warning("%s: received but could not be deleted: %s", path, exc.strerror)
            return
        self.journal.deleted(path)
        self.known.pop(path, None)
        log.info("%s: deleted after its receipt", path)

    def _fail(self, row: FileRow, reason: str) -> None:
        self.journal.failed(row.path, reason)
        log.warning("%s: failed: %s", row.path, reason)

    def _later(self, path: str, reason: str) -> None:
        current = self.journal.get(path)
        delay = backoff_delay(current.attempts, self.station.retry_backoff_seconds, self.rnd)
        self.journal.retry_later(path, reason, self.clock() + delay)
        log.info("%s: %s; retrying in %.0f s", path, reason, delay)

    def _changed(self, path: str, full: str, reason: str) -> None:
        """Hashed again from the start once it has been stable for stable_seconds."""
        try:
            now = look(full)
        except FileNotFoundError:
            self._fail(self.journal.get(path), t("station.reason.deleted", self.language))
            return
        self._terminate(path)
        self.journal.restart(path, now.size, now.mtime_ns, reason, self.clock() + self.station.stable_seconds)
        self.known[path] = (now.size, now.mtime_ns)
        log.info("%s: %s", path, reason)

    def _terminate(self, path: str) -> None:
        url = self.journal.get(path).upload_url
        if url:
            try:
                self.api.terminate(url)
            except ServerError as exc:  # the partial upload stays until it expires at the server
                log.warning("%s: its unfinished upload was not removed at the server: %s", path,
                            exc.text(self.language))

    # -- clocks and status ------------------------------------------------------------------

    def report_clocks(self, stable: list[discovery.SeenFile], now: float) -> None:
        for item in stable:
            path, mtime_ns = item.path, item.mtime_ns
            if not self.journal.clock_due(path, mtime_ns, now):
                continue
            try:
                reading = clocks.read(self.watch, path, mtime_ns, self.settings.zone)
                self.api.report_clock(reading.serial, reading.device_time.isoformat(),
                                      reading.station_time.isoformat())
            except clocks.ClockFileError as exc:
                reason = t("station.reason.clock_file", self.language, error=str(exc))
                self.journal.clock_result(path, mtime_ns, "failed", reason)
                log.warning("%s: %s", path, reason)
            except Unavailable as exc:
                self.journal.clock_result(path, mtime_ns, "retry", exc.text(self.language),
                                          now + backoff_delay(0, self.station.retry_backoff_seconds, self.rnd))
            except Refused as exc:
                # an unregistered recorder may be registered later: try again, but rarely
                retry = exc.status == 404
                self.journal.clock_result(path, mtime_ns, "retry" if retry else "failed", exc.text(self.language),
                                          now + self.station.retry_backoff_seconds[-1] if retry else None)
                log.warning("%s: %s", path, exc.text(self.language))
            else:
                self.journal.clock_result(path, mtime_ns, "reported")
                log.info("%s: clock of %s reported (offset %+.1f s)", path, reading.serial,
                         (reading.device_time - reading.station_time).total_seconds())

    def status_report(self) -> dict:
        counts = self.journal.counts()
        backlog, oldest = self.journal.backlog()
        failed = self.journal.listing(("failed",))[:FAILED_REPORTED]
        try:
            version = package_metadata.version("fullrecord")
        except package_metadata.PackageNotFoundError:
            version = "unknown"
        return {"agent_version": version, "hostname": socket.gethostname()[:255],
                "watch_dir": str(self.watch)[:1024], "started_at": self.started_at.isoformat(),
                "files": counts, "backlog_bytes": backlog,
                "oldest_waiting_since": datetime.fromtimestamp(oldest, tz=timezone.utc).isoformat() if oldest else None,
                "failed": [{"path": row.path[:1024], "reason": (row.reason or "")[:500]} for row in failed],
                "last_error": self.last_error[:500] if self.last_error else None}

    def report_status(self) -> None:
        try:
            self.api.report_status(self.status_report())
        except ServerError as exc:
            log.info("status report not delivered: %s", exc.text(self.language))


__all__ = ["Agent", "AgentOptions", "JournalError", "backoff_delay", "upload_metadata"]
