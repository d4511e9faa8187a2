"""probe(): ffprobe's JSON reduced to MediaInfo, on fixtures and on real samples of every kind."""
import json
import os
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.media_samples import CREATION_TIME, DATED_KINDS, SAMPLE_KINDS, make_sample
from workers.media.probe import MediaInfo, ProbeFailed, ProbeTimeout, parse_probe, probe

SECONDS = 3.0
MP4_FORMAT = {"format_name": "mov,mp4,m4a,3gp,3g2,mj2", "duration": "12.500000", "bit_rate": "1000000",
              "tags": {"major_brand": "isom", "creation_time": "2026-11-20T08:00:00.000000Z"}}
H264_STREAM = {"codec_type": "video", "codec_name": "h264", "pix_fmt": "yuv420p", "width": 1920,
               "height": 1080, "avg_frame_rate": "30000/1001", "duration": "12.480000"}
AAC_STREAM = {"codec_type": "audio", "codec_name": "aac", "avg_frame_rate": "0/0"}
COVER_ART = {"codec_type": "video", "codec_name": "mjpeg", "disposition": {"attached_pic": 1}}

EXPECTED = {  # kind, container, video codec, audio codec
    "h264_aac_mp4": ("video", "mp4", "h264", "aac"),
    "h264_aac_mov": ("video", "mov", "h264", "aac"),
    "hevc_mp4": ("video", "mp4", "hevc", "aac"),
    "mjpeg_avi": ("video", "avi", "mjpeg", "pcm_s16le"),
    "mpegts": ("video", "mpegts", "h264", "aac"),
    "h264_rotated_mp4": ("video", "mp4", "h264", "aac"),
    "jpeg": ("image", "jpeg", "mjpeg", None),
    "wav": ("audio", "wav", None, "pcm_s16le"),
    "amr": ("audio", "amr", None, "amr_nb"),
    "aac_adts": ("audio", "aac", None, "aac"),
}
BROKEN = ("zero_bytes", "random_mp4", "truncated_mp4")


def test_every_sample_kind_is_covered():
    assert set(EXPECTED) | set(BROKEN) == set(SAMPLE_KINDS)


def test_parse_mp4():
    info = parse_probe({"format": MP4_FORMAT, "streams": [H264_STREAM, AAC_STREAM]})
    assert (info.kind, info.container, info.video_codec, info.audio_codec) == ("video", "mp4", "h264", "aac")
    assert (info.width, info.height, info.pix_fmt) == (1920, 1080, "yuv420p")
    assert info.duration == 12.5 and info.bit_rate == 1_000_000
    assert info.frame_rate == pytest.approx(29.97, abs=0.01)
    assert info.creation_time == datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)
    assert info.rotation == 0


@pytest.mark.parametrize("brand, container", [("qt  ", "mov"), ("M4A ", "m4a"), ("mp42", "mp4"),
                                              ("3gp4", "3gp"), (None, "mov")])
def test_quicktime_family_is_told_apart_by_brand(brand, container):
    tags = {"major_brand": brand} if brand else {}
    info = parse_probe({"format": {**MP4_FORMAT, "tags": tags}, "streams": [H264_STREAM]})
    assert info.container == container


def test_audio_only_mp4_is_audio():
    info = parse_probe({"format": MP4_FORMAT, "streams": [AAC_STREAM]})
    assert (info.kind, info.video_codec, info.width, info.frame_rate) == ("audio", None, None, None)


def test_cover_art_does_not_make_audio_video():
    fmt = {**MP4_FORMAT, "tags": {"major_brand": "M4A "}}
    info = parse_probe({"format": fmt, "streams": [AAC_STREAM, COVER_ART]})
    assert (info.kind, info.container, info.video_codec) == ("audio", "m4a", None)


@pytest.mark.parametrize("format_name, codec, container", [("image2", "mjpeg", "jpeg"),
                                                            ("jpeg_pipe", "mjpeg", "jpeg"),
                                                            ("png_pipe", "png", "png")])
def test_single_frame_formats_are_images(format_name, codec, container):
    stream = {"codec_type": "video", "codec_name": codec, "width": 640, "height": 480,
              "avg_frame_rate": "25/1", "duration": "0.040000"}
    info = parse_probe({"format": {"format_name": format_name, "duration": "0.040000"}, "streams": [stream]})
    assert (info.kind, info.container, info.duration, info.frame_rate) == ("image", container, None, None)
    assert (info.width, info.height) == (640, 480)


