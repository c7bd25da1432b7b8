"""The hub's per-connection filter: order, no duplicates, held replay, slow consumers."""

from __future__ import annotations

import msgspec

from events.hub import Subscriber
from events.model import Event


def ev(topic: str, entry_id: str) -> Event:
    return Event(id=entry_id, topic=topic, type="job.progress", data=msgspec.Raw(b"{}"))


def drain(sub: Subscriber) -> list[str]:
    out = []
    while not sub.queue.empty():
        out.append(sub.queue.get_nowait().id)
    return out


def test_duplicates_and_older_events_are_dropped() -> None:
    sub = Subscriber("u", queue_size=10)
    sub.last["job:1"] = None
    for entry_id in ("1-0", "2-0", "2-0", "1-5", "3-0"):
        sub.offer(ev("job:1", entry_id))
    assert drain(sub) == ["1-0", "2-0", "3-0"]


def test_unsubscribed_topics_are_ignored() -> None:
    sub = Subscriber("u", queue_size=10)
    sub.offer(ev("job:2", "1-0"))
    assert drain(sub) == []


def test_live_events_are_held_while_a_topic_replays() -> None:
    sub = Subscriber("u", queue_size=10)
    sub.last["t"] = (1, 0)
    sub.held["t"] = []
    sub.offer(ev("t", "5-0"))  # live, arrives during the replay
    assert drain(sub) == []
    held = sub.held.pop("t")
    for entry_id in ("2-0", "3-0", "4-0", "5-0"):  # the replay (it already includes 5-0)
        sub.offer(ev("t", entry_id))
    for e in held:
        sub.offer(e)
    assert drain(sub) == ["2-0", "3-0", "4-0", "5-0"]


def test_a_full_queue_marks_the_subscriber_slow() -> None:
    sub = Subscriber("u", queue_size=2)
    sub.last["t"] = None
    for i in range(3):
        sub.offer(ev("t", f"{i + 1}-0"))
    assert sub.overflowed.is_set()
    # What was not queued is not marked delivered: a reconnect with `since` replays it.
    assert sub.last["t"] == (2, 0)
