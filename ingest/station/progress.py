"""Progress bars of `fullrecord station run`: one bar per file being hashed or sent (tqdm, on
stderr, only on a terminal), and log lines written above the bars."""
from __future__ import annotations

import threading

from tqdm import tqdm


class NoProgress:
    def start(self, path: str, total: int, phase: str, done: int = 0) -> None:
        pass

    def advance(self, path: str, count: int) -> None:
        pass

    def set(self, path: str, done: int) -> None:
        pass

    def finish(self, path: str) -> None:
        pass

    def close(self) -> None:
        pass


class Bars(NoProgress):
    def __init__(self, slots: int):
        self._bars: dict[str, tqdm] = {}
        self._positions: dict[str, int] = {}
        self._free = list(range(slots, 0, -1))
        self._lock = threading.Lock()

    def start(self, path: str, total: int, phase: str, done: int = 0) -> None:
        with self._lock:
            old = self._bars.pop(path, None)
            if old is not None:
                old.close()
            elif path not in self._positions:
                self._positions[path] = self._free.pop() if self._free else 0
            position = self._positions[path]
            name = path if len(path) <= 40 else "…" + path[-39:]
            self._bars[path] = tqdm(total=total, initial=done, desc=f"{phase} {name}", unit="B", unit_scale=True,
                                    unit_divisor=1024, position=position, leave=False, dynamic_ncols=True,
                                    disable=None)

    def advance(self, path: str, count: int) -> None:
        bar = self._bars.get(path)
        if bar is not None:
            bar.update(count)

    def set(self, path: str, done: int) -> None:
        bar = self._bars.get(path)
        if bar is not None:
            bar.update(done - bar.n)

    def finish(self, path: str) -> None:
        with self._lock:
            bar = self._bars.pop(path, None)
            if bar is not None:
                bar.close()
            position = self._positions.pop(path, None)
            if position:
                self._free.append(position)

    def close(self) -> None:
        with self._lock:
            for bar in self._bars.values():
                bar.close()
            self._bars.clear()
