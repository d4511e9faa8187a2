"""Hostile media (issue 10 item 4): decompression bombs, absurd declared sizes and durations, lists
and playlists that name other files, an ffprobe that hangs, tools that run out of memory. Each is
kept and verified, flagged with its reason (Chinese and English), and nothing is derived from it.

End to end through the real tus API and real `fullrecord worker` processes with real ffmpeg on the
local store; the media layer directly with real ffmpeg; and the pure parts (guard, header sizes,
command options) on their own."""
import dataclasses
import os
import signal
import struct
from pathlib import Path

import pytest
from sqlalchemy import select

from server.settings import RECORDER_INPUT_FORMATS, ConfigError, ObstructionSettings, ThumbnailSettings
from storage.models import CustodyEvent
from tests import hostile_media as hostile
from tests.media_samples import make_sample
from tests.services.workers import WorkerProcess, upload_file, write_config
from tests.test_processing import FAST_RECOVERY, actions, stored_sha256, wait_final
from tests.test_tus import live, station  # noqa: F401  (fixtures)
from workers.media.argv import poster_argv
from workers.media.declared import declared_picture_size
from workers.media.guard import media_refusal, picture_refusal
from workers.media.limits import MediaLimits, input_options, limited, ran_out_of_memory, size_text
from workers.media.obstruction import ObstructionError, analyze
from workers.media.probe import MediaInfo, ProbeRefusedFormat, probe
from workers.media.run import MediaCommandFailed, MediaMemoryLimit, exit_text, run_media
from workers.media import probe as media_probe
from workers.media import sampling
from workers.media.sampling import MAX_SAMPLE_ASPECT, SamplingError, frame_size
from workers.steps.failures import refused

PASSWORD = "correct horse battery"
KEPT_EN, KEPT_ZH = "the original is kept", "原件已保留"


@pytest.fixture
def settings(make_settings, tmp_path, redis_url):
    return make_settings(**{"redis.url": redis_url, **FAST_RECOVERY,
                            "database.url": f"sqlite:///{tmp_path / 'db' / 'fullrecord.db'}"})


@pytest.fixture
def workers(settings, tmp_path):
    started = []

    def start(**overrides):
        config = write_config(settings, tmp_path / f"worker-{len(started)}.yaml", **overrides)
        process = WorkerProcess(config, tmp_path / f"worker-{len(started)}.log").start()
        started.append(process)
        return process
    yield start
    for process in started:
        process.stop()


@pytest.fixture
def admin(rt, client):
    from server import accounts
    with rt.session() as session, session.begin():
        accounts.create_user(session, rt.password_hasher(), "admin1", "admin", PASSWORD)
    token = client.post("/api/v1/auth/tokens", json={"username": "admin1", "password": PASSWORD}).json["token"]
    return {"Authorization": f"Bearer {token}"}


def alert_messages(client, headers, clip_id) -> dict:
    """code -> {language: message} of a clip's alerts, as the API gives them to a reader."""
    messages = {}
    for language in ("zh-CN", "en"):
        response = client.get(f"/api/v1/alerts?clip_id={clip_id}&lang={language}", headers=headers)
        assert response.status_code == 200, response.json
        for alert in response.json:
            messages.setdefault(alert["code"], {})[language] = alert["message"]
    return messages


def event_details(rt, clip_id, action):
    with rt.session() as session:
        return session.scalars(select(CustodyEvent.details).where(CustodyEvent.clip_id == clip_id,
                                                                  CustodyEvent.action == action)).all()


def assert_kept_and_not_derived(rt, clip):
    assert clip["derivatives"] == [], "nothing is derived from a refused file"
    assert not list(rt.store.list(f"derivatives/{clip['id']}/"))
    assert stored_sha256(rt, clip["original_key"]) == clip["sha256"], "the original is kept, unchanged"
    steps = {step["step"]: step for step in clip["processing"]["steps"]}
    assert set(steps) == {"verify", "probe"} and steps["verify"]["status"] == "done"


# -- end to end ------------------------------------------------------------------------------

# file -> (refusal code, words its English and Chinese alert must contain)
HOSTILE = {
    "bomb.png": ("too_many_pixels", ["50000×50000", "2500000000"]),
    "bomb.jpg": ("too_many_pixels", ["65500×65500"]),
    "large.png": ("too_many_pixels", ["12000×12000"]),
    "huge.avi": ("too_many_pixels", ["9000×9000"]),
    "long.avi": ("too_long", ["85899345.88", "86400"]),
    "secret-list.mp4": ("format_not_allowed", ["concat"]),
    "loop.mp4": ("format_not_allowed", ["concat"]),
    "playlist.mp4": ("format_not_allowed", ["hls"]),
}


