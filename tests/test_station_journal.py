"""The station journal: states, changed files, ordering, and clear errors when it cannot write."""
import os
import sqlite3
import threading
import time

import pytest

from ingest.station.journal import Journal, JournalError, StateError


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def journal(tmp_path):
    journal = Journal.open(tmp_path / "state" / "journal.db", clock=Clock())
    yield journal
    journal.close()


def test_wal_and_full_sync(journal):
    db = sqlite3.connect(journal.path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert journal._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_a_file_goes_from_pending_to_done(journal):
    assert journal.observe("R1/a.mp4", 100, 5) == "new"
    assert journal.observe("R1/a.mp4", 100, 5) == "unchanged"
    journal.start_hashing("R1/a.mp4")
    assert journal.set_hashed("R1/a.mp4", "ab" * 32, 100, 5)
    journal.start_upload("R1/a.mp4", "http://s/files/1")
    journal.advance("R1/a.mp4", 60)
    journal.start_upload("R1/a.mp4", "http://s/files/1")  # after a restart: offset kept
    assert journal.get("R1/a.mp4").offset == 60
    with pytest.raises(StateError, match="SHA-256"):
        journal.done("R1/a.mp4", "clip-1", "cd" * 32)
    journal.done("R1/a.mp4", "clip-1", "ab" * 32)
    row = journal.get("R1/a.mp4")
    assert (row.state, row.clip_id, row.recorder, row.upload_url) == ("done", "clip-1", "R1", "http://s/files/1")
    assert journal.counts() == {"pending": 0, "hashing": 0, "ready": 0, "uploading": 0, "done": 1, "failed": 0}


def test_transitions_out_of_order_are_refused(journal):
    journal.observe("R1/a.mp4", 1, 1)
    with pytest.raises(StateError, match="pending"):
        journal.start_upload("R1/a.mp4", "http://s/files/1")
    with pytest.raises(StateError, match="not in the journal"):
        journal.failed("R9/none.mp4", "x")


def test_a_changed_file_goes_back_to_pending_and_forgets_its_hash(journal):
    journal.observe("R1/a.mp4", 100, 5)
    journal.set_hashed("R1/a.mp4", "ab" * 32, 100, 5)
    journal.start_upload("R1/a.mp4", "http://s/files/1")
    journal.advance("R1/a.mp4", 50)
    assert journal.observe("R1/a.mp4", 120, 6) == "changed"
    row = journal.get("R1/a.mp4")
    assert (row.state, row.sha256, row.upload_url, row.offset, row.size) == ("pending", None, None, 0, 120)


def test_a_hash_of_an_older_version_is_not_kept(journal):
    journal.observe("R1/a.mp4", 100, 5)
    journal.start_hashing("R1/a.mp4")
    journal.observe("R1/a.mp4", 150, 7)  # grew while being hashed
    assert not journal.set_hashed("R1/a.mp4", "ab" * 32, 100, 5)
    assert (journal.get("R1/a.mp4").state, journal.get("R1/a.mp4").sha256) == ("pending", None)


def test_a_done_file_that_changes_is_a_new_recording_and_its_receipt_is_kept(journal):
    journal.observe("R1/a.mp4", 100, 5)
    journal.set_hashed("R1/a.mp4", "ab" * 32, 100, 5)
    journal.done("R1/a.mp4", "clip-1", "ab" * 32)
    journal.deleted("R1/a.mp4")
    assert journal.observe("R1/a.mp4", 100, 5) == "unchanged"
    assert journal.observe("R1/a.mp4", 70, 9) == "changed_after_done"
    row = journal.get("R1/a.mp4")
    assert (row.state, row.sha256, row.clip_id, row.size) == ("pending", None, None, 70)
    [receipt] = journal.receipts("R1/a.mp4")
    assert (receipt["sha256"], receipt["clip_id"], receipt["size"]) == ("ab" * 32, "clip-1", 100)
    assert receipt["deleted"] is not None


def test_failed_files_can_be_retried(journal):
    journal.observe("R1/a.mp4", 100, 5)
    journal.observe("R1/b.mp4", 100, 5)
    journal.failed("R1/a.mp4", "gone")
    journal.failed("R1/b.mp4", "gone")
    assert journal.retry_failed(["R1/b.mp4"]) == 1
    assert [row.state for row in journal.listing()] == ["pending", "failed"]
    assert journal.retry_failed() == 1 and journal.counts()["failed"] == 0


def test_clock_readings_are_reported_once_or_retried_when_due(journal):
    assert journal.clock_due("R1/clock.json", 7)
    journal.clock_result("R1/clock.json", 7, "retry", "unknown recorder", next_try_at=time.time() + 60)
    assert not journal.clock_due("R1/clock.json", 7)
    assert journal.clock_due("R1/clock.json", 7, now=time.time() + 61)
    journal.clock_result("R1/clock.json", 7, "reported")
    assert not journal.clock_due("R1/clock.json", 7, now=time.time() + 600)
    assert journal.clock_due("R1/clock.json", 8)


def test_same_name_under_two_recorders_is_two_files(journal):
    journal.observe("R1/VID_0001.MP4", 10, 1)
    journal.observe("R2/VID_0001.MP4", 10, 1)
    journal.failed("R1/VID_0001.MP4", "deleted mid-upload")
    assert [(row.recorder, row.state) for row in journal.listing()] == [("R2", "pending"), ("R1", "failed")]
    assert journal.listing(("failed",))[0].reason == "deleted mid-upload"


def test_order_newest_oldest_and_flagged_first(journal):
    journal.observe("R/old.mp4", 1, 1_000_000_000)
    journal.observe("R/mid.mp4", 1, 2_000_000_000)
    journal.observe("R/new.mp4", 1, 1, recorded_at=3.0)  # the name's time beats the mtime
    names = lambda rows: [row.path for row in rows]  # noqa: E731
    assert names(journal.pending()) == ["R/new.mp4", "R/mid.mp4", "R/old.mp4"]
    assert names(journal.pending(order="oldest")) == ["R/old.mp4", "R/mid.mp4", "R/new.mp4"]
    journal.flag("R/old.mp4")
    assert names(journal.pending(limit=2)) == ["R/old.mp4", "R/new.mp4"]
    assert names(journal.pending(flagged_first=False, limit=1)) == ["R/new.mp4"]
    with pytest.raises(ValueError):
        journal.pending(order="random")


def test_retry_later_waits_and_keeps_the_offset(journal):
    journal.observe("R/a.mp4", 100, 5)
    journal.set_hashed("R/a.mp4", "ab" * 32, 100, 5)
    journal.start_upload("R/a.mp4", "http://s/files/1")
    journal.advance("R/a.mp4", 40)
    journal.retry_later("R/a.mp4", "server unreachable", at=2000.0)
    assert journal.pending(now=1999.0) == []
    row = journal.pending(now=2000.0)[0]
    assert (row.state, row.offset, row.attempts, row.reason) == ("uploading", 40, 1, "server unreachable")


def test_state_survives_reopening(tmp_path):
    path = tmp_path / "j.db"
    first = Journal.open(path)
    first.observe("R/a.mp4", 1, 1)
    first.set_hashed("R/a.mp4", "ab" * 32, 1, 1)
    first.close()
    again = Journal.open(path)
    assert again.get("R/a.mp4").state == "ready"
    again.close()


def test_threads_share_one_journal(journal):
    def work(index):
        for step in range(20):
            journal.observe(f"R{index}/{step}.mp4", step, step)
    threads = [threading.Thread(target=work, args=(index,)) for index in range(4)]
    [thread.start() for thread in threads]
    [thread.join() for thread in threads]
    assert journal.counts()["pending"] == 80


def test_read_only_directory_is_a_clear_error(tmp_path):
    directory = tmp_path / "ro"
    directory.mkdir()
    directory.chmod(0o500)
    target = directory / "journal.db"
    if os.access(directory, os.W_OK):  # root ignores the mode: make the directory impossible
        (tmp_path / "a-file").write_text("x")
        target = tmp_path / "a-file" / "journal.db"
    try:
        with pytest.raises(JournalError) as caught:
            Journal.open(target)
    finally:
        directory.chmod(0o700)
    message = str(caught.value)
    assert str(target) in message and "writable directory" in message and "station.journal" in message


def test_full_disk_is_a_clear_error(journal):
    journal._db.execute("PRAGMA max_page_count = 1")  # the database cannot grow: as on a full disk
    with pytest.raises(JournalError) as caught:
        for index in range(500):
            journal.observe(f"R/{index:04d}-{'x' * 200}.mp4", 1, 1)
    assert "full" in str(caught.value) and str(journal.path) in str(caught.value)
    assert "free some space" in str(caught.value)
    assert journal.counts()["pending"] >= 0  # still usable after the failed write
