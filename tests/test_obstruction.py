"""Obstruction map: judging single pictures, merging samples into intervals, and whole videos
made by tests/obstruction_samples.py with known dark, covered and blurred stretches."""
import json
import os
import sys
import textwrap

import cv2
import numpy as np
import pytest

from server.settings import ObstructionSettings
from tests.obstruction_samples import BLIPS, FINE, MIXED, make_video
from workers.media.obstruction import ObstructionError, ObstructionTimeout, analyze, classify_sample, merge_samples
from workers.media.sampling import decode_argv, keyframes_dense, parse_probe, refine_spans

SETTINGS = ObstructionSettings()
STEP = 1 / SETTINGS.sample_fps
rng = np.random.default_rng(7)


# --- single pictures (160x90, as analysed) ---------------------------------------------------

def scene() -> np.ndarray:
    """Hard-edged patches of many brightnesses with a little sensor noise."""
    patches = cv2.resize(rng.integers(30, 226, (9, 16)).astype(np.float32), (160, 90),
                         interpolation=cv2.INTER_NEAREST)
    return patches + rng.normal(0, 2, patches.shape)


def flat_skin() -> np.ndarray:
    return 140 + np.linspace(0, 8, 160)[None, :] + rng.normal(0, 1, (90, 160))


def with_timestamp(picture: np.ndarray) -> np.ndarray:
    """A recorder's burned-in timestamp: a row of white blocks at the top left."""
    picture = picture.copy()
    for n in range(10):
        picture[3:7, 4 + 5 * n:7 + 5 * n] = 235
    return picture


def night_street() -> np.ndarray:
    """Mostly near black (mean luma ~20), but a lit shop front and three lamps."""
    picture = scene() * 0.1
    picture[50:85, 100:150] = scene()[50:85, 100:150] * 0.6
    for x in (20, 70, 140):
        picture[10:14, x:x + 4] = 250
    return picture


def gray(picture: np.ndarray) -> np.ndarray:
    return np.clip(picture, 0, 255).astype(np.uint8)


PICTURES = {
    "scene": (scene, None),
    "low contrast scene": (lambda: 128 + (scene() - 128) * 0.2, None),
    "night street": (night_street, None),
    "black": (lambda: rng.normal(2, 1, (90, 160)), "dark"),
    "scene at 6 % brightness": (lambda: scene() * 0.06, "dark"),
    "palm over the lens": (flat_skin, "covered"),
    "smeared lens": (lambda: cv2.GaussianBlur(scene(), (0, 0), 4), "blurred"),
}


@pytest.mark.parametrize("timestamp", [False, True], ids=["plain", "timestamp"])
@pytest.mark.parametrize("name", PICTURES)
def test_classify_sample(name, timestamp):
    make, expected = PICTURES[name]
    picture = make()
    reason, measures = classify_sample(gray(with_timestamp(picture) if timestamp else picture), SETTINGS)
    assert reason == expected, measures
    assert set(measures) == {"mean_luma", "luma_p95", "contrast", "sharpness"}


def test_precedence_dark_then_covered_then_blurred():
    black = np.full((90, 160), 2, np.uint8)  # dark, flat and without detail all at once
    assert classify_sample(black, SETTINGS)[0] == "dark"
    assert classify_sample(gray(flat_skin()), SETTINGS)[0] == "covered"  # flat and without detail
    lenient = SETTINGS.model_copy(update={"dark_luma": 0, "covered_contrast": 0})
    assert classify_sample(black, lenient)[0] == "blurred"


def test_thresholds_are_settings():
    blurred = gray(cv2.GaussianBlur(scene(), (0, 0), 4))
    assert classify_sample(blurred, SETTINGS.model_copy(update={"blurred_sharpness": 0.01}))[0] is None
    dim = gray(scene() * 0.3)
    assert classify_sample(dim, SETTINGS)[0] is None
    assert classify_sample(dim, SETTINGS.model_copy(update={"dark_luma": 100}))[0] == "dark"


# --- merging samples (pure) ------------------------------------------------------------------

