"""What a step body works with: the clip, a private workspace, progress reporting, the record
of commands it ran, and uploading derivatives so that a half-written one is never visible."""
from __future__ import annotations

import logging
from pathlib import Path

from storage.exceptions import StorageError
from workers.steps import NewDerivative
from workers.workspace import Workspace

log = logging.getLogger(__name__)


def derivative_prefix(clip_id: str, step: str, profile: str) -> str:
    return f"derivatives/{clip_id}/{step}{'.' + profile if profile else ''}/"


class StepContext:
    def __init__(self, rt, claimed, clip):
        self.rt, self.step, self.clip = rt, claimed, clip
        self.settings = rt.settings
        self.commands: list[list[str]] = []
        self.progress_value = 0.0
        self.lost = False
        self._workspace: Workspace | None = None
        self._original: Path | None = None
        self._uploaded: list[str] = []

    @property
    def workspace(self) -> Workspace:
        if self._workspace is None:
            label = f"{self.step.step}-{self.clip.id}-a{self.step.attempts}"
            self._workspace = Workspace(self.settings.work_dir, label)
        return self._workspace

    def original(self) -> Path:
        """The original, streamed from the store into the workspace and checked against its hash."""
        if self._original is None:
            self._original = self.workspace.fetch_original(self.rt.store, self.clip)
        return self._original

    def progress(self, fraction: float) -> None:
        self.progress_value = min(1.0, max(0.0, float(fraction)))

    def ran(self, argv: list[str]) -> None:
        self.commands.append(list(argv))

    def remove_orphans(self) -> int:
        """Delete objects an earlier, interrupted attempt of this step uploaded but never recorded."""
        from sqlalchemy import select

        from storage.models import Derivative
        prefix = derivative_prefix(self.clip.id, self.step.step, self.step.profile)
        with self.rt.session() as session:
            recorded = set(session.scalars(select(Derivative.object_key).where(Derivative.clip_id == self.clip.id)))
        removed = 0
        for info in list(self.rt.store.list(prefix)):
            if info.key not in recorded:
                self.rt.store.delete(info.key)
                removed += 1
        if removed:
            log.info("removed %d unrecorded objects left by an interrupted %s of clip %s",
                     removed, self.step.step, self.clip.id)
        return removed

    def put_derivative(self, kind: str, path: Path, *, content_type: str, argv: list, tool_version: str,
                       checks: dict | None = None) -> NewDerivative:
        key = (derivative_prefix(self.clip.id, self.step.step, self.step.profile)
               + f"a{self.step.attempts}-{kind}{path.suffix}")
        with open(path, "rb") as handle:
            stored = self.rt.store.put(key, handle)
        self._uploaded.append(key)
        return NewDerivative(kind=kind, profile=self.step.profile, object_key=key, sha256=stored.sha256,
                             sm3=stored.sm3, size=stored.size, content_type=content_type, argv=list(argv),
                             tool_version=tool_version, checks=checks or {})

    def discard_uploads(self) -> None:
        """Delete what this attempt uploaded: its outcome will not be recorded."""
        for key in self._uploaded:
            try:
                self.rt.store.delete(key)
            except StorageError as exc:
                log.error("could not delete unrecorded derivative %s (the next attempt will): %s", key, exc)
        self._uploaded.clear()

    def close(self) -> None:
        if self._workspace is not None:
            self._workspace.remove()
