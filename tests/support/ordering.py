"""Events as a consumer must read them: EventBridge (and SQS behind it) promises no order, and
the relay delivers at least once. Dedupe on `eventId`; order each request's events by their
`sequence` (an exchange's own news by the exchange's)."""

from __future__ import annotations


def _subject(event: dict) -> tuple[str, str]:
    detail = event["detail"]
    if detail.get("sessionId"):
        return ("session", detail["sessionId"])
    return ("exchange", detail.get("exchangeId") or "")


def as_a_consumer_reads(events: list[dict]) -> list[dict]:
    """Each event once; a request's events in `sequence` order, requests in the order their
    first event arrived."""
    unique: dict[str, dict] = {}
    for event in events:
        unique.setdefault(event["detail"]["eventId"], event)
    first: dict[tuple[str, str], int] = {}
    for index, event in enumerate(unique.values()):
        first.setdefault(_subject(event), index)
    return sorted(
        unique.values(),
        key=lambda e: (first[_subject(e)], e["detail"]["sequence"]),
    )
