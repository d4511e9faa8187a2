"""The ffmpeg command builders are pure: MediaInfo and settings in, argv out. No ffmpeg needed."""
import dataclasses

import pytest

from server.settings import RECORDER_INPUT_FORMATS, ReviewProfile, ThumbnailSettings
from workers.media.argv import (contact_sheet_argv, poster_argv, review_argv, review_output_suffix,
                                review_plan)
from workers.media.probe import MediaInfo

H264_MP4 = MediaInfo(kind="video", container="mp4", format_name="mov,mp4,m4a,3gp,3g2,mj2", duration=30.0,
                     video_codec="h264", audio_codec="aac", pix_fmt="yuv420p", width=1920, height=1080,
                     frame_rate=30.0, rotation=0, creation_time=None, bit_rate=8_000_000)
AAC_M4A = dataclasses.replace(H264_MP4, kind="audio", container="m4a", video_codec=None, pix_fmt=None,
                              width=None, height=None, frame_rate=None)
JPEG = dataclasses.replace(H264_MP4, kind="image", container="jpeg", format_name="image2", duration=None,
                           video_codec="mjpeg", audio_codec=None, pix_fmt="yuvj420p", frame_rate=None)
PROFILE = ReviewProfile()
THUMBS = ThumbnailSettings()


def video(**changes) -> MediaInfo:
    return dataclasses.replace(H264_MP4, **changes)


def audio(**changes) -> MediaInfo:
    return dataclasses.replace(AAC_M4A, **changes)


def value_after(argv: list[str], option: str) -> str:
    return argv[argv.index(option) + 1]


@pytest.mark.parametrize("info, plan", [
    (H264_MP4, "remux"),
    (video(container="mov"), "remux"),
    (video(audio_codec=None), "remux"),
    (video(pix_fmt="yuvj420p"), "remux"),
    (video(video_codec="hevc"), "transcode"),
    (video(container="avi", video_codec="mjpeg", pix_fmt="yuvj420p", audio_codec="pcm_s16le"), "transcode"),
    (video(container="mpegts", format_name="mpegts"), "transcode"),
    (video(pix_fmt="yuv420p10le"), "transcode"),
    (video(audio_codec="pcm_s16le"), "transcode"),
    (AAC_M4A, "remux"),
    (audio(container="mp4"), "remux"),
    (audio(container="aac"), "transcode"),
    (audio(container="wav", audio_codec="pcm_s16le"), "transcode"),
    (audio(container="amr", audio_codec="amr_nb"), "transcode"),
    (JPEG, None),
], ids=lambda value: value if isinstance(value, str) or value is None else None)
def test_review_plan(info, plan):
    assert review_plan(info, PROFILE) == plan


def test_review_plan_follows_the_profile():
    profile = ReviewProfile(remux_containers=["mp4", "mov", "mpegts"], remux_video_codecs=["h264", "hevc"])
    assert review_plan(video(container="mpegts", video_codec="hevc"), profile) == "remux"
    assert review_plan(video(container="mpegts", video_codec="hevc"), PROFILE) == "transcode"


def test_output_suffix():
    assert review_output_suffix(H264_MP4) == ".mp4"
    assert review_output_suffix(AAC_M4A) == ".m4a"
    with pytest.raises(ValueError):
        review_output_suffix(JPEG)


def test_remux_copies_the_first_streams_with_faststart():
    argv = review_argv("in.mp4", "out.mp4", H264_MP4, PROFILE)
    assert argv[0] == "ffmpeg" and argv[-1] == "out.mp4"
    assert argv[argv.index("-i") + 1] == "in.mp4"
    assert value_after(argv, "-c") == "copy"
    assert value_after(argv, "-movflags") == "+faststart"
    assert value_after(argv, "-map_metadata") == "0"
    assert value_after(argv, "-progress") == "pipe:1"
    assert [argv[i + 1] for i, arg in enumerate(argv) if arg == "-map"] == ["0:v:0?", "0:a:0?"]
    assert "-nostdin" in argv and "libx264" not in argv and "-vf" not in argv


def test_transcode_encodes_h264_aac_without_upscaling():
    argv = review_argv("in.avi", "out.mp4", video(container="avi", video_codec="mjpeg"), PROFILE,
                       ffmpeg="/usr/bin/ffmpeg", threads=2)
    assert argv[0] == "/usr/bin/ffmpeg"
    assert value_after(argv, "-c:v") == "libx264"
    assert value_after(argv, "-preset") == "veryfast"
    assert value_after(argv, "-crf") == "23"
    assert value_after(argv, "-pix_fmt") == "yuv420p"
    assert value_after(argv, "-c:a") == "aac" and value_after(argv, "-b:a") == "128k"
    assert value_after(argv, "-vf") == "scale=-2:'trunc(min(720,ih)/2)*2'"
    assert value_after(argv, "-movflags") == "+faststart"
    assert value_after(argv, "-threads") == "2"
    assert value_after(argv, "-f") == "mp4"
    assert "copy" not in argv and argv[-1] == "out.mp4"


def test_transcode_takes_its_numbers_from_the_profile():
    profile = ReviewProfile(max_height=480, crf=28, preset="faster", audio_bitrate="96k")
    argv = review_argv("in.ts", "out.mp4", video(container="mpegts"), profile)
    assert "min(480,ih)" in value_after(argv, "-vf")
    assert (value_after(argv, "-crf"), value_after(argv, "-preset"), value_after(argv, "-b:a")) == \
        ("28", "faster", "96k")
    assert "-threads" not in argv


