"""Synthetic body-camera videos with known obstructions, to calibrate and test the obstruction map.

Every segment carries a recorder's burned-in timestamp (a row of small white blocks at the
top left), and the videos are encoded like a recorder's: H.264 with a fixed keyframe
interval (no extra keyframes at scene changes), so obstruction edges fall between keyframes.
"""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

WIDTH, HEIGHT, FPS = 640, 360, 25
SIZE = f"{WIDTH}x{HEIGHT}"
SCENE = f"testsrc2=s={SIZE}:r={FPS}:d={{seconds}}"
# Scales luma and chroma toward black: the scene at a share of its brightness.
DIM = "lutyuv=y=16+(val-16)*{share}:u=128+(val-128)*{share}:v=128+(val-128)*{share}"
OSD = ",".join(f"drawbox=x={16 + 14 * i}:y=12:w=10:h=16:color=white:t=fill" for i in range(18))

# kind: (lavfi chain given {seconds} and the segment's number {n}, the reason to expect)
KINDS = {
    "scene": (SCENE + ",noise=alls=8:allf=t", None),
    # A grey, hazy scene: little contrast, but the detail is all there.
    "low_contrast": (SCENE + ",eq=contrast=0.18,noise=alls=4:allf=t", None),
    # A street at night: a dim scene, a lit shop front, three lamps.
    "night": (SCENE + "," + DIM.format(share=0.12) + "[dim{n}];"
              f"testsrc2=s=200x150:r={FPS}:d={{seconds}}," + DIM.format(share=0.45) + "[shop{n}];"
              "[dim{n}][shop{n}]overlay=x=380:y=180,"
              + ",".join(f"drawbox=x={x}:y={y}:w=18:h=18:color=0xfff2c8:t=fill"
                         for x, y in ((60, 70), (300, 50), (560, 80)))
              + ",noise=alls=5:allf=t", None),
    "black": (f"color=c=black:s={SIZE}:r={FPS}:d={{seconds}},noise=alls=3:allf=t", "dark"),
    "dark": (SCENE + "," + DIM.format(share=0.06) + ",noise=alls=4:allf=t", "dark"),
    # A palm over the lens: skin colour, light leaking in as a gentle gradient, sensor noise.
    "covered": (f"gradients=s={SIZE}:r={FPS}:c0=0xb07c64:c1=0xbc8870:x0=0:y0=0:x1={WIDTH}:y1={HEIGHT}"
                f":speed=0.0001,trim=duration={{seconds}},format=yuv420p,noise=alls=3:allf=t", "covered"),
    # A smeared lens.
    "blurred": (SCENE + ",gblur=sigma=14,noise=alls=3:allf=t", "blurred"),
}


@dataclass(frozen=True)
class Segment:
    kind: str
    seconds: float  # a whole number of frames


@dataclass(frozen=True)
class SampleVideo:
    path: Path
    segments: tuple[Segment, ...]
    gop: int

    @property
    def duration(self) -> float:
        return round(sum(segment.seconds for segment in self.segments), 3)

    def truth(self) -> list[tuple[float, float, str]]:
        """The obstructed intervals (start, end, reason), adjacent ones of one reason merged."""
        found: list[list] = []
        start = 0.0
        for segment in self.segments:
            end = round(start + segment.seconds, 3)
            reason = KINDS[segment.kind][1]
            if reason and found and found[-1][2] == reason and found[-1][1] == start:
                found[-1][1] = end
            elif reason:
                found.append([start, end, reason])
            start = end
        return [tuple(interval) for interval in found]


MIXED = (Segment("scene", 2.2), Segment("black", 2.2), Segment("scene", 1.8), Segment("dark", 2.2),
         Segment("scene", 1.8), Segment("covered", 2.4), Segment("scene", 1.6), Segment("blurred", 2.2),
         Segment("scene", 1.6))
FINE = (Segment("scene", 2.0), Segment("low_contrast", 3.0), Segment("night", 3.0), Segment("scene", 2.0))
# Obstructions shorter than the default min_interval_seconds (1.0); each holds a keyframe
# (one a second), so the keyframe pass sees them.
BLIPS = (Segment("scene", 3.0), Segment("black", 0.6), Segment("scene", 2.4), Segment("covered", 0.6),
         Segment("scene", 2.4))


def make_video(path: Path, segments: tuple[Segment, ...], *, gop: int = FPS) -> SampleVideo:
    """Encode the segments one after another to an H.264 MP4 with a keyframe every `gop` frames."""
    chains, labels = [], []
    for number, segment in enumerate(segments):
        source = KINDS[segment.kind][0].format(seconds=segment.seconds, n=number)
        chains.append(f"{source},{OSD},format=yuv420p,setsar=1[s{number}]")
        labels.append(f"[s{number}]")
    graph = ";".join(chains) + f";{''.join(labels)}concat=n={len(segments)}:v=1:a=0[out]"
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
                    "-filter_complex", graph, "-map", "[out]", "-c:v", "libx264", "-preset", "veryfast",
                    "-crf", "23", "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
                    "-pix_fmt", "yuv420p", str(path)], check=True, timeout=120)
    return SampleVideo(Path(path), tuple(segments), gop)


def calibrate(directory: Path) -> None:
    """Print each kind's measures, to set the thresholds in config.yaml with a margin.
    Run: python -m tests.obstruction_samples"""
    import numpy as np

    from server.settings import load_settings
    from workers.media.obstruction import decode_argv, frame_size, measure
    settings = load_settings().processing.obstruction
    size = frame_size(WIDTH, HEIGHT, settings.analysis_width)
    for kind, (_, reason) in KINDS.items():
        video = make_video(directory / f"{kind}.mp4", (Segment(kind, 2.0),))
        argv = decode_argv(video.path, size, 5, keyframes_only=False)
        raw = subprocess.run(argv, capture_output=True, check=True).stdout
        frames = np.frombuffer(raw, np.uint8).reshape(-1, size[1], size[0])
        measures = [measure(frame) for frame in frames]
        ranges = ", ".join(f"{key} {min(m[key] for m in measures):g}..{max(m[key] for m in measures):g}"
                           for key in measures[0])
        print(f"{kind:13} expect {reason or 'usable':8} {ranges}")


if __name__ == "__main__":
    import tempfile
    with tempfile.TemporaryDirectory() as scratch:
        calibrate(Path(scratch))
