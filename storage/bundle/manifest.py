"""What an evidence bundle holds, as data: which files go in under which names, and the JSON
documents that describe them (manifest.json, case.json) and the texts beside them.

Everything here is deterministic for the same database state, so a re-run of an export after
a crash produces the same manifest and case document (and so matches the custody events the
first run wrote).
"""
from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime

FORMAT = "fullrecord-evidence-bundle"
VERSION = 1
REVIEW_KINDS = ("review",)
"""Derivative kinds copied into a bundle with include_review (posters and contact sheets are not evidence)."""
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]")
NAME_MAX = 120


def safe_name(filename: str) -> str:
    """A file name that unpacks safely on Windows, macOS and Linux: no separators, no control
    characters, no leading dots; letters of any script (Chinese names) are kept."""
    name = _UNSAFE.sub("_", unicodedata.normalize("NFC", filename or "")).strip(" .")
    if len(name) > NAME_MAX:
        stem, dot, suffix = name.rpartition(".")
        name = (stem[:NAME_MAX - len(suffix) - 1] + dot + suffix) if dot and len(suffix) < 12 else name[:NAME_MAX]
    return name or "file"


@dataclass(frozen=True)
class BundleFile:
    """One file copied from the object store into the bundle."""

    path: str
    role: str  # original | review
    object_key: str
    sha256: str
    sm3: str
    size: int
    clip_id: str
    derivative: dict | None = None

    def entry(self) -> dict:
        entry = {"path": self.path, "role": self.role, "sha256": self.sha256, "sm3": self.sm3 or None,
                 "size": self.size, "source_clip_id": self.clip_id}  # sm3 None: made before SM3 was recorded
        if self.derivative is not None:
            entry.update(self.derivative)
        return entry


@dataclass
class Plan:
    files: list[BundleFile] = field(default_factory=list)
    omitted: list[dict] = field(default_factory=list)
    """Clips linked to the case whose original is no longer stored (deleted after retention)."""

    @property
    def total_bytes(self) -> int:
        return sum(item.size for item in self.files)

    @property
    def clip_ids(self) -> list[str]:
        return sorted({item.clip_id for item in self.files})


def plan_files(clips: list, derivatives: list, include_review: bool) -> Plan:
    """The originals of these clips (and their review copies), in a stable order."""
    plan = Plan()
    for clip in sorted(clips, key=lambda row: (row.recorded_at, row.id)):
        if clip.deleted_at is not None or clip.status in ("deleting", "deleted"):
            plan.omitted.append({"clip_id": clip.id, "sha256": clip.sha256, "reason": clip.status,
                                 "deleted_at": _time(clip.deleted_at)})
            continue
        plan.files.append(BundleFile(f"originals/{clip.id}-{safe_name(clip.filename)}", "original", clip.original_key,
                                     clip.sha256, clip.sm3, clip.size, clip.id))
        if not include_review:
            continue
        for item in sorted((d for d in derivatives if d.clip_id == clip.id and d.kind in REVIEW_KINDS),
                           key=lambda d: (d.kind, d.profile, d.id)):
            stem = safe_name(clip.filename).rsplit(".", 1)[0]
            suffix = ".mp4" if item.content_type in ("video/mp4", "audio/mp4") else ""
            derivation = {"derivative_id": item.id, "kind": item.kind, "profile": item.profile,
                          "content_type": item.content_type,
                          "derivation": {"source_sha256": item.source_sha256, "tool_version": item.tool_version,
                                         "argv": list(item.argv)}}
            path = f"review/{clip.id}-{safe_name(item.profile or item.kind)}-{stem}{suffix}"
            plan.files.append(BundleFile(path, "review", item.object_key, item.sha256, item.sm3, item.size, clip.id,
                                         derivation))
    return plan


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def dump(document: dict) -> bytes:
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode()


def manifest_document(export, case, plan: Plan, case_json_sha256: str) -> bytes:
    return dump({
        "format": FORMAT, "version": VERSION, "export_id": export.id, "case_id": case.id,
        "case_number": case.case_number, "agency_code": case.agency_code, "requested_by": export.requested_by,
        "requested_at": _time(export.created_at), "include_review": export.include_review,
        "case_json_sha256": case_json_sha256, "files": [item.entry() for item in plan.files],
        "omitted": plan.omitted,
    })


