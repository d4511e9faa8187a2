"""Messages about retention, legal holds and the retention sweep; the policy's reasons come
from storage/retention.py (one source for the API, the CLI and the custody log)."""
from storage.retention import REASONS

MESSAGES: dict[str, dict[str, str]] = {
    "retention.unknown_clip": {
        "zh-CN": "找不到片段 {id}。",
        "en": "No clip {id}.",
    },
    "retention.unknown_case": {
        "zh-CN": "找不到案件 {id}。",
        "en": "No case {id}.",
    },
    "retention.unknown_hold": {
        "zh-CN": "片段 {clip_id} 没有编号为 {id} 的法律保留。请用 GET /api/v1/clips/{clip_id}/retention 查看其保留。",
        "en": "Clip {clip_id} has no legal hold {id}. GET /api/v1/clips/{clip_id}/retention lists its holds.",
    },
    "retention.hold_lifted": {
        "zh-CN": "法律保留 {id} 已于 {when} 由 {by} 解除（理由：{reason}），无需再次解除。",
        "en": "Legal hold {id} was already lifted by {by} at {when} (reason: {reason}).",
    },
    "retention.clip_deleted": {
        "zh-CN": "片段 {id} 的原件已于 {when} 因保存期届满被删除，无法再设置法律保留。",
        "en": "The original of clip {id} was deleted at {when} when its retention expired; it can no longer be held.",
    },
    "retention.clip_deleting": {
        "zh-CN": "片段 {id} 的保存期已届满，正在被删除，无法再设置法律保留。",
        "en": "Clip {id} expired and is being deleted by the retention sweep; it can no longer be held.",
    },
    "retention.case_without_clips": {
        "zh-CN": "案件 {case_number} 没有关联的片段，未设置任何法律保留。请先关联片段再设置。",
        "en": "No clip is linked to case {case_number}, so nothing was held. Link its clips first.",
    },
    "retention.store_failed": {
        "zh-CN": "对象存储暂不可用（{reason}），未作任何更改；请稍后重试。",
        "en": "The object store is unavailable ({reason}); nothing was changed. Retry later.",
    },
    "retention.sweep_summary": {
        "zh-CN": "已删除 {deleted} 个片段（释放 {bytes} 字节）；最终检查后保留 {kept} 个；失败 {failed} 个（下次清理时重试）。",
        "en": "Deleted {deleted} clips ({bytes} bytes freed); {kept} kept after a last check; {failed} failed "
              "(retried at the next sweep).",
    },
    "retention.dry_run_summary": {
        "zh-CN": "演练：将删除 {count} 个片段，共 {bytes} 字节；未作任何更改。",
        "en": "Dry run: {count} clips ({bytes} bytes) would be deleted; nothing was changed.",
    },
    **{f"retention.reason.{code}": texts for code, texts in REASONS.items()},
}