def test_audio_only_goes_to_m4a_without_video():
    argv = review_argv("in.wav", "out.m4a", audio(container="wav", audio_codec="pcm_s16le"), PROFILE)
    assert "-vn" in argv and "-vf" not in argv and "-c:v" not in argv
    assert value_after(argv, "-c:a") == "aac"
    assert value_after(argv, "-map") == "0:a:0"
    assert value_after(argv, "-f") == "ipod"  # ffmpeg's muxer for .m4a
    remux = review_argv("in.m4a", "out.m4a", AAC_M4A, PROFILE)
    assert value_after(remux, "-c") == "copy" and value_after(remux, "-map") == "0:a:0"


def test_review_argv_is_reproducible():
    assert review_argv("a", "b", H264_MP4, PROFILE) == review_argv("a", "b", H264_MP4, PROFILE)
    assert all(isinstance(arg, str) for arg in review_argv("a", "b", video(container="avi"), PROFILE))


def test_no_review_copy_of_an_image():
    with pytest.raises(ValueError):
        review_argv("in.jpg", "out.mp4", JPEG, PROFILE)


def test_poster_seeks_into_the_clip_before_opening_it():
    argv = poster_argv("in.mp4", "poster.jpg", video(duration=30.0), THUMBS)
    assert value_after(argv, "-ss") == "3.000"  # 0.1 of 30 s
    assert argv.index("-ss") < argv.index("-i")
    assert value_after(argv, "-vf") == "scale=640:-2"
    assert value_after(argv, "-frames:v") == "1"
    assert argv[-1] == "poster.jpg"


def test_poster_position_follows_settings_and_stays_inside_the_clip():
    settings = ThumbnailSettings(poster_at=0.5, poster_width=320)
    assert value_after(poster_argv("a", "b", video(duration=10.0), settings), "-ss") == "5.000"
    assert value_after(poster_argv("a", "b", video(duration=10.0), settings), "-vf") == "scale=320:-2"
    end = ThumbnailSettings(poster_at=1.0)
    assert value_after(poster_argv("a", "b", video(duration=10.0), end), "-ss") == "9.000"
    assert value_after(poster_argv("a", "b", video(duration=0.4), end), "-ss") == "0.000"


def test_poster_of_an_image_only_scales():
    argv = poster_argv("in.jpg", "poster.jpg", JPEG, THUMBS)
    assert "-ss" not in argv
    assert value_after(argv, "-vf") == "scale=640:-2"


def test_no_poster_of_audio():
    with pytest.raises(ValueError):
        poster_argv("in.m4a", "poster.jpg", AAC_M4A, THUMBS)


def test_contact_sheet_spreads_tiles_over_the_duration():
    argv = contact_sheet_argv("in.mp4", "sheet.jpg", video(duration=64.0), THUMBS)
    assert value_after(argv, "-vf") == "fps=16/64.000,scale=320:-2,tile=4x4"
    assert value_after(argv, "-frames:v") == "1"
    settings = ThumbnailSettings(sheet_columns=3, sheet_rows=2, sheet_tile_width=160)
    argv = contact_sheet_argv("in.mp4", "sheet.jpg", video(duration=12.5), settings)
    assert value_after(argv, "-vf") == "fps=6/12.500,scale=160:-2,tile=3x2"


@pytest.mark.parametrize("info", [AAC_M4A, JPEG, video(duration=None)])
def test_contact_sheet_needs_a_video_with_a_duration(info):
    with pytest.raises(ValueError):
        contact_sheet_argv("in", "sheet.jpg", info, THUMBS)


BUILDERS = {
    "remux": lambda src, **kw: review_argv(src, "out.mp4", H264_MP4, PROFILE, **kw),
    "transcode": lambda src, **kw: review_argv(src, "out.mp4", video(video_codec="hevc"), PROFILE, **kw),
    "audio": lambda src, **kw: review_argv(src, "out.m4a", audio(container="wav", audio_codec="pcm_s16le"),
                                           PROFILE, **kw),
    "poster": lambda src, **kw: poster_argv(src, "poster.jpg", H264_MP4, THUMBS, **kw),
    "poster_decoding": lambda src, **kw: poster_argv(src, "poster.jpg", H264_MP4, THUMBS, decode_to_position=True,
                                                     **kw),
    "still": lambda src, **kw: poster_argv(src, "poster.jpg", JPEG, THUMBS, **kw),
    "contact_sheet": lambda src, **kw: contact_sheet_argv(src, "sheet.jpg", H264_MP4, THUMBS, **kw),
}


@pytest.mark.parametrize("build", BUILDERS.values(), ids=BUILDERS.keys())
def test_every_input_is_read_from_the_file_only_by_a_recorder_demuxer(build):
    """No original can make ffmpeg open a URL, or another file through a concat list or a playlist."""
    argv = build("in.mp4")
    at = argv.index("-i")
    assert argv.count("-i") == 1 and argv[at + 1] == "in.mp4"
    assert value_after(argv, "-protocol_whitelist") == "file"
    assert value_after(argv, "-format_whitelist") == ",".join(RECORDER_INPUT_FORMATS)
    assert argv.index("-protocol_whitelist") < at and argv.index("-format_whitelist") < at, "input options"
    assert "concat" not in value_after(argv, "-format_whitelist").split(",")


@pytest.mark.parametrize("build", BUILDERS.values(), ids=BUILDERS.keys())
def test_the_allowed_demuxers_are_the_configured_ones(build):
    assert value_after(build("in.mp4", input_formats=["mov", "avi"]), "-format_whitelist") == "mov,avi"


@pytest.mark.parametrize("build", BUILDERS.values(), ids=BUILDERS.keys())
def test_an_input_name_with_a_sequence_pattern_is_refused(build):
    with pytest.raises(ValueError, match="'%'"):
        build("frame%03d.jpg")
