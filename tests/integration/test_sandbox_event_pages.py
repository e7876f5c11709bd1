"""The sandbox's means to test the catch-up over real HTTP: a fault on one page of `GET /events`
(the `query` of a fault), answered with Dwolla's error body, and events written at one instant."""

import uuid

import requests

from tests.support.constants import DWOLLA_KEY, DWOLLA_SECRET

HAL = "application/vnd.dwolla.v1.hal+json"


def _events_page(base_url: str, offset: int) -> requests.Response:
    token = requests.post(
        f"{base_url}/token",
        auth=(DWOLLA_KEY, DWOLLA_SECRET),
        data={"grant_type": "client_credentials"},
        timeout=10,
    ).json()["access_token"]
    return requests.get(
        f"{base_url}/events?limit=2&offset={offset}",
        headers={"Accept": HAL, "Authorization": f"Bearer {token}"},
        timeout=10,
    )


def _add_events(base_url: str, count: int) -> list[dict]:
    batch = [{"topic": "customer_created", "resourceId": str(uuid.uuid4())} for _ in range(count)]
    answer = requests.post(f"{base_url}/_admin/events", json=batch, timeout=10)
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_a_fault_with_a_query_answers_only_that_page_with_dwollas_body(sandbox, dwolla):
    _add_events(sandbox.base_url, 4)
    dwolla.inject_fault("/events", method="GET", times=5, query={"offset": "2"}, status=429)

    first, second = _events_page(sandbox.base_url, 0), _events_page(sandbox.base_url, 2)

    assert first.status_code == 200 and len(first.json()["_embedded"]["events"]) == 2
    assert second.status_code == 429 and second.headers["Retry-After"] == "1"
    assert second.json() == {  # components/schemas/TooManyRequestsError
        "code": "TooManyRequests",
        "message": "Please wait a short period of time before re-attempting the request.",
    }


def test_events_written_in_one_call_share_a_created_and_list_newest_first(sandbox, dwolla):
    written = _add_events(sandbox.base_url, 3)

    listed = _events_page(sandbox.base_url, 0).json()["_embedded"]["events"]

    assert len({event["created"] for event in written}) == 1
    assert [event["id"] for event in listed] == [written[2]["id"], written[1]["id"]]
