"""run_media with real ffmpeg: progress, failures, timeouts, and review copies that really play."""
import os
import re
import time
from pathlib import Path

import pytest

from server.settings import ReviewProfile, ThumbnailSettings
from tests.media_samples import (AAC, CREATION_TIME, SAMPLE_KINDS, make_audio, make_sample, make_video,
                                 top_level_atoms)
from workers.media.argv import (contact_sheet_argv, poster_argv, review_argv, review_output_suffix,
                                review_plan)
from workers.media.probe import probe
from workers.media.run import MediaCommandFailed, MediaCommandTimeout, run_media, tool_version

SECONDS = 3.0
PROFILE = ReviewProfile()
# An endless real-time run: ffmpeg's stand-in for a hung encode.
ENDLESS = "ffmpeg -nostdin -loglevel error -re -f lavfi -i testsrc2=size=64x48:rate=5 -f null"


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    directory = tmp_path_factory.mktemp("samples")
    made = {kind: make_sample(kind, directory, seconds=SECONDS) for kind in SAMPLE_KINDS}
    made["aac_m4a"] = make_audio(directory / "aac_m4a.m4a", seconds=SECONDS, codec=AAC)
    return made


def make_review(source: Path, directory: Path, profile: ReviewProfile = PROFILE):
    info = probe(source, timeout=30)
    output = directory / ("review" + review_output_suffix(info))
    run_media(review_argv(str(source), str(output), info, profile), timeout=120, duration=info.duration)
    return info, probe(output, timeout=30), output


def test_progress_rises_to_one(tmp_path, samples):
    source = make_sample("mjpeg_avi", tmp_path, seconds=2.0)
    info = probe(source, timeout=30)
    argv = review_argv(str(source), str(tmp_path / "out.mp4"), info, PROFILE)
    argv.insert(argv.index("-i"), "-re")  # read at real time, so the 2 s run reports progress on the way
    fractions = []
    result = run_media(argv, timeout=60, duration=info.duration, on_progress=fractions.append)
    assert result.returncode == 0 and result.seconds > 0
    assert len(fractions) >= 2 and fractions[0] < 1.0 and fractions[-1] == 1.0
    assert all(0 < earlier < later for earlier, later in zip(fractions, fractions[1:]))


def test_no_progress_without_duration(tmp_path, samples):
    calls = []
    argv = ["ffmpeg", "-nostdin", "-i", str(samples["wav"]), "-f", "null", "-progress", "pipe:1", "-"]
    run_media(argv, timeout=60, duration=None, on_progress=calls.append)
    assert calls == []


def test_failure_carries_the_stderr_tail(tmp_path):
    argv = ["ffmpeg", "-nostdin", "-hide_banner", "-i", str(tmp_path / "missing.mp4"),
            str(tmp_path / "out.mp4")]
    with pytest.raises(MediaCommandFailed) as failure:
        run_media(argv, timeout=60)
    assert not isinstance(failure.value, MediaCommandTimeout)
    assert failure.value.returncode != 0 and failure.value.argv == argv
    assert "No such file or directory" in failure.value.stderr_tail
    assert str(failure.value).startswith(f"ffmpeg exited with code {failure.value.returncode}: ")
    assert "No such file or directory" in str(failure.value)


def test_tail_keeps_the_last_lines():
    script = "for i in $(seq 50); do echo line$i >&2; done; exit 3"
    with pytest.raises(MediaCommandFailed) as failure:
        run_media(["sh", "-c", script], timeout=60, tail_lines=5)
    assert failure.value.returncode == 3
    assert failure.value.stderr_tail.splitlines() == [f"line{i}" for i in range(46, 51)]


def test_timeout_kills_the_whole_process_group():
    # The shell leaves ffmpeg running as its own child: only killing the group stops both.
    script = f"{ENDLESS} - & echo child=$! >&2; wait"
    with pytest.raises(MediaCommandTimeout) as failure:
        run_media(["sh", "-c", script], timeout=3.0)  # room for a loaded machine to start both
    assert "did not finish within the 3 s timeout" in str(failure.value)
    child = int(re.search(r"child=(\d+)", failure.value.stderr_tail).group(1))
    assert gone_soon(child), "the shell's child survived the timeout"


@pytest.mark.parametrize("interruption", [RuntimeError, KeyboardInterrupt])
def test_interrupted_caller_leaves_no_process(interruption):
    seen = []

    def interrupt(fraction):
        seen.extend(pid for pid, command in children() if command == "ffmpeg")
        raise interruption("caller gave up")

    argv = ENDLESS.split() + ["-progress", "pipe:1", "-"]
    with pytest.raises(interruption):
        run_media(argv, timeout=60, duration=3600, on_progress=interrupt)
    assert seen and all(gone_soon(pid) for pid in seen)
    assert all(command != "ffmpeg" for _, command in children())


@pytest.mark.parametrize("kind", ["h264_aac_mp4", "h264_aac_mov", "h264_rotated_mp4"])
def test_remux_plays_with_faststart(tmp_path, samples, kind):
    source, output, review = make_review(samples[kind], tmp_path)
    assert review_plan(source, PROFILE) == "remux"
    assert_playable_video(source, output, review)
    assert (output.width, output.height, output.rotation) == (source.width, source.height, source.rotation)


