"""Making one evidence bundle (the same code for the worker job and `fullrecord export`).

Order matters: the files are copied (and re-hashed) first, so that a damaged original stops the
export before anything is recorded; then the export's custody events are written, a checkpoint
that covers them is signed, and the custody excerpt proved against it goes in last.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from storage.bundle import excerpt
from storage.bundle.manifest import (case_document, manifest_document, plan_files, public_key_text,
                                     readme_text)
from storage.bundle.writer import Progress, ZipBundleWriter
from storage.case_models import Case, Step
from storage.custody_models import Export
from storage.link_models import ClipLink
from storage.models import Clip, Derivative

VERIFIER = Path(__file__).with_name("verify_bundle.py")


@dataclass(frozen=True)
class BundleResult:
    path: Path
    size: int
    sha256: str | None
    """Of the zip file, when asked for."""
    files: int
    total_bytes: int
    checkpoint_count: int
    manifest_sha256: str


@dataclass
class _Snapshot:
    export: Export
    case: Case
    steps: list
    links: list
    clips: dict


def _snapshot(rt, export_id: str) -> _Snapshot:
    """The export, its case, steps, every link of those steps and the clips they name, read once."""
    with rt.session() as session:
        export = session.get(Export, export_id)
        if export is None:
            raise LookupError(f"no export {export_id}")
        case = session.get(Case, export.case_id, options=[selectinload(Case.officers)])
        steps = session.scalars(select(Step).where(Step.case_id == case.id).order_by(Step.started_at, Step.id)
                                .options(selectinload(Step.officers), selectinload(Step.devices))).all()
        links = session.scalars(select(ClipLink).where(ClipLink.step_id.in_([step.id for step in steps]))).all() \
            if steps else []
        clip_ids = sorted({link.clip_id for link in links})
        clips = {clip.id: clip for clip in session.scalars(select(Clip).where(Clip.id.in_(clip_ids)))} \
            if clip_ids else {}
        return _Snapshot(export, case, list(steps), list(links), clips)


def _derivatives(rt, clip_ids: list[str]) -> list:
    if not clip_ids:
        return []
    with rt.session() as session:
        return list(session.scalars(select(Derivative).where(Derivative.clip_id.in_(clip_ids))))


def build_bundle(rt, export_id: str, out: Path, *, actor: dict, signer, progress: Progress | None = None,
                 hash_output: bool = False) -> BundleResult:
    """Write the bundle of this export to `out` (replaced if it exists); custody events of the
    export are written by `actor` ({"actor_type", "actor_id", "source_address"}). hash_output: also
    the zip's SHA-256, read back beside the writing (the job gets it from the store's upload instead)."""
    snap = _snapshot(rt, export_id)
    export, case = snap.export, snap.case
    linked = {link.clip_id for link in snap.links if link.state == "linked"}
    evidence = [clip for clip_id, clip in snap.clips.items() if clip_id in linked]
    plan = plan_files(evidence, _derivatives(rt, sorted(linked)) if export.include_review else [],
                      export.include_review)
    writer = ZipBundleWriter(out, export.created_at, plan.total_bytes, progress, hash_output)
    try:
        for item in plan.files:
            writer.add_stream(item.path, rt.store.get(item.object_key), size=item.size, sha256=item.sha256,
                              what=f"{item.role} of clip {item.clip_id} ({item.object_key})", clip_id=item.clip_id)
        case_json = case_document(rt.settings, case, snap.steps, snap.links, snap.clips, plan)
        case_sha = writer.add_bytes("case.json", case_json)
        manifest = manifest_document(export, case, plan, case_sha)
        manifest_sha = writer.add_bytes("manifest.json", manifest)
        concerned = sorted(snap.clips)
        excerpt.check_intact(rt, concerned, case.id)  # before the export is recorded in an altered log
        last = excerpt.record_export(rt, export, plan, concerned, manifest_sha, case_sha, actor)
        checkpoint = excerpt.checkpoint_covering(rt, last, signer)
        writer.add_lines("custody.jsonl", excerpt.excerpt_lines(rt, concerned, case.id, checkpoint))
        writer.add_bytes("checkpoint.json", _checkpoint_json(checkpoint))
        writer.add_bytes("public_key.txt", public_key_text(checkpoint.public_key, checkpoint.key_id))
        writer.add_bytes("README.txt", readme_text(export, case))
        writer.add_bytes("verify_bundle.py", VERIFIER.read_bytes())
        size, sha256 = writer.close()
    except BaseException:
        writer.abort()
        raise
    return BundleResult(Path(out), size, sha256, len(plan.files), plan.total_bytes, checkpoint.count, manifest_sha)


def _checkpoint_json(checkpoint) -> bytes:
    """Byte for byte the document stored at checkpoint.object_key."""
    from storage.checkpoints import checkpoint_document, document_bytes
    return document_bytes(checkpoint_document(checkpoint))