def samples(*reasons, step=STEP):
    return [(n * step, reason, {"mean_luma": float(n)}) for n, reason in enumerate(reasons)]


def spans(intervals):
    return [(i.start, i.end, i.reason) for i in intervals]


def test_merge_runs_of_one_reason_and_average_their_measures():
    found = merge_samples(samples(None, "dark", "dark", "dark", "covered", "covered", None),
                          sample_interval=STEP, min_interval=1.0, end=3.5)
    assert spans(found) == [(0.5, 2.0, "dark"), (2.0, 3.0, "covered")]
    assert found[0].detail == {"mean_luma": 2.0}
    assert found[0].as_dict() == {"start": 0.5, "end": 2.0, "reason": "dark", "detail": {"mean_luma": 2.0}}


def test_merge_drops_runs_shorter_than_min_interval():
    reasons = [None, "dark", None, "blurred", "blurred", None, "covered", "covered", "covered"]
    assert spans(merge_samples(samples(*reasons), sample_interval=STEP, min_interval=1.0, end=4.5)) == [
        (1.5, 2.5, "blurred"), (3.0, 4.5, "covered")]
    assert spans(merge_samples(samples(*reasons), sample_interval=STEP, min_interval=0, end=4.5))[0] == (
        0.5, 1.0, "dark")


def test_merge_all_fine_gives_nothing():
    assert merge_samples(samples(*[None] * 20), sample_interval=STEP, min_interval=1.0, end=10.0) == []


def test_merge_cuts_the_last_sample_at_the_end():
    found = merge_samples(samples(None, "dark", "dark", "dark"), sample_interval=STEP, min_interval=1.0, end=1.8)
    assert spans(found) == [(0.5, 1.8, "dark")]


def test_merge_reports_time_without_samples_as_unreadable():
    found = merge_samples(samples(*[None] * 6), sample_interval=STEP, min_interval=1.0, end=10.0)
    assert spans(found) == [(3.0, 10.0, "unreadable")]
    assert found[0].detail == {"decoded_until": 3.0}
    holed = [sample for sample in samples(*[None] * 12) if not 2.0 <= sample[0] < 4.0]
    assert spans(merge_samples(holed, sample_interval=STEP, min_interval=1.0, end=6.0)) == [(2.0, 4.0, "unreadable")]
    # A tail shorter than min_interval is the last sample's rounding, not a finding.
    assert merge_samples(samples(*[None] * 6), sample_interval=STEP, min_interval=1.0, end=3.4) == []


# --- reading plan (pure) ---------------------------------------------------------------------

def test_refine_spans_cover_each_change_between_keyframes_and_the_tail():
    keyframes = [float(second) for second in range(10)]  # shown from samples 0, 2, 4, ...
    reasons = [None] * 8 + ["dark"] * 6 + [None] * 6  # keyframes 4.0 and 7.0 differ from the ones before
    assert refine_spans(reasons, keyframes, 0.5, 20) == [(7, 8), (13, 14)]
    assert refine_spans(reasons[:18], keyframes, 0.5, 20) == [(7, 8), (13, 14), (18, 20)]  # samples missing
    # After the last keyframe: refined when it shows an obstruction, to find where that ends.
    longer = [float(second) for second in range(12)]
    assert refine_spans(reasons + ["blurred"] * 4, longer, 0.5, 24) == [(7, 8), (13, 14), (19, 20), (23, 24)]
    assert refine_spans([None] * 20, [0.0, 2.0, 4.0, 6.0, 8.0], 0.5, 20) == []
    assert refine_spans(["dark"] * 20, [0.0, 2.0, 4.0, 6.0, 8.0], 0.5, 20) == [(17, 20)]


def test_keyframes_dense():
    assert keyframes_dense([0.0, 1.0, 2.0, 3.0], 4.0, 2.0)
    assert not keyframes_dense([0.0, 1.0, 2.0, 3.0], 6.0, 2.0)  # 3 s without one at the end
    assert not keyframes_dense([0.0, 8.3], 10.0, 2.0)
    assert not keyframes_dense([0.0, 1.0], 2.0, 0)  # 0: always every frame