@pytest.mark.parametrize("kind", ["hevc_mp4", "mjpeg_avi", "mpegts"])
def test_transcode_plays_with_faststart(tmp_path, samples, kind):
    source, output, review = make_review(samples[kind], tmp_path)
    assert review_plan(source, PROFILE) == "transcode"
    assert_playable_video(source, output, review)
    assert (output.width, output.height) == (320, 240)  # never upscaled to 720


def test_ten_bit_h264_is_transcoded_to_eight_bit(tmp_path):
    ten_bit = ("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p10le")
    source_path = make_video(tmp_path / "10bit.mp4", seconds=SECONDS, codec=ten_bit + AAC)
    source, output, review = make_review(source_path, tmp_path)
    assert (source.video_codec, source.pix_fmt, review_plan(source, PROFILE)) == \
        ("h264", "yuv420p10le", "transcode")
    assert_playable_video(source, output, review)


def test_video_without_audio_is_remuxed(tmp_path):
    source, output, review = make_review(make_video(tmp_path / "mute.mp4", seconds=SECONDS, audio=False),
                                         tmp_path)
    assert review_plan(source, PROFILE) == "remux"
    assert (output.video_codec, output.audio_codec) == ("h264", None)
    assert top_level_atoms(review).index("moov") < top_level_atoms(review).index("mdat")


def test_transcode_scales_down_and_keeps_even_sizes(tmp_path, samples):
    profile = ReviewProfile(max_height=101)
    _, output, _ = make_review(samples["mjpeg_avi"], tmp_path, profile)
    assert (output.width, output.height) == (134, 100)


def test_transcode_turns_a_rotated_clip_upright(tmp_path, samples):
    profile = ReviewProfile(remux_video_codecs=[])
    source, output, review = make_review(samples["h264_rotated_mp4"], tmp_path, profile)
    assert review_plan(source, profile) == "transcode"
    assert_playable_video(source, output, review)
    assert (output.width, output.height, output.rotation) == (240, 320, 0)


@pytest.mark.parametrize("kind, plan", [("aac_m4a", "remux"), ("wav", "transcode"), ("amr", "transcode"),
                                        ("aac_adts", "transcode")])
def test_audio_review_is_m4a(tmp_path, samples, kind, plan):
    source, output, review = make_review(samples[kind], tmp_path)
    assert review_plan(source, PROFILE) == plan
    assert (output.kind, output.container, output.audio_codec) == ("audio", "m4a", "aac")
    assert output.duration == pytest.approx(source.duration, abs=1.0)
    assert top_level_atoms(review).index("moov") < top_level_atoms(review).index("mdat")


@pytest.mark.parametrize("kind, size", [("h264_aac_mp4", (640, 480)), ("h264_rotated_mp4", (640, 854)),
                                        ("jpeg", (640, 480))])
def test_poster_is_one_jpeg(tmp_path, samples, kind, size):
    source = probe(samples[kind], timeout=30)
    poster = tmp_path / "poster.jpg"
    run_media(poster_argv(str(samples[kind]), str(poster), source, ThumbnailSettings()), timeout=60)
    info = probe(poster, timeout=30)
    assert (info.kind, info.container, (info.width, info.height)) == ("image", "jpeg", size)


def test_contact_sheet_is_one_tiled_jpeg(tmp_path, samples):
    source = probe(samples["mpegts"], timeout=30)
    sheet = tmp_path / "sheet.jpg"
    settings = ThumbnailSettings(sheet_columns=3, sheet_rows=2, sheet_tile_width=160)
    run_media(contact_sheet_argv(str(samples["mpegts"]), str(sheet), source, settings), timeout=60)
    info = probe(sheet, timeout=30)
    assert (info.kind, info.width, info.height) == ("image", 480, 240)


def test_tool_version_names_the_program():
    assert tool_version("ffmpeg").startswith("ffmpeg version ")
    assert tool_version("ffprobe").startswith("ffprobe version ")
    assert tool_version("ffmpeg") is tool_version("ffmpeg")


def assert_playable_video(source, output, review: Path):
    assert (output.kind, output.container) == ("video", "mp4")
    assert (output.video_codec, output.audio_codec, output.pix_fmt) == ("h264", "aac", "yuv420p")
    assert output.height <= PROFILE.max_height
    assert output.duration == pytest.approx(source.duration, abs=1.0)
    atoms = top_level_atoms(review)
    assert atoms.index("moov") < atoms.index("mdat"), atoms
    if source.creation_time:
        assert output.creation_time == CREATION_TIME


def children() -> list[tuple[int, str]]:
    """(pid, command) of this test process's children, zombies included."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        fields = read_stat(stat)
        if fields and int(fields[2]) == os.getpid():
            found.append((int(stat.parent.name), fields[0]))
    return found


def gone_soon(pid: int, seconds: float = 5.0) -> bool:
    """SIGKILL is delivered asynchronously: allow the kernel a moment to end the process."""
    deadline = time.monotonic() + seconds
    while running(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def running(pid: int) -> bool:
    fields = read_stat(Path(f"/proc/{pid}/stat"))
    return bool(fields) and fields[1] != "Z"  # a killed orphan may linger as a zombie of init


def read_stat(stat: Path) -> list[str] | None:
    """[command, state, ppid, ...] from /proc/PID/stat, or None when the process is gone."""
    try:
        text = stat.read_text()
    except OSError:
        return None
    return [text[text.index("(") + 1:text.rindex(")")], *text[text.rindex(")") + 2:].split()]
