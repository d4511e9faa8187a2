"""Marshmallow fields shared by the API's schemas."""
from __future__ import annotations

import re

import marshmallow as ma

CONTROL_CHARACTERS = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f"
"""What a Text refuses, as a regular-expression character range (tab and newlines allowed)."""
_CONTROL = re.compile(f"[{CONTROL_CHARACTERS}]")


class Text(ma.fields.String):
    """A string without NUL or other control characters (tab and newlines allowed): PostgreSQL
    cannot store NUL, and none of them belongs in a name, a place or a password."""

    default_error_messages = {"control": "must not contain control characters such as NUL"}

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if _CONTROL.search(text):
            raise self.make_error("control")
        return text


def text_pattern(converter, field, ret=None, **kwargs) -> dict:
    """OpenAPI attribute function (apispec): a Text field's pattern says that it refuses control
    characters, unless a validator already gives a stricter pattern."""
    if isinstance(field, Text) and "pattern" not in (ret or {}):
        return {"pattern": f"^[^{CONTROL_CHARACTERS}]*$"}
    return {}