def make_hostile(directory: Path, secret: Path) -> dict[str, Path]:
    return {"bomb.png": hostile.png_bomb(directory / "bomb.png"),
            "bomb.jpg": hostile.jpeg_claiming(directory / "bomb.jpg"),
            "large.png": hostile.png_bomb(directory / "large.png", 12000),
            "huge.avi": hostile.avi_claiming(directory / "huge.avi", size=(9000, 9000)),
            "long.avi": hostile.avi_claiming(directory / "long.avi", frames=2**31 - 1),
            "secret-list.mp4": hostile.ffconcat(directory / "secret-list.mp4", str(secret)),
            "loop.mp4": hostile.self_concat(directory / "loop.mp4"),
            "playlist.mp4": hostile.hls_playlist(directory / "playlist.mp4", secret)}


@pytest.mark.slow
def test_hostile_files_are_kept_flagged_and_never_decoded(live, station, rt, workers, client, admin, tmp_path):
    samples = tmp_path / "samples"
    samples.mkdir()
    (tmp_path / "elsewhere").mkdir()
    secret = hostile.secret_video(tmp_path / "elsewhere" / "secret.ts")
    files = make_hostile(samples, secret)
    assert files["bomb.png"].stat().st_size < 400_000 and files["bomb.jpg"].stat().st_size < 2000
    clip_ids = {name: upload_file(live, station, path) for name, path in files.items()}
    control = upload_file(live, station, make_sample("h264_aac_mp4", samples))
    worker = workers()
    clips = wait_final(live, station, [*clip_ids.values(), control], worker)

    for name, clip_id in clip_ids.items():
        code, words = HOSTILE[name]
        clip = clips[clip_id]
        assert clip["status"] == "unplayable" and clip["processing"]["state"] == "done", (name, clip["processing"])
        assert clip["flags"]["refused"] == code == clip["media"]["refused"], name
        assert KEPT_EN in clip["flags"]["unplayable"] and clip["duration_seconds"] is None
        assert_kept_and_not_derived(rt, clip)
        assert actions(rt, clip_id) == ["received", "verified", "marked_unplayable"], name
        [event] = event_details(rt, clip_id, "marked_unplayable")
        assert event["refused"] == code and event["reason"] == clip["flags"]["unplayable"]
        messages = alert_messages(client, admin, clip_id)
        assert list(messages) == [f"media_{code}"], name
        english, chinese = messages[f"media_{code}"]["en"], messages[f"media_{code}"]["zh-CN"]
        assert KEPT_EN in english and KEPT_ZH in chinese and "未解码" in chinese, name
        assert all(word in english and word in chinese for word in words), (name, english, chinese)

    by_header = event_details(rt, clip_ids["bomb.png"], "marked_unplayable")[0]
    assert by_header["source"] == "header", "the bomb is judged by its header, before ffprobe reads it"
    probed = event_details(rt, clip_ids["huge.avi"], "marked_unplayable")[0]
    assert (probed["probed"]["width"], probed["probed"]["height"]) == (9000, 9000)

    fine = clips[control]
    assert fine["status"] == "processed" and len(fine["derivatives"]) == 4, "the worker goes on with other clips"
    assert {d["source_sha256"] for d in fine["derivatives"]} == {fine["sha256"]}
    assert not any(rt.settings.work_dir.iterdir()), "workspaces are removed"


@pytest.mark.slow
def test_a_hanging_ffprobe_is_killed_retried_and_the_clip_flagged(live, station, rt, workers, client, admin,
                                                                  tmp_path):
    """A stand-in: no file the store holds can be made to hang ffprobe on demand (a FIFO or a
    network input are not files it holds, and the whitelists shut those out), so processing.ffprobe
    names a script that sleeps whatever it is asked."""
    marker = "86399.4321"
    clip_id = upload_file(live, station, make_sample("h264_aac_mp4", tmp_path))
    worker = workers(**{"processing.ffprobe": str(hostile.hanging_ffprobe(tmp_path / "ffprobe", marker)),
                        "processing.probe_timeout_seconds": 1.5})
    clip = wait_final(live, station, [clip_id], worker)[clip_id]

    assert clip["status"] == "unplayable" and clip["flags"]["refused"] == "probe_timeout"
    assert "did not finish within the 1.5 s timeout" in clip["media"]["error"]
    probe_step = next(step for step in clip["processing"]["steps"] if step["step"] == "probe")
    assert probe_step["attempts"] == rt.settings.processing.retries + 1 == 2, "retried per processing.retries"
    assert_kept_and_not_derived(rt, clip)
    messages = alert_messages(client, admin, clip_id)["media_probe_timeout"]
    assert "1.5 s on any of 2 attempts" in messages["en"]
    assert "1.5 秒" in messages["zh-CN"] and "2 次" in messages["zh-CN"]
    assert not [pid for pid in os.listdir("/proc") if pid.isdigit() and marker in _cmdline(pid)], \
        "every hanging ffprobe was killed"


