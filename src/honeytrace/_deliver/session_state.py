"""What the flusher remembers about one session between its cycles: whether the server has it,
the events still owed, and what was lost (so the session's own record can say so)."""

from __future__ import annotations

from honeytrace._record import buffer as _buffer
from honeytrace._record.span import Event, Session

__all__ = ["SESSION_CHILDREN", "SessionState"]

SESSION_CHILDREN = 1000
"""The most children ids a session's own record lists. A longer session's record lists none:
``children_ids`` is optional everywhere in the API and the tree is found through each event's
``parent_id``, whereas a full list would make a 1M-event session's end request 37 MB and keep
its ids in memory until the session ends."""


class SessionState:
    """What the flusher remembers about one session between cycles."""

    __slots__ = (
        "children",
        "created",
        "direct",
        "ended",
        "events",
        "failed",
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
        self.failed: str | None = None  # why its session event (POST /v1/events/batch) was lost
        self.ended = False
        self.events: list[Event] = []
        self.children: dict[int, list[int]] = {}  # ids of the events' children (not the session's)
        # The session's own children, while there are at most SESSION_CHILDREN; None past that.
        self.direct: list[int] | None = []
        self.outstanding = 0  # taken this cycle and not yet counted (sent, dropped, spooled)
        self.lost: dict[str, int] = {}  # its events the flusher dropped, by reason
        self.reported: dict[str, int] = {}  # the losses its record on the server shows

    def add_direct(self, child: int) -> None:
        """Remember a child of the session itself, up to :data:`SESSION_CHILDREN`."""
        direct = self.direct
        if direct is not None:
            if len(direct) < SESSION_CHILDREN:
                direct.append(child)
            else:
                self.direct = None

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
