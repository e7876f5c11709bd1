"""The funnel of one request, as the platform reads it (`timeline` in GET /reauth-sessions/{id}),
and its first opening: noted once, by a GET of the link that shows the start page, never by a
HEAD, a declared prefetch, a bad key or a closed request; never at the page's expense.

The service's clock is frozen (and moved by the tests), so every time read back is exact.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from reauth.model import iso
from tests.support.apigw import query_of
from tests.support.clock import FrozenClock
from tests.support.flow import bank_url, header, location
from tests.support.functions import serve
from tests.support.table import table_items

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a fixed instant: nothing here depends on the date


@pytest.fixture
def frozen(functions) -> FrozenClock:
    clock = FrozenClock(T0)
    serve(clock=clock.now)
    return clock


def _create(api, dwolla, **body) -> dict:
    exchange = dwolla.seed_exchange("mx")
    status, session, _ = api.create(exchange["id"], body or None)
    assert status == 201, session
    return session


def _request_item(functions, request_id: str) -> dict:
    (item,) = [i for i in table_items(functions) if i["pk"]["S"] == f"REQUEST#{request_id}"]
    return item


def _steps(api, request_id: str) -> list[dict]:
    status, body, _ = api.session(request_id)
    assert status == 200, body
    return body["timeline"]


def _sent(functions, request_id: str, *messages: tuple[str, int, datetime]) -> None:
    """The messages the delivery branch records on the request item (channel, slot, sentAt)."""
    functions.session.client("dynamodb").update_item(
        TableName=functions.resources.table_name,
        Key={"pk": {"S": f"REQUEST#{request_id}"}, "sk": {"S": "REQUEST"}},
        UpdateExpression="SET messages = :m",
        ExpressionAttributeValues={
            ":m": {
                "L": [
                    {
                        "M": {
                            "channel": {"S": channel},
                            "slot": {"N": str(slot)},
                            "sentAt": {"N": str(at.timestamp())},
                        }
                    }
                    for channel, slot, at in messages
                ]
            }
        },
    )


def _at(**delta: float) -> str:
    return iso(T0 + timedelta(**delta))


def test_the_timeline_of_a_whole_journey_in_order(api, dwolla, browser, functions, frozen):
    session = _create(api, dwolla)
    _sent(functions, session["id"], ("email", 0, T0 + timedelta(seconds=5)))
    frozen.advance(minutes=10)
    assert browser.get(session["startUrl"])["statusCode"] == 200  # opened at +10 min
    frozen.advance(minutes=1)
    started = browser.click_start(session["startUrl"])  # started at +11 min
    frozen.advance(minutes=2)
    back = browser.get(browser.visit_bank(bank_url(started), "USER_CANCELLED"))  # +13: cancelled
    assert "attempt_failed" in location(back)
    frozen.advance(minutes=1)
    again = browser.try_again(session["startUrl"].split("?", 1)[0])  # +14: a second attempt
    frozen.advance(minutes=3)
    browser.get(browser.visit_bank(bank_url(again)))  # +17: success, Dwolla confirms at once

    attempts = [a["id"] for a in api.session(session["id"])[1]["attempts"]]
    assert _steps(api, session["id"]) == [
        {"at": _at(), "step": "created", "trigger": "api"},
        {"at": _at(seconds=5), "step": "message-sent", "channel": "email", "slot": 0},
        {"at": _at(minutes=10), "step": "opened"},
        {"at": _at(minutes=11), "step": "started", "attemptId": attempts[0]},
        {
            "at": _at(minutes=13),
            "step": "back-from-bank",
            "attemptId": attempts[0],
            "outcome": "failed",
            "reason": "USER_CANCELLED",
            "reportedBy": "redirect",
        },
        {"at": _at(minutes=14), "step": "started", "attemptId": attempts[1]},
        {
            "at": _at(minutes=17),
            "step": "back-from-bank",
            "attemptId": attempts[1],
            "outcome": "reauthorized",
            "reason": None,
            "reportedBy": None,
        },
        {"at": _at(minutes=17), "step": "verified", "result": "confirmed"},
        {"at": _at(minutes=17), "step": "ended", "status": "reauthorized"},
    ]


def test_a_fresh_request_has_only_its_creation(api, dwolla, frozen):
    session = _create(api, dwolla)

    assert session["timeline"] == [{"at": _at(), "step": "created", "trigger": "api"}]


def test_messages_and_reminders_are_in_time_order_with_channel_and_slot(
    api, dwolla, functions, frozen
):
    session = _create(api, dwolla)
    day = timedelta(days=1)
    _sent(functions, session["id"], ("sms", 1, T0 + day), ("email", 0, T0), ("sms", 0, T0))

    steps = _steps(api, session["id"])

    assert [(s["step"], s.get("channel"), s.get("slot")) for s in steps] == [
        ("created", None, None),
        ("message-sent", "email", 0),  # the same moment as created: the fixed step order
        ("message-sent", "sms", 0),
        ("message-sent", "sms", 1),
    ]


def test_an_expired_request_ends_at_its_deadline(api, dwolla, frozen):
    session = _create(api, dwolla)
    deadline = session["expiresAt"]
    frozen.advance(days=30)  # past any deadline the settings allow, before the schedule ran

    (*_, ended) = _steps(api, session["id"])

    assert ended == {"at": deadline, "step": "ended", "status": "expired"}


def test_a_superseded_request_ends_when_the_newer_one_was_made(api, dwolla, frozen):
    exchange = dwolla.seed_exchange("mx")
    _, first, _ = api.create(exchange["id"])
    frozen.advance(minutes=5)
    api.create(exchange["id"])

    (*_, ended) = _steps(api, first["id"])

    assert ended == {"at": _at(minutes=5), "step": "ended", "status": "superseded"}


# ---- first opened ------------------------------------------------------------------------------
def test_the_first_opening_is_kept_a_second_one_changes_nothing(
    api, dwolla, browser, functions, frozen
):
    session = _create(api, dwolla)
    before = _request_item(functions, session["id"])
    frozen.advance(minutes=3)
    browser.get(session["startUrl"])
    frozen.advance(minutes=4)
    second = browser.get(session["startUrl"])

    assert second["statusCode"] == 200 and '<form method="post"' in second["body"]
    item = _request_item(functions, session["id"])
    assert iso(datetime.fromtimestamp(float(item["openedAt"]["N"]), UTC)) == _at(minutes=3)
    # Nothing of the flow moved: only openedAt was written.
    assert {k: v for k, v in item.items() if k != "openedAt"} == before
    opened = [s for s in _steps(api, session["id"]) if s["step"] == "opened"]
    assert opened == [{"at": _at(minutes=3), "step": "opened"}]


@pytest.mark.parametrize(
    "how",
    ["HEAD", "Sec-Purpose: prefetch", "Purpose: prefetch", "a wrong key", "no key"],
)
def test_what_is_not_an_opening(api, dwolla, browser, functions, frozen, how):
    session = _create(api, dwolla)
    url = session["startUrl"]
    if how == "HEAD":
        answer = browser.call("HEAD", url)
    elif how.endswith("prefetch"):
        name, value = how.split(": ")
        answer = browser.call("GET", url, headers={name: value})
    elif how == "a wrong key":
        answer = browser.get(url.replace(query_of(url)["key"][0], "A" * 43))
    else:
        answer = browser.get(url.split("?", 1)[0])

    assert answer["statusCode"] in (200, 400)
    assert "openedAt" not in _request_item(functions, session["id"])
    assert [s["step"] for s in _steps(api, session["id"])] == ["created"]


def test_a_closed_request_is_not_opened(api, dwolla, browser, functions, frozen):
    exchange = dwolla.seed_exchange("mx")
    _, first, _ = api.create(exchange["id"])
    api.create(exchange["id"])  # supersedes the first: its link shows the closed page

    page = browser.get(first["startUrl"])

    assert page["statusCode"] == 410 and '<form method="post"' not in page["body"]
    assert "openedAt" not in _request_item(functions, first["id"])


def test_a_request_past_its_deadline_is_not_opened(api, dwolla, browser, functions, frozen):
    session = _create(api, dwolla)
    frozen.advance(days=30)

    browser.get(session["startUrl"])

    assert "openedAt" not in _request_item(functions, session["id"])


def test_the_page_is_served_when_the_opening_cannot_be_recorded(
    api, dwolla, browser, functions, frozen, monkeypatch
):
    from reauth import runtime

    session = _create(api, dwolla)

    def broken(*args, **kwargs):
        raise RuntimeError("DynamoDB is down for writes")

    monkeypatch.setattr(runtime.service().ctx.repo, "record_opened", broken)
    page = browser.get(session["startUrl"])

    assert page["statusCode"] == 200 and '<form method="post"' in page["body"]
    assert "nonce-" in header(page, "content-security-policy")
    assert "openedAt" not in _request_item(functions, session["id"])


def test_the_first_opening_counts_once_in_link_opened_by_channel(
    api, dwolla, browser, functions, frozen, capsys
):
    with_email = _create(api, dwolla)
    _sent(functions, with_email["id"], ("email", 0, T0))
    platform_sent = _create(api, dwolla)
    capsys.readouterr()

    for url in (with_email["startUrl"], with_email["startUrl"], platform_sent["startUrl"]):
        browser.get(url)
    browser.call("HEAD", platform_sent["startUrl"])

    opened = [
        line["Channel"]
        for line in map(json.loads, _emf(capsys.readouterr().out))
        if "LinkOpened" in line
    ]
    assert sorted(opened) == ["email", "none"]


def _emf(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("{") and '"_aws"' in line]


# ---- nothing secret ----------------------------------------------------------------------------
TIMELINE_FIELDS = {
    "created": {"trigger"},
    "message-sent": {"channel", "slot"},
    "opened": set(),
    "started": {"attemptId"},
    "back-from-bank": {"attemptId", "outcome", "reason", "reportedBy"},
    "verified": {"result"},
    "ended": {"status"},
}


@pytest.mark.parametrize("partner", ["mx", "plaid"])
def test_the_timeline_holds_no_secret_link_or_contact(
    api, dwolla, browser, functions, frozen, partner
):
    exchange = dwolla.seed_exchange(partner)
    _, session, _ = api.create(exchange["id"])
    _sent(functions, session["id"], ("email", 0, T0), ("sms", 0, T0))
    browser.get(session["startUrl"])
    started = browser.click_start(session["startUrl"])
    frozen.advance(minutes=1)
    if partner == "mx":
        browser.get(browser.visit_bank(bank_url(started), "TEMPORARY_ERROR"))
    _, body, _ = api.session(session["id"])
    item = _request_item(functions, session["id"])

    secrets = {
        "link key": query_of(session["startUrl"])["key"][0],
        "start URL": session["startUrl"],
        "handoff": session["handoff"].get("url") or session["handoff"]["token"],
        "set cookie": header(started, "set-cookie").split(";", 1)[0].split("=", 1)[1],
        **{
            f"{name} of {aid}": value["S"]
            for aid, attempt in item["attempts"]["M"].items()
            for name, value in attempt["M"].items()
            if name in ("bindingHash", "renderHash", "handoffUrl", "handoffToken")
        },
    }
    text = json.dumps(body["timeline"])
    for name, secret in secrets.items():
        assert secret not in text, name
    assert "http" not in text and "@" not in text  # no URL, no address
    for step in body["timeline"]:
        assert set(step) - {"at", "step"} == TIMELINE_FIELDS[step["step"]], step


def test_a_start_counts_in_attempts_started_in_total_and_by_channel(
    api, dwolla, browser, functions, frozen, capsys
):
    session = _create(api, dwolla)
    _sent(functions, session["id"], ("sms", 0, T0))
    capsys.readouterr()

    browser.click_start(session["startUrl"])

    started = [
        line.get("Channel")
        for line in map(json.loads, _emf(capsys.readouterr().out))
        if "AttemptsStarted" in line
    ]
    assert sorted(started, key=str) == [None, "sms"]  # the total, and by the first message