@pytest.mark.slow
def test_a_tool_out_of_memory_fails_its_step_at_once_with_the_reason(live, station, rt, workers, client, admin,
                                                                     tmp_path):
    """A 12000 x 12000 grey PNG (144 MB of pixels) allowed by max_pixels, under a 100 MB limit:
    ffprobe reads its header, ffmpeg cannot decode it for the poster."""
    clip_id = upload_file(live, station, hostile.png_bomb(tmp_path / "grey.png", 12000, bit_depth=8))
    worker = workers(**{"processing.memory_limit_bytes": 100_000_000, "processing.max_pixels": 200_000_000})
    clip = wait_final(live, station, [clip_id], worker)[clip_id]

    assert clip["processing"]["state"] == "failed" and clip["status"] == "verified"
    assert clip["media"]["width"] == 12000, "ffprobe read it within the limit"
    thumbnails = next(step for step in clip["processing"]["steps"] if step["step"] == "thumbnails")
    assert thumbnails["status"] == "failed" and thumbnails["attempts"] == 1, "not retried: it would run out again"
    assert "ran out of its memory limit of 95.4 MiB" in thumbnails["error"]
    assert clip["derivatives"] == [] and not list(rt.store.list(f"derivatives/{clip_id}/"))
    assert stored_sha256(rt, clip["original_key"]) == clip["sha256"]
    messages = alert_messages(client, admin, clip_id)["media_memory_limit"]
    assert messages["en"].startswith("ffmpeg ran out of its memory limit of 95.4 MiB")
    assert "ffmpeg 处理该文件时超出内存上限 95.4 MiB" in messages["zh-CN"]


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""  # it ended while we looked


# -- the media layer with real ffmpeg ----------------------------------------------------------

STILL = MediaInfo(kind="image", container="png", format_name="png_pipe", duration=None, video_codec="png",
                  audio_codec=None, pix_fmt="gray", width=320, height=240, frame_rate=None, rotation=0,
                  creation_time=None, bit_rate=None)
SECONDS_VIDEO = MediaInfo(kind="video", container="mpegts", format_name="mpegts", duration=2.0, video_codec="h264",
                          audio_codec=None, pix_fmt="yuv420p", width=160, height=120, frame_rate=25.0, rotation=0,
                          creation_time=None, bit_rate=None)


def without_whitelists(argv: list[str]) -> list[str]:
    at = argv.index("-protocol_whitelist")
    assert argv[at + 2] == "-format_whitelist"
    return argv[:at] + argv[at + 4:]


@pytest.mark.parametrize("kind", ["ffconcat", "hls"])
def test_ffmpeg_itself_cannot_be_made_to_read_another_file(tmp_path, kind):
    """The classic local-file disclosure: a 'video' that is a list or playlist naming a file on the
    worker's host. Even handed straight to ffmpeg (not refused by the probe first), the
    whitelisted command reads nothing else; the same command without them shows the other file."""
    secret = hostile.secret_video(tmp_path / "secret.ts")
    hostile_file = (hostile.ffconcat(tmp_path / "clip.mp4", secret.name) if kind == "ffconcat"
                    else hostile.hls_playlist(tmp_path / "clip.mp4", secret))
    argv = poster_argv(str(hostile_file), str(tmp_path / "poster.jpg"), SECONDS_VIDEO, ThumbnailSettings(),
                       decode_to_position=True)
    with pytest.raises(MediaCommandFailed) as failure:
        run_media(argv, timeout=60, cwd=tmp_path)
    assert "not on whitelist" in failure.value.stderr_tail
    assert not (tmp_path / "poster.jpg").exists()

    run_media(without_whitelists(argv), timeout=60, cwd=tmp_path)  # the attack is real on this ffmpeg
    red, green, blue = hostile.mean_colour(tmp_path / "poster.jpg")
    assert red > 200 and green < 60 and blue < 60


