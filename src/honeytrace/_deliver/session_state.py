"""What the flusher remembers about one session between its cycles: whether the server has it,
the events still owed, and what was lost (so the session's own record can say so)."""

from __future__ import annotations

from honeytrace._record import buffer as _buffer
from honeytrace._record.span import Event, Session

__all__ = ["SessionState"]


class SessionState:
    """What the flusher remembers about one session between cycles."""

    __slots__ = (
        "children",
        "created",
        "ended",
        "events",
        "lost",
        "outstanding",
        "rejected",
        "reported",
        "session",
    )

    def __init__(self, session: Session) -> None:
        self.session = session
        # Another service's session was created (and is ended) there; a session of ours that
        # was delivered already and gets a late event was created here.
        self.created = session.remote or session.settled
        self.rejected = False
        self.ended = False
        self.events: list[Event] = []
        self.children: dict[int, list[int]] = {}
        self.outstanding = 0  # taken this cycle and not yet counted (sent, dropped, spooled)
        self.lost: dict[str, int] = {}  # its events the flusher dropped, by reason
        self.reported: dict[str, int] = {}  # the losses its record on the server shows

    def losses(self) -> dict[str, int]:
        """Every loss of this session's events: on the way in, and in the flusher."""
        lost = dict(self.lost)
        session = self.session
        for reason, counter in (
            ("queue_full", session.lost_full),
            ("queue_bytes", session.lost_bytes),
        ):
            value = _buffer.count_value(counter)
            if value:
                lost[reason] = lost.get(reason, 0) + value
        return lost
