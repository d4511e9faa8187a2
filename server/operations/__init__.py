"""Validated writes about cases, steps, units, officers, devices and links: the operations that
the single-resource endpoints and the batch sync endpoint share.

An operation is `fn(session, ctx, body) -> (status, answer)`: it runs inside a transaction that
`workers.transaction.run` opened (with the linking lock taken), raises `Refused` for
anything it will not do, and changes nothing else when it does.
"""
from __future__ import annotations

from dataclasses import dataclass

from server.accounts import Principal
from server.settings import Settings
from workers.linking import Actor


class Refused(Exception):
    """A request that cannot be done as asked: HTTP `status`, i18n message `key` with `values`,
    and the request field it is about, if one."""

    def __init__(self, status: int, key: str, field: str | None = None, **values):
        super().__init__(key, values)
        self.status, self.key, self.field, self.values = status, key, field, values


@dataclass(frozen=True)
class OpContext:
    settings: Settings
    principal: Principal
    source_address: str | None = None

    @property
    def actor(self) -> Actor:
        return Actor(self.principal.kind, self.principal.id, self.source_address)

    @property
    def label(self) -> str:
        """Who did it, for `created_by` / `recorded_by` columns: user:<name> or station:<name>."""
        return f"{self.principal.kind}:{self.principal.name}"