def test_decode_argv():
    argv = decode_argv("/v/clip.mp4", (160, 90), 2, keyframes_only=True, seek=30.000001, accurate=False,
                       length=29.5, ffmpeg="/opt/ffmpeg")
    assert argv[0] == "/opt/ffmpeg"
    before_input = argv[:argv.index("-i")]
    assert "-skip_frame" in before_input and "nokey" in before_input and "-noaccurate_seek" in before_input
    assert before_input[before_input.index("-ss") + 1] == "30.000001" and "29.500000" in before_input
    assert argv[argv.index("-i") + 1] == "/v/clip.mp4"
    assert "fps=2:eof_action=pass,scale=160:90:flags=area,format=gray" in argv
    assert argv[-3:] == ["-f", "rawvideo", "pipe:1"]
    full = decode_argv("/v/clip.mp4", (160, 90), 2, keyframes_only=False)
    assert "-skip_frame" not in full and "-ss" not in full and "-t" not in full


def test_parse_probe():
    facts = parse_probe({"streams": [{"width": 1920, "height": 1080, "duration": "60.000000"}],
                         "format": {"start_time": "1.400000", "duration": "60.1"},
                         "packets": [{"pts_time": "2.400000", "flags": "K__"}, {"pts_time": "2.433", "flags": "___"},
                                     {"pts_time": "1.400000", "flags": "K__"}, {"pts_time": "N/A", "flags": "K__"}]})
    assert (facts.width, facts.height, facts.duration) == (1920, 1080, 60.0)
    assert facts.keyframes == pytest.approx([0.0, 1.0])
    with pytest.raises(ObstructionError, match="no video stream"):
        parse_probe({"streams": [], "format": {}})


# --- whole videos ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    directory = tmp_path_factory.mktemp("obstruction")
    return {
        "mixed": make_video(directory / "mixed.mp4", MIXED),  # a keyframe a second, like recorders
        "mixed_long_gop": make_video(directory / "mixed_long_gop.mp4", MIXED, gop=250),
        "fine": make_video(directory / "fine.mp4", FINE),
        "blips": make_video(directory / "blips.mp4", BLIPS),
    }


def assert_matches_truth(found, video):
    truth = video.truth()
    assert [i.reason for i in found.intervals] == [reason for _, _, reason in truth], spans(found.intervals)
    for interval, (start, end, _) in zip(found.intervals, truth):
        assert abs(interval.start - start) <= STEP and abs(interval.end - end) <= STEP, (
            spans(found.intervals), truth)


@pytest.mark.parametrize("name, processes, decoding", [
    ("mixed", 2, "keyframes"), ("mixed", 1, "keyframes"), ("mixed_long_gop", 2, "all_frames")])
def test_analyze_finds_each_obstruction(videos, name, processes, decoding):
    video = videos[name]
    found = analyze(video.path, SETTINGS.model_copy(update={"decode_processes": processes}), duration=video.duration)
    assert found.decoding == decoding
    assert_matches_truth(found, video)
    assert found.samples == round(video.duration * SETTINGS.sample_fps)
    assert found.analysed_seconds == video.duration
    assert found.obstructed_seconds == pytest.approx(sum(i.end - i.start for i in found.intervals))


def test_fine_video_including_low_contrast_and_night_has_no_intervals(videos):
    found = analyze(videos["fine"].path, SETTINGS, duration=None)
    assert found.intervals == [] and found.obstructed_seconds == 0
    assert found.analysed_seconds == videos["fine"].duration


def test_obstructions_shorter_than_min_interval_are_not_reported(videos):
    video = videos["blips"]
    assert analyze(video.path, SETTINGS, duration=video.duration).intervals == []
    found = analyze(video.path, SETTINGS.model_copy(update={"min_interval_seconds": 0.25}), duration=video.duration)
    assert [i.reason for i in found.intervals] == ["dark", "covered"]


def test_video_shorter_than_its_stated_duration_ends_unreadable(videos):
    video = videos["fine"]
    found = analyze(video.path, SETTINGS, duration=video.duration + 3)
    assert spans(found.intervals) == [(video.duration, video.duration + 3, "unreadable")]


