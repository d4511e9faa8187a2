"""The JSON report: one object {"run", "language", "summary", "diff", "findings"}, written a
finding at a time (one per line) so that it never has to be held in memory whole."""
from __future__ import annotations

import json

from workers.audit.reports import findings, run_fields


def _dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False)


def write(session, run, sink, language: str) -> None:
    sink.write(f'{{"run": {_dumps(run_fields(run))},\n"language": {_dumps(language)},\n'
               f'"summary": {_dumps(run.summary or {})},\n"diff": {_dumps(run.diff or {})},\n"findings": [')
    separator = "\n"
    for item in findings(session, run, language):
        sink.write(separator)
        sink.write(_dumps(item))
        separator = ",\n"
    sink.write("\n]}\n")
