"""Discovery: recordings under nested recorder folders, skipped names, and stability over time."""
import os

from ingest.station.discovery import SeenFile, StabilityTracker, is_skipped, scan


def write(path, data=b"x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_scan_finds_nested_files_and_skips_the_rest(tmp_path):
    write(tmp_path / "R1" / "2024" / "03" / "R1_7_20240305143007_0001.MP4", b"abc")
    write(tmp_path / "R1" / "photo.JPG")
    write(tmp_path / "R2" / "R1_7_20240305143007_0001.MP4")
    write(tmp_path / "loose.wav")
    for skipped in ("R1/.hidden.mp4", "R1/copying.mp4.part", "R1/x.TMP", "R1/clock.json",
                    "R2/CLOCK.JSON", ".trash/old.mp4", "R2/.cache/a.mp4"):
        write(tmp_path / skipped)
    os.symlink(tmp_path / "R1", tmp_path / "link")
    found = scan(tmp_path)
    assert [item.path for item in found.files] == [
        "R1/2024/03/R1_7_20240305143007_0001.MP4", "R1/photo.JPG", "R2/R1_7_20240305143007_0001.MP4",
        "loose.wav"]
    assert found.files[0].size == 3 and found.files[0].mtime_ns > 0
    assert found.errors == []


def test_configured_clock_file_name(tmp_path):
    write(tmp_path / "R1" / "clock.json")
    write(tmp_path / "R1" / "time.json")
    found = scan(tmp_path, clock_file="time.json")
    assert [item.path for item in found.files] == ["R1/clock.json"]
    assert [item.path for item in found.clocks] == ["R1/time.json"]


def test_skipped_names():
    assert all(is_skipped(name) for name in (".x", "a.part", "a.PART", "b.tmp"))
    assert not any(is_skipped(name) for name in ("a.mp4", "part.mp4", "tmp", "clock.json.mp4", "clock.json"))


def test_missing_watch_dir_is_reported_not_raised(tmp_path):
    found = scan(tmp_path / "absent")
    assert found.files == [] and "absent" in found.errors[0]


def test_stable_only_after_unchanged_for_the_configured_time():
    tracker = StabilityTracker(stable_seconds=10)
    a1, b = SeenFile("R/a.mp4", 100, 1), SeenFile("R/b.mp4", 5, 1)
    assert tracker.update([a1, b], now=0) == []
    assert tracker.update([a1, b], now=9.9) == []
    a2 = SeenFile("R/a.mp4", 200, 2)  # still growing
    assert tracker.update([a2, b], now=10) == [b]
    assert tracker.update([a2, b], now=19) == [b]
    assert tracker.update([a2, b], now=20) == [a2, b]


def test_a_file_that_vanishes_starts_over():
    tracker = StabilityTracker(stable_seconds=5)
    a = SeenFile("R/a.mp4", 1, 1)
    tracker.update([a], now=0)
    tracker.update([], now=3)
    assert tracker.update([a], now=6) == []
    assert tracker.update([a], now=11) == [a]


def test_mtime_change_alone_resets_and_zero_means_at_once():
    tracker = StabilityTracker(stable_seconds=5)
    tracker.update([SeenFile("a", 1, 1)], now=0)
    assert tracker.update([SeenFile("a", 1, 2)], now=5) == []
    assert StabilityTracker(0).update([SeenFile("a", 1, 1)], now=0) == [SeenFile("a", 1, 1)]


def test_a_name_that_is_not_utf8_is_reported_and_left_alone(tmp_path):
    recorder = tmp_path / "DSJ-001"
    recorder.mkdir()
    (recorder / "DSJ-001_3201001_20261120100000_0001.MP4").write_bytes(b"v")
    gbk = os.fsencode(str(recorder)) + b"/" + "执法记录.MP4".encode("gbk")
    with open(gbk, "wb") as handle:
        handle.write(b"gbk-named recording")
    found = scan(tmp_path)
    assert [item.path for item in found.files] == ["DSJ-001/DSJ-001_3201001_20261120100000_0001.MP4"]
    assert len(found.errors) == 1 and "not UTF-8" in found.errors[0] and "\\x" in found.errors[0]
    assert os.path.exists(gbk)
