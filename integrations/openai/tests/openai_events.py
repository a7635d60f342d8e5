"""Reading what the integration recorded, as honeytrace would send it."""

from __future__ import annotations

from typing import Any

from honeytrace.testing import Capture


def model_events(capture: Capture) -> list[dict[str, Any]]:
    return [event for event in capture.events if event["event_type"] == "model"]


def only_model_event(capture: Capture) -> dict[str, Any]:
    events = model_events(capture)
    assert len(events) == 1, [event["event_name"] for event in events]
    return events[0]