@pytest.mark.parametrize("stream_extra, rotation", [
    ({"side_data_list": [{"side_data_type": "Display Matrix", "rotation": -90}]}, 90),
    ({"side_data_list": [{"side_data_type": "Display Matrix", "rotation": 90}]}, 270),
    ({"side_data_list": [{"side_data_type": "Display Matrix", "rotation": 180}]}, 180),
    ({"side_data_list": [{"side_data_type": "Display Matrix", "rotation": -180}]}, 180),
    ({"tags": {"rotate": "90"}}, 90),
    ({"tags": {"rotate": "-90"}}, 270),
    ({}, 0),
])
def test_rotation_is_clockwise_degrees(stream_extra, rotation):
    info = parse_probe({"format": MP4_FORMAT, "streams": [{**H264_STREAM, **stream_extra}]})
    assert info.rotation == rotation


@pytest.mark.parametrize("tags, expected", [
    ({"creation_time": "2026-11-20T09:00:00+01:00"}, datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)),
    ({"creation_time": "2026-11-20 08:00:00"}, datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)),
    ({"CREATION_TIME": "2026-11-20T08:00:00Z"}, datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)),
    ({"creation_time": "yesterday"}, None),
    ({}, None),
])
def test_creation_time_is_utc(tags, expected):
    info = parse_probe({"format": {**MP4_FORMAT, "tags": tags}, "streams": [H264_STREAM]})
    assert info.creation_time == expected


def test_creation_time_falls_back_to_stream_tags():
    stream = {**H264_STREAM, "tags": {"creation_time": "2026-11-20T08:00:00.000000Z"}}
    info = parse_probe({"format": {**MP4_FORMAT, "tags": {}}, "streams": [stream]})
    assert info.creation_time == datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)


def test_missing_values_become_none():
    stream = {"codec_type": "video", "codec_name": "h264", "avg_frame_rate": "0/0"}
    info = parse_probe({"format": {"format_name": "matroska,webm"}, "streams": [stream]})
    assert info.container == "matroska"
    assert (info.duration, info.frame_rate, info.width, info.bit_rate, info.creation_time) == (None,) * 5


@pytest.mark.parametrize("data", [{}, {"format": MP4_FORMAT, "streams": []},
                                  {"format": MP4_FORMAT, "streams": [{"codec_type": "data"}]}])
def test_no_usable_stream_fails(data):
    with pytest.raises(ProbeFailed) as failure:
        parse_probe(data)
    assert failure.value.reason


def test_as_dict_is_json():
    info = parse_probe({"format": MP4_FORMAT, "streams": [H264_STREAM, AAC_STREAM]})
    values = json.loads(json.dumps(info.as_dict()))
    assert values["creation_time"] == "2026-11-20T08:00:00+00:00"
    assert values["video_codec"] == "h264" and values["kind"] == "video"
    assert set(values) == {field for field in MediaInfo.__dataclass_fields__}


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    directory = tmp_path_factory.mktemp("samples")
    return {kind: make_sample(kind, directory, seconds=SECONDS) for kind in SAMPLE_KINDS}


@pytest.mark.parametrize("kind", EXPECTED)
def test_probe_sample(samples, kind):
    info = probe(samples[kind], timeout=30)
    assert (info.kind, info.container, info.video_codec, info.audio_codec) == EXPECTED[kind]
    if info.kind == "image":
        assert info.duration is None
    else:
        assert info.duration == pytest.approx(SECONDS, abs=0.2)
    if info.kind != "audio":
        assert (info.width, info.height) == (320, 240)
    if info.kind == "video":
        assert info.frame_rate == 25.0
    assert info.rotation == (90 if kind == "h264_rotated_mp4" else 0)
    assert info.creation_time == (CREATION_TIME if kind in DATED_KINDS else None)
    assert info.bit_rate and info.bit_rate > 0


@pytest.mark.parametrize("kind", BROKEN)
def test_probe_broken_file_fails_with_ffprobes_reason(samples, kind):
    with pytest.raises(ProbeFailed) as failure:
        probe(samples[kind], timeout=30)
    assert not isinstance(failure.value, ProbeTimeout)
    assert "Invalid data found when processing input" in failure.value.reason
    assert " @ 0x" not in failure.value.reason


def test_probe_truncated_mp4_names_the_missing_moov(samples):
    with pytest.raises(ProbeFailed, match="moov atom not found"):
        probe(samples["truncated_mp4"], timeout=30)


def test_probe_missing_file_fails(tmp_path):
    with pytest.raises(ProbeFailed, match="No such file"):
        probe(tmp_path / "gone.mp4", timeout=30)


def test_probe_timeout(samples):
    """A real ffprobe with a timeout far too short for it to even start stands in for a hung probe."""
    with pytest.raises(ProbeTimeout) as failure:
        probe(samples["h264_aac_mp4"], timeout=0.001)
    assert "0.001" in failure.value.reason and "did not finish" in failure.value.reason
    assert "ffprobe" not in child_commands()  # killed and reaped, not left running or a zombie


def child_commands() -> list[str]:
    commands = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # the process ended while we looked
        command, fields = text[text.index("(") + 1:text.rindex(")")], text[text.rindex(")") + 2:].split()
        if int(fields[1]) == os.getpid():
            commands.append(command)
    return commands
