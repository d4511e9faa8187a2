"""The probe result stored on a clip, back as the MediaInfo the media tools take."""
from __future__ import annotations

from dataclasses import fields
from datetime import datetime

from workers.media.probe import MediaInfo


def media_info(media: dict) -> MediaInfo:
    values = {field.name: media.get(field.name) for field in fields(MediaInfo)}
    if isinstance(values.get("creation_time"), str):
        values["creation_time"] = datetime.fromisoformat(values["creation_time"])
    values["rotation"] = values.get("rotation") or 0
    return MediaInfo(**values)
