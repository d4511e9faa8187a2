"""The campaign's recordings: short real videos made with ffmpeg, named as body-worn recorders
name them, and a feeder that docks them into the station's watch folder over time."""
from __future__ import annotations

import hashlib
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from tests.media_samples import AAC, H264, ffmpeg

RECORDERS = (("DSJ-FA01", "FA001"), ("DSJ-FA02", "FA002"), ("DSJ-FA03", "FA003"), ("DSJ-FA04", "FA004"))
"""(recorder serial, officer badge): recording i was made by recorder i % 4."""
CLIP_SECONDS = 4
"""Each recording's length; a recorder's recordings follow each other without a gap."""
SIZE = "640x360"
"""About 0.9 MB a recording: several tus chunks each, so faults land mid-upload."""


@dataclass(frozen=True)
class Recording:
    index: int
    serial: str
    officer: str
    start: datetime
    """When the recorder started it (aware, the configured time zone)."""
    relative: str
    """Where the docking software puts it, under the watch folder."""
    source: Path
    sha256: str
    size: int


def make_recordings(directory: Path, count: int, base: datetime) -> list[Recording]:
    """`count` distinct recordings (each its own tone and tag, so its own SHA-256), recorder by
    recorder back to back from `base` (aware, local time of the recorders)."""
    directory.mkdir(parents=True, exist_ok=True)

    def make(index: int) -> Recording:
        serial, officer = RECORDERS[index % len(RECORDERS)]
        seq = index // len(RECORDERS)
        start = base + timedelta(seconds=seq * CLIP_SECONDS)
        name = f"{serial}_{officer}_{start:%Y%m%d%H%M%S}_{seq + 1:04d}.MP4"
        path = directory / serial / name
        path.parent.mkdir(parents=True, exist_ok=True)
        ffmpeg("-f", "lavfi", "-i", f"testsrc2=size={SIZE}:rate=25:duration={CLIP_SECONDS}",
               "-f", "lavfi", "-i", f"sine=frequency={220 + 7 * index}:sample_rate=48000:duration={CLIP_SECONDS}",
               *H264, *AAC, "-metadata", f"comment=fault campaign recording {index}", "-f", "mp4", path)
        data = path.read_bytes()
        return Recording(index, serial, officer, start, f"{serial}/{name}", path, hashlib.sha256(data).hexdigest(),
                         len(data))

    with ThreadPoolExecutor(2) as pool:
        made = list(pool.map(make, range(count)))
    assert len({recording.sha256 for recording in made}) == count, "two recordings came out the same"
    return made


class Feeder(threading.Thread):
    """Docks the recordings into the watch folder, three ways: most in small random batches at
    random moments about `interval` apart per recording while the faults go on; `on_call` of them
    one at a time when dock_one() is called (the driver does, so that an upload is under way when
    it kills an ingest part, and while a part is down, so that work waits for it); the rest, with
    any left on call, once `release` is set, so that recordings still arrive after the last fault."""

    def __init__(self, recordings: list[Recording], watch: Path, rnd: random.Random, interval: float,
                 reserve: int, on_call: int, release: threading.Event, stop: threading.Event):
        super().__init__(name="fault-campaign-feeder", daemon=True)
        self.watch, self.rnd, self.interval = watch, rnd, interval
        self.total, self.release, self.stopping = len(recordings), release, stop
        held = min(len(recordings), reserve + on_call)
        self.paced = list(recordings[:len(recordings) - held])
        self.on_call = list(recordings[len(recordings) - held:len(recordings) - reserve])
        self.reserve = list(recordings[len(recordings) - reserve:])
        self.docked: dict[str, float] = {}
        """relative path -> when it was docked (epoch seconds)."""
        self.error: BaseException | None = None
        self._lock = threading.Lock()

    def run(self) -> None:
        try:
            while self.paced and not self.stopping.is_set():
                batch = self.rnd.randint(1, 3)
                with self._lock:
                    self._dock(self.paced[:batch])
                    self.paced = self.paced[batch:]
                self.stopping.wait(self.rnd.uniform(0.5, 1.5) * self.interval * batch)
            while not (self.release.is_set() or self.stopping.is_set()):
                self.release.wait(0.5)
            with self._lock:
                self._dock(self.on_call + self.reserve)
                self.on_call = []
        except BaseException as exc:  # reported by the campaign, which would otherwise wait in vain
            self.error = exc

    def dock_one(self) -> bool:
        """A recorder docks now; False when none is left on call."""
        with self._lock:
            if not self.on_call:
                return False
            self._dock(self.on_call[:1])
            self.on_call = self.on_call[1:]
            return True

    def _dock(self, batch: list[Recording]) -> None:
        for recording in batch:
            target = self.watch / recording.relative
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(recording.source, target)  # whole at once, as a finished copy appears
            self.docked[recording.relative] = time.time()

    @property
    def all_docked(self) -> bool:
        return len(self.docked) == self.total
