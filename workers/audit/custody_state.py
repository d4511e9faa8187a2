"""What an audit may trust of the custody log. Each signed checkpoint was made only after the
events it covers were walked and found intact, so a run walks just the events after the last
checkpoint (minutes of work at most, not the whole log). When that walk finds a problem, every
clip with an event from the first bad one on no longer counts as footage.
A whole-log check is `fullrecord custody verify`."""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select

from storage.checkpoints import last_checkpoint
from storage.custody import GENESIS_HASH
from storage.custody_chain import ChainWalk
from storage.models import CustodyEvent
from storage.processing_models import Alert


@dataclass
class CustodyState:
    intact: bool
    head_seq: int
    checkpoint_count: int
    checkpoint_at: str | None
    first_bad_seq: int | None = None
    problem: str | None = None
    open_alerts: int = 0
    broken_clips: set[str] = field(default_factory=set)

    def as_dict(self) -> dict:
        return {"intact": self.intact, "head_seq": self.head_seq, "checkpoint_count": self.checkpoint_count,
                "checkpoint_at": self.checkpoint_at, "first_bad_seq": self.first_bad_seq, "problem": self.problem,
                "open_alerts": self.open_alerts, "clips_affected": len(self.broken_clips)}


def custody_state(session) -> CustodyState:
    last = last_checkpoint(session)
    walk = ChainWalk(last.count, last.head_hash) if last else ChainWalk(0, GENESIS_HASH)
    for _ in walk.events(session):
        pass
    head = session.scalar(select(func.max(CustodyEvent.seq))) or 0
    alerts = session.scalar(select(func.count()).select_from(Alert).where(
        Alert.code == "custody_not_intact", Alert.acknowledged_at.is_(None))) or 0
    state = CustodyState(intact=walk.problem is None and walk.last_seq == head, head_seq=head,
                         checkpoint_count=last.count if last else 0,
                         checkpoint_at=last.created_at.isoformat() if last else None, open_alerts=alerts)
    if not state.intact:
        state.first_bad_seq = walk.problem.seq if walk.problem else walk.last_seq + 1
        state.problem = walk.problem.reason if walk.problem else "missing"
        state.broken_clips = set(session.scalars(
            select(CustodyEvent.clip_id).distinct().where(CustodyEvent.seq >= state.first_bad_seq,
                                                          CustodyEvent.clip_id.is_not(None))))
    return state
