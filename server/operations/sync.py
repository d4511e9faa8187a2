"""The batch sync of an offline client: its operations in order, each in its own transaction,
each answered on its own. A failed operation changes nothing and does not stop the rest; a
retried batch is answered with replays."""
from __future__ import annotations

from typing import Callable

import marshmallow as ma

from server.i18n import t
from server.operations import OpContext, Refused, cases, steps
from workers import transaction
from server.operations.devices import SYNC_OPERATIONS as DEVICE_OPERATIONS
from server.operations.versions import Stale

MAX_OPERATIONS = 500
CASEWORK_WRITERS = frozenset({"admin", "legal", "officer"})
ASSIGNMENT_WRITERS = frozenset({"admin", "officer", "station"})

Operation = Callable[..., tuple[int, dict]]
OPERATIONS: dict[str, tuple[Operation, frozenset[str]]] = {
    "create_case": (cases.sync_create, CASEWORK_WRITERS),
    "update_case": (cases.sync_update, CASEWORK_WRITERS),
    "create_step": (steps.sync_create, CASEWORK_WRITERS),
    "update_step": (steps.sync_update, CASEWORK_WRITERS),
    **{name: (operation, ASSIGNMENT_WRITERS) for name, operation in DEVICE_OPERATIONS.items()},
}
"""op name → (function, roles allowed to do it)."""
WRITERS = frozenset().union(*(allowed for _operation, allowed in OPERATIONS.values()))


def _flatten(errors, path: tuple = ()) -> dict[str, list[str]]:
    """marshmallow's nested messages as {"field.sub": [messages]}."""
    flat: dict[str, list[str]] = {}
    if isinstance(errors, dict):
        for key, value in errors.items():
            for field, messages in _flatten(value, (*path, str(key))).items():
                flat.setdefault(field, []).extend(messages)
    elif isinstance(errors, list) and all(isinstance(item, str) for item in errors):
        flat[".".join(path) or "_schema"] = list(errors)
    elif isinstance(errors, list):
        for item in errors:
            for field, messages in _flatten(item, path).items():
                flat.setdefault(field, []).extend(messages)
    else:
        flat[".".join(path) or "_schema"] = [str(errors)]
    return flat


def _refused(index: int, op: str, item: dict, error: Refused) -> dict:
    message = t(error.key, **error.values)
    answer = {"index": index, "op": op, "status": error.status, "id": item.get("id"), "version": None,
              "replay": False, "error": {"message": message, "errors": {error.field: [message]} if error.field else {}}}
    if isinstance(error, Stale):
        answer["version"] = answer["error"]["current_version"] = error.current_version
    return answer


def _invalid(index: int, op: str, item: dict, error: ma.ValidationError) -> dict:
    errors = _flatten(error.messages)
    detail = "; ".join(f"{field}: {' '.join(messages)}" for field, messages in errors.items())
    return {"index": index, "op": op, "status": 422, "id": item.get("id"), "version": None, "replay": False,
            "error": {"message": t("error.invalid", detail=detail), "errors": errors}}


def _check(ctx: OpContext, op: str) -> Operation:
    if op not in OPERATIONS:
        raise Refused(422, "casework.sync_unknown_op", "op", op=op, valid=", ".join(OPERATIONS))
    operation, allowed = OPERATIONS[op]
    if ctx.principal.role not in allowed:
        raise Refused(403, "casework.sync_forbidden", "op", role=ctx.principal.role, op=op,
                      allowed=", ".join(sorted(allowed)))
    return operation


def run_one(rt, ctx: OpContext, index: int, item: dict) -> dict:
    op = item["op"]
    try:
        operation = _check(ctx, op)
        status, answer = transaction.run(rt, lambda session: operation(session, ctx, item))
    except Refused as error:
        return _refused(index, op, item, error)
    except ma.ValidationError as error:
        return _invalid(index, op, item, error)
    answer = dict(answer)
    replay = bool(answer.pop("replay", False))
    return {"index": index, "op": op, "status": status, "id": answer.get("id", item.get("id")),
            "version": answer.get("version"), "replay": replay, "error": None}


def run_batch(rt, ctx: OpContext, items: list[dict]) -> list[dict]:
    """Each item {op, id?, version?, body} in order; the answers in the same order."""
    return [run_one(rt, ctx, index, item) for index, item in enumerate(items)]
