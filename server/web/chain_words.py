"""What the chain pages build their views with: the reader's language and time zone fixed once
per page, and a light record type that templates read quickly.

A large case's page formats thousands of values; looking the language and zone up for each one
(request, session, settings) cost more than the formatting itself."""
from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from server.i18n import MESSAGES, t

LOCAL_FORMAT = "%Y-%m-%d %H:%M:%S"


class View:
    """Values a template reads as attributes (Jinja tries getattr before getitem, so a dict costs
    a failed lookup per read); view["key"] works too."""

    def __init__(self, values: dict):
        self.__dict__.update(values)

    def __getitem__(self, key: str):
        return self.__dict__[key]


class Words:
    """t() and local() for one reader; labels of codes (clip statuses, custody actions ...) are
    looked up once each. The templates get these as `t` and `local`."""

    def __init__(self, language: str, zone: ZoneInfo):
        self.language, self.zone = language, zone
        self._labels: dict[tuple[str, str | None], str] = {}

    def __call__(self, key: str, language: str | None = None, **values) -> str:
        return t(key, language or self.language, **values)

    def local(self, moment: datetime | None, fmt: str = LOCAL_FORMAT) -> str:
        """As server.web.pages.local."""
        if moment is None:
            return "—"
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        if fmt == LOCAL_FORMAT:  # the same text, faster than strftime
            return moment.astimezone(self.zone).isoformat(" ", "seconds")[:19]
        return moment.astimezone(self.zone).strftime(fmt)

    def label(self, group: str, value: str | None) -> str:
        """The label of a code in a group of web.chain.* messages (the code itself if unlisted)."""
        found = self._labels.get((group, value))
        if found is None:
            entry = MESSAGES.get(f"web.chain.{group}.{value}")
            found = self._labels[(group, value)] = entry[self.language] if entry else (value or "—")
        return found


class Labels:
    """The web.chain.* messages without values, as attributes: L.filename is t("web.chain.filename"),
    looked up once per page (a template function call costs several times an attribute read)."""

    def __init__(self, words: Words):
        self._words = words

    def __getattr__(self, name: str) -> str:
        if name.startswith("_"):
            raise AttributeError(name)
        value = self.__dict__[name] = self._words(f"web.chain.{name}")
        return value


def template_helpers(words: Words) -> dict:
    """What the chain pages' templates format with, in place of the shared t and local."""
    return {"t": words, "local": words.local, "L": Labels(words), "code_label": words.label}
