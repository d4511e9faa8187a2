"""verify: read the original back from the store and recompute SHA-256 and SM3."""
from __future__ import annotations

from storage.exceptions import ObjectNotFound
from storage.objects.hashing import ParallelHasher
from workers.steps import Outcome
from workers.steps.failures import integrity_failure


def run(context) -> Outcome:
    clip = context.clip
    expected = {"sha256": clip.sha256, "sm3": clip.sm3, "size": clip.size}
    done = 0
    try:
        with ParallelHasher(chunk_size=context.settings.object_store.chunk_size) as hasher:
            for chunk in context.rt.store.get(clip.original_key):
                hasher.update(chunk)
                done += len(chunk)
                context.progress(done / clip.size if clip.size else 1.0)
            digests = hasher.finish()
    except ObjectNotFound:
        return integrity_failure("the original is missing from the object store",
                                 {"object_key": clip.original_key, "expected": expected})
    actual = {"sha256": digests.sha256, "sm3": digests.sm3, "size": digests.size}
    if actual != expected:
        differs = sorted(name for name in expected if expected[name] != actual[name])
        return integrity_failure(f"the original read back differs from what was received ({', '.join(differs)})",
                                 {"object_key": clip.original_key, "expected": expected, "actual": actual})
    status = "verified" if clip.status == "received" else None
    return Outcome(result=actual, clip_status=status, events=[("verified", {**actual, "object_key": clip.original_key})])