def case_document(settings, case, steps: list, links: list, clips: dict, plan: Plan) -> bytes:
    """The case, its steps and every link of each step (linked or excluded) with why, and the
    facts of each linked clip. Times are UTC (ISO 8601)."""
    paths = {item.clip_id: item.path for item in plan.files if item.role == "original"}
    by_step: dict[str, list] = {}
    for link in sorted(links, key=lambda row: (row.created_at, row.clip_id)):
        by_step.setdefault(link.step_id, []).append(link)
    step_types = settings.step_types
    return dump({
        "times": "UTC, ISO 8601", "timezone_of_the_agency": settings.timezone,
        "case": {"id": case.id, "case_number": case.case_number, "agency_code": case.agency_code,
                 "unit_code": case.unit_code, "title": case.title, "status": case.status,
                 "officers": sorted(row.officer_code for row in case.officers), "opened_at": _time(case.opened_at),
                 "closed_at": _time(case.closed_at), "version": case.version, "created_by": case.created_by,
                 "created_at": _time(case.created_at), "updated_at": _time(case.updated_at)},
        "steps": [{
            "id": step.id, "type": step.type,
            "type_name": {"zh-CN": step_types[step.type].name_zh, "en": step_types[step.type].name_en}
            if step.type in step_types else None,
            "started_at": _time(step.started_at), "ended_at": _time(step.ended_at), "place": step.place,
            "notes": step.notes, "officers": sorted(row.officer_code for row in step.officers),
            "devices": sorted(row.device_serial for row in step.devices), "version": step.version,
            "links": [{"id": link.id, "clip_id": link.clip_id, "origin": link.origin, "state": link.state,
                       "rule": link.rule, "overlap_seconds": link.overlap_seconds, "reason": link.reason,
                       "decided_by": link.decided_by, "details": link.details, "created_at": _time(link.created_at),
                       "updated_at": _time(link.updated_at)} for link in by_step.get(step.id, [])],
        } for step in steps],
        "clips": [{
            "id": clip.id, "bundle_path": paths.get(clip.id), "filename": clip.filename, "sha256": clip.sha256,
            "sm3": clip.sm3, "size": clip.size, "status": clip.status, "device_serial": clip.device_serial,
            "officer_id": clip.officer_id, "station_id": clip.station_id, "recorded_at": _time(clip.recorded_at),
            "corrected_start": _time(clip.corrected_start), "corrected_end": _time(clip.corrected_end),
            "clock_offset_seconds": clip.clock_offset_seconds, "duration_seconds": clip.duration_seconds,
            "received_at": _time(clip.received_at),
        } for clip in sorted(clips.values(), key=lambda row: (row.recorded_at, row.id))],
    })


def public_key_text(public_key_hex: str, key_id: str) -> bytes:
    return (
        "Ed25519 public key that signed checkpoint.json / 签署 checkpoint.json 的 Ed25519 公钥\n"
        f"public_key: {public_key_hex}\n"
        f"fingerprint: {key_id}\n"
        "The fingerprint is the SHA-256 of the raw 32-byte key. Compare it with the fingerprint the agency\n"
        "publishes or certifies separately: a bundle proves only that it was made by the holder of this key.\n"
        "指纹为 32 字节原始公钥的 SHA-256。请与执法机关另行公布或出具证明的指纹核对：证据包只能证明它由该密钥持有者制作。\n"
    ).encode()


README = """\
执法音视频证据包 / Evidence bundle of law-enforcement recordings
================================================================

案件 Case: {case_number} （{agency_code}）    导出编号 Export: {export_id}
由 fullrecord 导出 / exported by fullrecord, requested by {requested_by} at {requested_at} (UTC)

【中文】
本证据包包含：
  originals/       原始音视频文件（与采集时的字节完全一致）
  review/          审看副本（如有；由原始文件转换，manifest.json 记载转换来源、工具版本与完整参数）
  manifest.json    文件清单：每个文件的用途、SHA-256、SM3、大小及来源片段
  case.json        案件、执法环节及每个片段与环节的关联（含关联依据与人工决定的理由）
  custody.jsonl    上述片段和案件的全部保管链事件（每行一个事件，附 Merkle 包含证明）
  checkpoint.json  经 Ed25519 签名的保管链检查点
  public_key.txt   签名公钥及其指纹
  verify_bundle.py 离线校验程序（仅需 Python 3.8 及以上，无需联网，无需安装其他软件）

校验方法：在本目录（或证据包 zip 文件所在目录）运行
    python3 verify_bundle.py 证据包.zip
或解压后运行  python3 verify_bundle.py 解压目录
全部通过时输出 "OK" 并以状态 0 退出；否则逐条列出失败项（文件名、保管链事件序号或“签名无效”），以状态 1 退出。
请将 public_key.txt 中的指纹与执法机关另行公布的指纹核对。

[English]
This bundle holds:
  originals/       the original recordings, byte for byte as received
  review/          review copies, if requested (made from the originals; manifest.json records the
                   source hash, tool version and exact arguments)
  manifest.json    every file with its role, SHA-256, SM3, size and source clip
  case.json        the case, its enforcement steps and each clip's link to a step, with the rule or
                   the reason of a person's decision
  custody.jsonl    every custody event of those clips and of the case, one per line, each with its
                   Merkle inclusion proof
  checkpoint.json  the Ed25519-signed checkpoint of the custody log
  public_key.txt   the signing public key and its fingerprint
  verify_bundle.py the offline verifier (Python 3.8 or later, standard library only, no network)

To verify, run
    python3 verify_bundle.py bundle.zip
or, after unzipping, python3 verify_bundle.py DIRECTORY
It prints "OK" and exits with status 0 only when every check passes; otherwise it lists every
failure (file name, custody sequence number, or "signature invalid") and exits with status 1.
Compare the fingerprint in public_key.txt with the one the agency publishes separately.
"""


def readme_text(export, case) -> bytes:
    return README.format(case_number=case.case_number, agency_code=case.agency_code, export_id=export.id,
                         requested_by=export.requested_by, requested_at=_time(export.created_at)).encode()
