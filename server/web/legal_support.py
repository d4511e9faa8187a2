"""What the legal staff's and the administrators' forms share: running an operation the way
the API does (same transaction, same validation, same custody events, the principal from the
session), and reading a form whose mistakes are flashed back to the page it came from."""
from __future__ import annotations

import marshmallow as ma
from flask import flash, request

from server.auth import current_principal
from server.i18n import MESSAGES, t
from server.operations import OpContext
from server.runtime import runtime
from workers.transaction import run


class Form(ma.Schema):
    """A page's form: `next` (where to go back to) is read by pages.back(), not here."""

    class Meta:
        unknown = ma.EXCLUDE


def perform(operation, *args):
    """Run an API operation in its own transaction as the signed-in user; its Outcome."""
    rt = runtime()
    ctx = OpContext(rt.settings, current_principal(), request.remote_addr)
    return run(rt, lambda session: operation(session, ctx, *args))


def form_errors(error: ma.ValidationError, prefix: str = "web.legal.invalid") -> list[str]:
    """One sentence per wrong field: `prefix`.<field> in the reader's language where there is one."""
    messages = []
    for field, problems in sorted(error.normalized_messages().items()):
        key = f"{prefix}.{field}"
        if key in MESSAGES:
            messages.append(t(key))
        else:
            detail = "; ".join(map(str, problems)) if isinstance(problems, list) else str(problems)
            messages.append(t("web.bad_input", detail=f"{field}: {detail}"))
    return messages


def form_values() -> dict:
    return {key: value for key, value in request.form.items() if key != "csrf_token"}


def load_form(schema: ma.Schema, prefix: str = "web.legal.invalid") -> dict | None:
    """The form's values, or None after flashing what is wrong (the caller goes back)."""
    try:
        return schema.load(form_values())
    except ma.ValidationError as error:
        for message in form_errors(error, prefix):
            flash(message, "error")
        return None