def test_probe_refuses_lists_and_playlists_by_name(tmp_path):
    secret = hostile.secret_video(tmp_path / "secret.ts")
    for path, demuxer in [(hostile.ffconcat(tmp_path / "a.mp4", secret.name), "concat"),
                          (hostile.self_concat(tmp_path / "original.mp4"), "concat"),
                          (hostile.hls_playlist(tmp_path / "b.mp4", secret), "hls")]:
        with pytest.raises(ProbeRefusedFormat) as refused:
            probe(path, timeout=30)
        assert refused.value.format_name == demuxer


def test_run_media_reports_a_decode_stopped_by_the_memory_limit(tmp_path):
    grey = hostile.png_bomb(tmp_path / "grey.png", 12000, bit_depth=8)  # 144 MB decoded
    info = probe(grey, timeout=30, memory_limit_bytes=100_000_000)
    argv = poster_argv(str(grey), str(tmp_path / "poster.jpg"), info, ThumbnailSettings())
    with pytest.raises(MediaMemoryLimit) as failure:
        run_media(argv, timeout=60, memory_limit_bytes=100_000_000)
    assert str(failure.value).startswith("ffmpeg ran out of its memory limit of 95.4 MiB")
    assert failure.value.argv == argv and failure.value.limit_bytes == 100_000_000
    run_media(argv, timeout=60, memory_limit_bytes=2 << 30)  # the same decode with room enough
    assert (tmp_path / "poster.jpg").stat().st_size > 0


def test_a_missing_tool_under_a_memory_limit_is_still_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        run_media(["no-such-ffmpeg", "-version"], timeout=10, memory_limit_bytes=2 << 30)


def test_obstruction_analysis_refuses_a_picture_over_max_pixels(tmp_path):
    huge = hostile.avi_claiming(tmp_path / "huge.avi", size=(9000, 9000))
    with pytest.raises(ObstructionError, match="over the limit of 67108864 pixels"):
        analyze(huge, ObstructionSettings(), duration=None, limits=MediaLimits(max_pixels=8192 * 8192))


# -- pure parts --------------------------------------------------------------------------------

def test_declared_picture_size_of_png_and_jpeg(tmp_path):
    assert declared_picture_size(hostile.png_bomb(tmp_path / "a.png", 300)) == (300, 300)
    assert declared_picture_size(hostile.jpeg_claiming(tmp_path / "b.jpg", 65500, 1234)) == (65500, 1234)
    plain = (tmp_path / "b.jpg").read_bytes()
    app1 = b"\xff\xe1" + struct.pack(">H", 40002) + bytes(40000)  # a 40 KB EXIF block before the frame
    (tmp_path / "exif.jpg").write_bytes(plain[:2] + app1 + plain[2:])
    assert declared_picture_size(tmp_path / "exif.jpg") == (65500, 1234)
    (tmp_path / "cut.jpg").write_bytes(plain[:30])
    assert declared_picture_size(tmp_path / "cut.jpg") is None
    assert declared_picture_size(hostile.ffconcat(tmp_path / "c.mp4", "x.mp4")) is None
    (tmp_path / "empty").write_bytes(b"")
    assert declared_picture_size(tmp_path / "empty") is None


@pytest.mark.parametrize("width, height, code", [
    (3840, 2160, None), (8192, 8192, None), (8193, 8192, "too_many_pixels"), (65500, 65500, "too_many_pixels"),
    (0, 0, "picture_size_unknown"), (None, 480, "picture_size_unknown")])
def test_picture_guard(width, height, code):
    refusal = picture_refusal(width, height, 8192 * 8192)
    assert (refusal and refusal.code) == code


def test_media_guard_judges_declared_size_and_duration():
    limits = MediaLimits(max_pixels=8192 * 8192, max_duration_seconds=86400)
    video = SECONDS_VIDEO
    assert media_refusal(video, limits) is None
    assert media_refusal(_replace(video, width=9000, height=9000), limits).code == "too_many_pixels"
    long = media_refusal(_replace(video, duration=86400.5), limits)
    assert long.code == "too_long" and long.facts == {"duration": 86400.5, "max_duration_seconds": 86400}
    assert "86400.5 s is over the limit of 86400 s" in long.reason and long.alert_code == "media_too_long"
    assert media_refusal(_replace(video, duration=None), limits) is None, "no duration: the timeouts bound it"
    audio = _replace(video, kind="audio", width=None, height=None, video_codec=None)
    assert media_refusal(audio, limits) is None, "audio has no picture to judge"
    assert media_refusal(_replace(STILL, width=0, height=0), limits).code == "picture_size_unknown"