def test_map_explains_itself_as_json(videos):
    progress = []
    found = analyze(videos["mixed"].path, SETTINGS, duration=None, on_progress=progress.append)
    document = json.loads(json.dumps(found.as_dict()))
    assert document["thresholds"] == SETTINGS.model_dump()
    assert document["sample_fps"] == SETTINGS.sample_fps and document["samples"] == found.samples
    assert [i["reason"] for i in document["intervals"]] == ["dark", "dark", "covered", "blurred"]
    assert set(document["intervals"][2]["detail"]) == {"mean_luma", "luma_p95", "contrast", "sharpness"}
    assert document["obstructed_seconds"] == found.obstructed_seconds
    assert progress and progress[-1] == 1.0 and progress == sorted(progress) and 0 < progress[0]
    assert found.argv[0] == "ffmpeg" and str(videos["mixed"].path) in found.argv


def test_not_a_video(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n")
    with pytest.raises(ObstructionError, match="ffprobe exited"):
        analyze(text, SETTINGS, duration=None)


def test_ffmpeg_failing_is_an_error_with_its_reason(videos, tmp_path):
    broken = tmp_path / "broken-ffmpeg"
    broken.write_text("#!/bin/sh\necho 'Invalid data found when processing input' >&2\nexit 3\n")
    broken.chmod(0o755)
    with pytest.raises(ObstructionError, match="exit code 3.*Invalid data found") as raised:
        analyze(videos["mixed"].path, SETTINGS, duration=None, ffmpeg=str(broken))  # two chunks, both fail
    assert not isinstance(raised.value, ObstructionTimeout)


# --- no process left behind ------------------------------------------------------------------

def running_with(marker: str) -> list[int]:
    """Ids of live (not zombie) processes whose command line mentions marker."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                cmdline = handle.read().decode("utf-8", "replace")
            with open(f"/proc/{pid}/stat") as handle:
                state = handle.read().rpartition(")")[2].split()[0]
        except OSError:
            continue  # exited while we looked
        if marker in cmdline and state != "Z":
            found.append(int(pid))
    return found


@pytest.fixture
def slow_ffmpeg(tmp_path):
    """Stands in for ffmpeg: writes a grey 160x90 frame every 0.05 s for 30 s, keeping a child
    of its own in its process group as a wrapper script might, then leaves a mark."""
    script = tmp_path / "slow-ffmpeg"
    script.write_text(textwrap.dedent(f"""\
        #!{sys.executable}
        import pathlib, subprocess, sys, time
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "{tmp_path}/child"])
        for _ in range(600):
            sys.stdout.buffer.write(bytes([128]) * 160 * 90)
            sys.stdout.flush()
            time.sleep(0.05)
        pathlib.Path("{tmp_path}/ran-to-the-end").touch()
        """))
    script.chmod(0o755)
    return script


def test_timeout_raises_and_kills_the_process_group(videos, slow_ffmpeg, tmp_path):
    with pytest.raises(ObstructionTimeout, match="timeout"):
        analyze(videos["fine"].path, SETTINGS, duration=None, ffmpeg=str(slow_ffmpeg), timeout=2)
    assert running_with(str(tmp_path)) == [] and not (tmp_path / "ran-to-the-end").exists()


def test_failure_during_analysis_kills_the_process_group(videos, slow_ffmpeg, tmp_path):
    def fail(fraction):
        raise RuntimeError("progress store gone")

    with pytest.raises(RuntimeError, match="progress store gone"):
        analyze(videos["fine"].path, SETTINGS, duration=None, ffmpeg=str(slow_ffmpeg), on_progress=fail)
    assert running_with(str(tmp_path)) == [] and not (tmp_path / "ran-to-the-end").exists()


def test_timeout_with_real_ffmpeg_leaves_nothing(videos):
    with pytest.raises(ObstructionTimeout):
        analyze(videos["mixed_long_gop"].path, SETTINGS, duration=None, timeout=0.05)
    assert running_with(str(videos["mixed_long_gop"].path)) == []