def test_input_options_whitelist_the_file_protocol_and_the_formats():
    assert input_options("clip.mp4", ["mov", "avi"]) == ["-protocol_whitelist", "file", "-format_whitelist", "mov,avi"]
    assert input_options("clip.mp4")[-1] == ",".join(RECORDER_INPUT_FORMATS)
    with pytest.raises(ValueError, match="'%'"):
        input_options("frame%03d.jpg")  # image2 would read a numbered sequence of other files


@pytest.mark.parametrize("argv", [
    media_probe.probe_argv("/w/original.mp4"),
    sampling.probe_argv("/w/original.mp4"),
    sampling.decode_argv("/w/original.mp4", (160, 90), 2, keyframes_only=True, seek=4.0, length=8.0),
], ids=["probe", "sampling_probe", "sampling_decode"])
def test_ffprobe_and_the_sampling_commands_are_whitelisted_too(argv):
    at = argv.index("-i")
    assert argv[at - 4:at] == ["-protocol_whitelist", "file", "-format_whitelist", ",".join(RECORDER_INPUT_FORMATS)]
    assert argv[at + 1] == "/w/original.mp4"


def test_limited_runs_the_program_under_prlimit_and_only_when_asked():
    argv = ["ffmpeg", "-i", "x"]
    assert limited(argv, None) == argv
    wrapped = limited(argv, 1 << 30)
    assert wrapped[0].endswith("prlimit") and wrapped[1:3] == [f"--data={1 << 30}", "--"]
    assert wrapped[3].endswith("/ffmpeg") and wrapped[4:] == ["-i", "x"]


def test_out_of_memory_is_recognised_only_under_a_limit():
    assert ran_out_of_memory("Error while decoding stream #0:0: Cannot allocate memory", 1 << 30)
    assert ran_out_of_memory("error while loading shared libraries: failed to map segment", 1 << 30)
    assert not ran_out_of_memory("Error while decoding stream #0:0: Cannot allocate memory", None)
    assert not ran_out_of_memory("Invalid data found when processing input", 1 << 30)
    assert (size_text(2 << 30), size_text(100_000_000), size_text(512)) == ("2 GiB", "95.4 MiB", "512 bytes")


def test_a_refusal_keeps_the_clip_flagged_and_stops_processing():
    refusal = picture_refusal(50000, 50000, 8192 * 8192)
    outcome = refused(refusal, {"source": "header"})
    assert (outcome.status, outcome.clip_status, outcome.derivatives, outcome.next_steps) == (
        "done", "unplayable", [], [])
    assert outcome.clip_flags == {"unplayable": refusal.reason, "refused": "too_many_pixels"}
    assert outcome.clip_media["declared"]["pixels"] == 2_500_000_000 and "kind" not in outcome.clip_media
    [(action, details)] = outcome.events
    assert action == "marked_unplayable" and details["source"] == "header" and details["width"] == 50000
    [(severity, code, facts)] = outcome.alerts
    assert (severity, code) == ("warning", "media_too_many_pixels") and facts["max_pixels"] == 8192 * 8192
    assert outcome.stop_processing and outcome.clip_duration is None


def test_exit_text_names_a_killing_signal():
    assert exit_text(1) == "exited with code 1"
    assert exit_text(-signal.SIGSEGV) == "was killed by SIGSEGV"


def test_a_sample_is_never_taller_than_the_aspect_bound():
    assert frame_size(1920, 1080, 160) == (160, 90)
    assert frame_size(1080, 1920, 160) == (160, 284)
    assert frame_size(2, 30_000_000, 160) == (160, MAX_SAMPLE_ASPECT * 160), "no 2.4 Gpx buffer in the worker"
    with pytest.raises(SamplingError, match="impossible picture size"):
        frame_size(0, 1080, 160)


def test_settings_refuse_demuxers_that_read_other_files(make_settings):
    settings = make_settings()
    assert settings.processing.memory_limit_bytes == 2 << 30
    assert settings.processing.max_pixels == 8192 * 8192 and settings.processing.max_duration_seconds == 86400
    assert tuple(settings.processing.input_formats) == RECORDER_INPUT_FORMATS
    for bad in ("concat", "hls", "Mov,mp4"):
        with pytest.raises(ConfigError, match="input_formats"):
            make_settings(**{"processing.input_formats": ["mov", bad]})
    with pytest.raises(ConfigError, match="memory_limit_bytes"):
        make_settings(**{"processing.memory_limit_bytes": 1000})
    assert make_settings(**{"processing.memory_limit_bytes": None}).processing.memory_limit_bytes is None


def _replace(info: MediaInfo, **changes) -> MediaInfo:
    return dataclasses.replace(info, **changes)
